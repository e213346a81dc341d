// Every endpoint of the API as one row of one table, and what each answers: request fields in, an
// `answer` out. No Beast and no socket here: server.cpp matches a request against the table,
// admits it, and turns the answer into HTTP; tests call the route functions directly.
// Internal to api/.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <tl/expected.hpp>

#include "api/auth.hpp"
#include "api/detail/answer.hpp"
#include "api/detail/rate_limiter.hpp"
#include "api/detail/request_input.hpp"
#include "api/metrics.hpp"
#include "commands/handler.hpp"
#include "projections/projections.hpp"
#include "projections/queries.hpp"
#include "storage/event_log.hpp"

namespace dealerline::api {

// What the route functions work with; the server owns each part.
struct route_context {
    const storage::event_log& log;
    commands::handler& handler;
    projections::queries* reads;         // null: no read models in this process
    const projections::runner* runner;   // null: nothing to wait for (min_position)
    api::metrics& stats;
    rate_limiter& limiter;
    const std::atomic<bool>& stopping;
};

// A query as its route function sees it: who asks (admitted: a valid token within its rate),
// the path without the query string, and the query's parameters (already checked for shape).
struct query_input {
    token_claims who;
    std::string path;
    detail::query_params params;
};
using query_function = answer (*)(const route_context&, const query_input&);

// What the server does with a request that matches a row.
enum class route_kind {
    health,     // GET /healthz
    page,       // the portal's page
    metrics,    // Prometheus text
    readiness,  // GET /readyz
    live,       // websocket upgrade (server.cpp checks and upgrades)
    commands,   // POST /api/commands (command functions below)
    query,      // a GET answered by `query` on the pool, after admission
};

struct route {
    std::string_view method;
    std::string_view path;  // the path, or a prefix of paths when it ends in '/'
    route_kind kind;
    bool read_model = false;        // served only when the process has read models (else 404)
    query_function query = nullptr;  // for route_kind::query
};

// The route table: one row per endpoint of docs/api.md.
[[nodiscard]] std::span<const route> route_table();
// The row for `path` (method not yet checked), or null: 404.
[[nodiscard]] const route* find_route(std::string_view path, bool have_read_models);

// The query routes (query_routes.cpp).
answer query_events(const route_context&, const query_input&);         // GET /api/events
answer query_stream(const route_context&, const query_input&);         // GET /api/streams/{stream}
answer query_account(const route_context&, const query_input&);        // GET /api/dealers/{id}/account
answer query_stock(const route_context&, const query_input&);          // GET /api/stock
answer query_subscriptions(const route_context&, const query_input&);  // GET /api/subscriptions
answer query_orders(const route_context&, const query_input&);         // GET /api/orders
answer query_order(const route_context&, const query_input&);          // GET /api/orders/{id}
answer query_claims(const route_context&, const query_input&);         // GET /api/claims
answer query_claim(const route_context&, const query_input&);          // GET /api/claims/{id}

// The command routes (command_routes.cpp): POST /api/commands and commands over a live socket.
constexpr std::size_t max_bulk_commands = 1000;
// What the answer to a command needs once the handler has taken the command itself.
struct command_note {
    std::string command_id, type;
    std::chrono::steady_clock::time_point started;
};
// A command parsed strictly and ready for the handler, or the answer refusing it.
struct prepared_command {
    commands::envelope env;
    command_note note;
};
tl::expected<prepared_command, answer> prepare_command(const route_context&, const token_claims& who, const json::value& body,
                                                       std::string_view correlation_id);
answer command_answer(const route_context&, const command_note&, const commands::result<commands::outcome>&);
// One command, waiting for it (bulk requests, websocket messages: on the pool).
answer execute_command(const route_context&, const token_claims& who, const json::value& body, std::string_view correlation_id);
// An array of commands (the accounting sync), run in order, each answered as alone.
answer bulk_commands(const route_context&, const token_claims& who, const json::array& many, std::string_view correlation_id);

}  // namespace dealerline::api
