#include "api/detail/answer.hpp"

#include <boost/json/parse.hpp>

#include "domain/time.hpp"

namespace dealerline::api {

answer json_text(std::string text) {
    answer a;
    a.text = std::move(text);
    return a;
}

answer error_answer(http_status status, std::string_view error, std::string_view code, std::string_view message) {
    return {status, json::object{{"error", error}, {"code", code}, {"message", message}}, {}, {}};
}

answer too_many() {
    return error_answer(http_status::too_many_requests, "rate_limited", "rate_limited", "too many requests for this token; slow down");
}

http_status status_of(commands::failure::kind k) {
    using kind = commands::failure::kind;
    switch (k) {
        case kind::rejected: return http_status::unprocessable_entity;
        case kind::forbidden: return http_status::forbidden;
        case kind::not_found: return http_status::not_found;
        case kind::conflict: return http_status::conflict;
        case kind::unavailable: return http_status::service_unavailable;
    }
    return http_status::internal_server_error;
}

std::string_view error_of(commands::failure::kind k) {
    using kind = commands::failure::kind;
    switch (k) {
        case kind::rejected: return "rejected";
        case kind::forbidden: return "forbidden";
        case kind::not_found: return "not_found";
        case kind::conflict: return "conflict";
        case kind::unavailable: return "unavailable";
    }
    return "internal";
}

json::object event_json(const storage::recorded_event& e) {
    auto parsed = [](const std::string& text) -> json::value {
        if (text.empty()) return nullptr;
        boost::system::error_code ec;
        auto v = json::parse(text, ec);
        return ec ? json::value(text) : v;
    };
    return json::object{{"position", e.position},
                        {"stream", e.stream},
                        {"version", e.version},
                        {"type", e.type},
                        {"schema_version", e.schema_version},
                        {"recorded_at", domain::iso8601(e.recorded_at_us)},
                        {"actor", e.actor},
                        {"command_id", e.command_id},
                        {"correlation_id", e.correlation_id},
                        {"data", parsed(e.data)},
                        {"metadata", parsed(e.metadata)},
                        {"hash", storage::to_hex(e.hash)}};
}

}  // namespace dealerline::api
