// /readyz (API.md "Operations"): worked out in the background, answered from memory.
#include "api/detail/server_impl.hpp"

#include "domain/time.hpp"

namespace dealerline::api {

// What /readyz says, worked out every half second off the request path (a probe that asked
// PostgreSQL itself would open a connection per call and hang with it).
void server::impl::refresh_readiness() {
    const auto head = log.head_position();
    bool ready = true;
    json::object log_state{{"open", true}, {"head", head}};
    const auto failure = log.failure();
    if (failure) {
        // Appends are refused until a restart: not ready, and why.
        log_state["open"] = false;
        log_state["error"] = *failure;
        ready = false;
        if (!std::exchange(log_failure_told, true))
            spdlog::critical("event log failed, appends are refused until a restart: {}", *failure);
    }
    const auto space = log.space();
    if (space.floor > 0) {
        log_state["free_bytes"] = space.free_bytes;
        log_state["min_free_bytes"] = space.floor;
        if (space.low()) {
            // Appends are refused until space returns (no restart needed).
            log_state["disk"] = "free space " + std::to_string(space.free_bytes) + " bytes is under the floor of " +
                                std::to_string(space.floor) + " (--min-free-bytes): appends are refused";
            ready = false;
        }
    }
    if (space.low() != space_low_told) {
        space_low_told = space.low();
        if (space_low_told)
            spdlog::error("event log's disk has {} bytes free, under --min-free-bytes {}: appends are refused until space returns",
                          space.free_bytes, space.floor);
        else
            spdlog::info("event log's disk has {} bytes free again: appends resume", space.free_bytes);
    }
    stats.log_state(failure.has_value(), space.free_bytes, space.low());
    json::object body{{"log", std::move(log_state)}};
    if (reads) {
        auto checked = reads->position("portal_orders");
        body["postgres"] = checked ? "ok" : checked.error().message;
        ready = ready && checked.has_value();
    } else if (!options.postgres.empty()) {
        auto checked = projections::read_status(options.postgres, head);
        body["postgres"] = checked ? "ok" : checked.error().message;
        ready = ready && checked.has_value();
    }
    if (runner) {
        json::array list;
        for (const auto& s : runner->statuses()) {
            const bool ok = s.state != "failed" && s.lag_events <= options.ready_max_lag;
            ready = ready && ok;
            json::object p{{"name", s.name}, {"position", s.position}, {"lag_events", s.lag_events}, {"state", s.state}};
            if (s.failed_position) {
                p["failed_position"] = *s.failed_position;
                p["error"] = s.error;
            }
            list.emplace_back(std::move(p));
        }
        body["projections"] = std::move(list);
    }
    json::object live{{"position", hub.position()}, {"connections", live_connections.load()}, {"errors", hub.errors()}};
    if (auto problem = hub.problem(); !problem.empty()) {
        live["error"] = problem;
        ready = false;
    }
    body["live"] = std::move(live);
    if (!options.background.empty()) {
        json::array list;
        for (const auto& c : options.background) {
            const auto h = c.health();
            json::object one{{"name", c.name}, {"ok", h.problem.empty()}, {"errors", h.errors}};
            if (!h.problem.empty()) one["error"] = h.problem;
            ready = ready && h.problem.empty();
            stats.component_errors(c.name, h.errors);
            list.emplace_back(std::move(one));
        }
        body["background"] = std::move(list);
    }
    body["checked_at"] = domain::iso8601(std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    stats.component_errors("live", hub.errors());
    std::lock_guard lock(ready_m);
    ready_body = std::move(body);
    ready_now = ready;
}

response server::impl::readiness(bool keep_alive) {
    json::value body;
    bool ready = false;
    {
        std::lock_guard lock(ready_m);
        body = ready_body;
        ready = ready_now && !stopping;
    }
    if (auto* o = body.if_object()) (*o)["ready"] = ready;
    return json_response(ready ? http::status::ok : http::status::service_unavailable, body, keep_alive);
}

}  // namespace dealerline::api
