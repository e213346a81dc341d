// What the crash child appends for a command id, so that the parent can rebuild the exact bytes.
#pragma once

#include <string>

#include "storage/event_log.hpp"

namespace dealerline::testing {

// 1 to 3 events, depending on the id; the stream depends on the id too.
inline std::uint32_t crash_event_count(const std::string& id) {
    return static_cast<std::uint32_t>(1 + std::hash<std::string>{}(id) % 3);
}

inline std::string crash_event_data(const std::string& id, std::uint32_t i) {
    return R"({"command":")" + id + R"(","index":)" + std::to_string(i) + R"(,"pad":")" + std::string(200, 'p') + "\"}";
}

inline storage::append_request crash_append(const std::string& id) {
    storage::append_request r;
    r.command_id = id;
    r.actor = "system:crash-test";
    r.correlation_id = id;
    storage::stream_write w;
    w.stream = "crash-" + std::to_string(std::hash<std::string>{}(id) % 7);
    for (std::uint32_t i = 0; i < crash_event_count(id); ++i) w.events.push_back({"CrashTested", 1, crash_event_data(id, i), "{}"});
    r.writes.push_back(std::move(w));
    return r;
}

}  // namespace dealerline::testing
