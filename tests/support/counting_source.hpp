// A real event source that counts how often it is read: tells which source a consumer reads
// through (the live hub, the process managers and the projections must all take theirs from
// configuration, so that a NATS source can stand in for the log's tail).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "storage/event_source.hpp"

namespace dealerline::testing {

class counting_source final : public storage::event_source {
public:
    explicit counting_source(storage::event_source& inner) : inner_(inner) {}
    storage::result<std::vector<storage::recorded_event>> read_after(std::uint64_t after, std::size_t max,
                                                                     std::chrono::milliseconds wait) override {
        ++reads;
        return inner_.read_after(after, max, wait);
    }
    std::uint64_t head() const override { return inner_.head(); }

    std::atomic<std::uint64_t> reads{0};

private:
    storage::event_source& inner_;
};

}  // namespace dealerline::testing
