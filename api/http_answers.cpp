#include "api/detail/http_answers.hpp"

#include <boost/json/serialize.hpp>

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

std::string_view bearer_token(const request& req) {
    constexpr std::string_view bearer = "Bearer ";
    const auto auth = req[http::field::authorization];
    if (!auth.starts_with(bearer)) return {};
    return {auth.data() + bearer.size(), auth.size() - bearer.size()};
}

response to_response(answer a, bool keep_alive) {
    response res{static_cast<http::status>(a.status), 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    for (auto& [name, value] : a.headers) res.set(name, std::move(value));
    if (a.status == http_status::too_many_requests) res.set(http::field::retry_after, "1");
    res.keep_alive(keep_alive);
    res.body() = a.text.empty() ? json::serialize(a.body) : std::move(a.text);
    res.prepare_payload();
    return res;
}

}  // namespace dealerline::api
