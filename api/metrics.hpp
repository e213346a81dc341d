// /metrics (API.md "Operations"): Prometheus text, via prometheus-cpp, which stays in metrics.cpp.
// Labels are bounded sets (command types, outcomes, projection names, status codes): never a
// dealer id.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "projections/projections.hpp"

namespace dealerline::api {

class metrics {
public:
    metrics();
    ~metrics();
    metrics(const metrics&) = delete;
    metrics& operator=(const metrics&) = delete;

    // One command: its type ("unknown" when it could not be parsed), how it ended ("ok",
    // "duplicate", "rejected", "forbidden", "not_found", "conflict", "unavailable",
    // "bad_request", "unauthorized"), how long until answered, and the events it appended.
    void command(std::string_view type, std::string_view outcome, double seconds, std::size_t events);
    void request(unsigned status);
    void connections(std::size_t open);
    // The live feed: open websockets, messages and bytes sent, slow clients closed.
    void live_connections(std::size_t open);
    void live_sent(std::size_t bytes);
    void live_dropped_slow();
    void rate_limited();
    // An exception caught by a last-resort handler of this process's `component` ("api", …).
    void internal_error(std::string_view component);
    // A background component's errors so far (it counts them itself; this reports the total).
    void component_errors(const std::string& component, std::uint64_t total);
    // The log: failed (refusing appends until a restart), its disk's free bytes, under the floor.
    void log_state(bool failed, std::uint64_t free_bytes, bool space_low);

    // The text exposition, with the log's head and the projections as they are now.
    [[nodiscard]] std::string render(std::uint64_t head, const std::vector<projections::status>&);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace dealerline::api
