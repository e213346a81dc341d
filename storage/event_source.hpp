// Where consumers (projections, the live feed) get committed events from: the log itself when
// everything runs in one process, NATS JetStream when the writer runs elsewhere. Both fit this
// pull interface: "give me what comes after position p, waiting a little if there is nothing".
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

#include "storage/event_log.hpp"

namespace dealerline::storage {

class event_source {
public:
    virtual ~event_source() = default;
    // Up to `max` events with positions after `after`, in order, without gaps. Waits up to `wait`
    // when none is there yet; an empty vector means none arrived in time.
    [[nodiscard]] virtual result<std::vector<recorded_event>> read_after(std::uint64_t after, std::size_t max,
                                                                         std::chrono::milliseconds wait) = 0;
    // The newest committed position known to this source.
    [[nodiscard]] virtual std::uint64_t head() const = 0;
};

// The embedded source: tails the log in this process.
class local_event_source final : public event_source {
public:
    explicit local_event_source(const event_log& log) noexcept : log_(log) {}
    [[nodiscard]] result<std::vector<recorded_event>> read_after(std::uint64_t after, std::size_t max,
                                                                 std::chrono::milliseconds wait) override;
    [[nodiscard]] std::uint64_t head() const override { return log_.head_position(); }

private:
    const event_log& log_;
};

// A source for a process that only reads a log another process writes (`projections run`,
// `projections rebuild` beside `serve`): a read-only follower of the log that catches up with the
// writer whenever it runs out of events. Safe to share between threads.
class following_event_source final : public event_source {
public:
    explicit following_event_source(event_log& follower) noexcept : log_(follower) {}
    [[nodiscard]] result<std::vector<recorded_event>> read_after(std::uint64_t after, std::size_t max,
                                                                 std::chrono::milliseconds wait) override;
    [[nodiscard]] std::uint64_t head() const override { return log_.head_position(); }
    // Catches up now; returns the new head.
    result<std::uint64_t> catch_up();

private:
    event_log& log_;
    std::mutex catching_up_;
};

}  // namespace dealerline::storage
