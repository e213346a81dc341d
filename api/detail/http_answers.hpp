// What every part of the server speaks: Beast's request and response, the JSON error shape of
// API.md, and an `answer` (status and body) before it becomes an HTTP response or a websocket
// reply. Internal to api/ (its .cpp files only; Beast stays out of every other folder).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/beast/http.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "api/auth.hpp"
#include "commands/handler.hpp"
#include "storage/event_log.hpp"

namespace dealerline::api {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
using steady = std::chrono::steady_clock;

inline std::int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

constexpr std::size_t max_bulk_commands = 1000;

// An answer before it becomes an HTTP response or a websocket reply.
struct answer {
    http::status status = http::status::ok;
    json::value body;
};

response json_response(http::status status, const json::value& body, bool keep_alive);
// API.md: every error body is {"error", "code", "message"}.
response error_response(http::status status, std::string_view error, std::string_view code, std::string_view message,
                        bool keep_alive);
response to_response(answer a, bool keep_alive);
answer error_answer(http::status status, std::string_view error, std::string_view code, std::string_view message);
answer too_many();
// A command's failure as HTTP: its status and `error` word.
http::status status_of(commands::failure::kind k);
std::string_view error_of(commands::failure::kind k);
// A stored event as the raw-event endpoints show it.
json::object event_json(const storage::recorded_event& e);
// The token of "Authorization: Bearer <token>", or empty.
std::string_view bearer_token(const request& req);
// The rate limiter's bucket of a token: role, subject and dealer.
std::string rate_key(const token_claims& who);

}  // namespace dealerline::api
