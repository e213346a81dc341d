#include "api/detail/http_answers.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "domain/time.hpp"

namespace dealerline::api {

response json_response(http::status status, const json::value& body, bool keep_alive) {
    response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(keep_alive);
    res.body() = json::serialize(body);
    res.prepare_payload();
    return res;
}

response error_response(http::status status, std::string_view error, std::string_view code, std::string_view message,
                        bool keep_alive) {
    return json_response(status, json::object{{"error", error}, {"code", code}, {"message", message}}, keep_alive);
}

http::status status_of(commands::failure::kind k) {
    using kind = commands::failure::kind;
    switch (k) {
        case kind::rejected: return http::status::unprocessable_entity;
        case kind::forbidden: return http::status::forbidden;
        case kind::not_found: return http::status::not_found;
        case kind::conflict: return http::status::conflict;
        case kind::unavailable: return http::status::service_unavailable;
    }
    return http::status::internal_server_error;
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

std::string rate_key(const token_claims& who) {
    return std::string(domain::to_string(who.role)) + '\n' + who.subject + '\n' + who.dealer_id;
}

answer error_answer(http::status status, std::string_view error, std::string_view code, std::string_view message) {
    return {status, json::object{{"error", error}, {"code", code}, {"message", message}}};
}

answer too_many() {
    return error_answer(http::status::too_many_requests, "rate_limited", "rate_limited", "too many requests for this token; slow down");
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

std::string_view bearer_token(const request& req) {
    constexpr std::string_view bearer = "Bearer ";
    const auto auth = req[http::field::authorization];
    if (!auth.starts_with(bearer)) return {};
    return {auth.data() + bearer.size(), auth.size() - bearer.size()};
}

response to_response(answer a, bool keep_alive) {
    auto res = json_response(a.status, a.body, keep_alive);
    if (a.status == http::status::too_many_requests) res.set(http::field::retry_after, "1");
    return res;
}

}  // namespace dealerline::api
