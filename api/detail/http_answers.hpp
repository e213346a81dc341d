// What the Beast side of the server speaks: Beast's request and response, and a route's
// `answer` (detail/answer.hpp) turned into one. Internal to api/ (its .cpp files only; Beast
// stays out of every other folder).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "api/auth.hpp"
#include "api/detail/answer.hpp"
#include "commands/handler.hpp"
#include "storage/event_log.hpp"

namespace dealerline::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
using steady = std::chrono::steady_clock;

inline std::int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

response json_response(http::status status, const json::value& body, bool keep_alive);
// API.md: every error body is {"error", "code", "message"}.
response error_response(http::status status, std::string_view error, std::string_view code, std::string_view message,
                        bool keep_alive);
// A route's answer as HTTP: its status, body and headers (and Retry-After with a 429).
response to_response(answer a, bool keep_alive);
// The token of "Authorization: Bearer <token>", or empty.
std::string_view bearer_token(const request& req);

}  // namespace dealerline::api
