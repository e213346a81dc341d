// What a route answers, before it becomes an HTTP response or a websocket reply: a status, a JSON
// body and the headers it adds. No Beast: route functions build these and tests read them
// without a socket. Internal to api/.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "commands/handler.hpp"
#include "storage/event_log.hpp"

namespace dealerline::api {

namespace json = boost::json;

// The HTTP statuses the API answers with (docs/api.md); the numbers are HTTP's.
enum class http_status : unsigned {
    ok = 200,
    switching_protocols = 101,
    bad_request = 400,
    unauthorized = 401,
    forbidden = 403,
    not_found = 404,
    method_not_allowed = 405,
    conflict = 409,
    payload_too_large = 413,
    unprocessable_entity = 422,
    upgrade_required = 426,
    too_many_requests = 429,
    header_fields_too_large = 431,
    internal_server_error = 500,
    service_unavailable = 503,
};

struct answer {
    http_status status = http_status::ok;
    json::value body;
    // The body as JSON text already (the read models answer so); when set, `body` is unused.
    std::string text;
    std::vector<std::pair<std::string, std::string>> headers;  // e.g. X-Projection-Position
};

// 200 with JSON text as it came from a read model.
answer json_text(std::string text);
// API.md: every error body is {"error", "code", "message"}.
answer error_answer(http_status status, std::string_view error, std::string_view code, std::string_view message);
answer too_many();
// A command's failure as HTTP: its status and `error` word.
http_status status_of(commands::failure::kind k);
std::string_view error_of(commands::failure::kind k);
// A stored event as the raw-event endpoints show it.
json::object event_json(const storage::recorded_event& e);

}  // namespace dealerline::api
