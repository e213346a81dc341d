// Commands: strict parsing, the handler, and the answer (API.md "Commands"); bulk requests.
#include <boost/json/array.hpp>

#include "api/detail/command_input.hpp"
#include "api/detail/routes.hpp"
#include "domain/codec.hpp"

namespace dealerline::api {

namespace {

using steady = std::chrono::steady_clock;

double seconds_since(steady::time_point started) { return std::chrono::duration<double>(steady::now() - started).count(); }

}  // namespace

tl::expected<prepared_command, answer> prepare_command(const route_context& ctx, const token_claims& who, const json::value& body,
                                                       std::string_view correlation_id) {
    const auto started = steady::now();
    auto parsed = detail::parse_command_request(body);
    if (!parsed) {
        ctx.stats.command("unknown", "bad_request", seconds_since(started), 0);
        return tl::unexpected(error_answer(http_status::bad_request, "bad_request", parsed.error().code, parsed.error().message));
    }
    if (ctx.stopping)
        return tl::unexpected(error_answer(http_status::service_unavailable, "unavailable", "shutting_down", "the server is stopping"));
    command_note note{parsed->command_id, std::string(domain::codec::command_type(parsed->command)), started};
    return prepared_command{commands::envelope{std::move(parsed->command_id), std::move(parsed->command), who.actor(),
                                               parsed->expected_version, std::string(correlation_id.substr(0, 128))},
                            std::move(note)};
}

answer command_answer(const route_context& ctx, const command_note& p, const commands::result<commands::outcome>& outcome) {
    ctx.stats.command(p.type, outcome ? (outcome->duplicate ? "duplicate" : "ok") : error_of(outcome.error().what), seconds_since(p.started),
                      outcome && !outcome->duplicate ? outcome->positions.size() : 0);
    if (!outcome) return error_answer(status_of(outcome.error().what), error_of(outcome.error().what), outcome.error().code, outcome.error().message);
    json::array positions, events;
    for (auto position : outcome->positions) positions.emplace_back(position);
    for (const auto& e : outcome->events) events.emplace_back(e);
    return {http_status::ok,
            json::object{{"command_id", p.command_id},
                         {"stream", outcome->stream},
                         {"version", outcome->version},
                         {"positions", std::move(positions)},
                         {"events", std::move(events)},
                         {"duplicate", outcome->duplicate}},
            {},
            {}};
}

answer execute_command(const route_context& ctx, const token_claims& who, const json::value& body, std::string_view correlation_id) {
    auto p = prepare_command(ctx, who, body, correlation_id);
    if (!p) return std::move(p.error());
    return command_answer(ctx, p->note, ctx.handler.handle(p->env));
}

answer bulk_commands(const route_context& ctx, const token_claims& who, const json::array& many, std::string_view correlation_id) {
    // In bulk (the accounting sync): an array of commands, run in order, each answered as alone;
    // one refused does not stop the others. 200 with every result.
    if (many.empty() || many.size() > max_bulk_commands)
        return error_answer(http_status::bad_request, "bad_request", "bad_request",
                            "a bulk request holds 1 to " + std::to_string(max_bulk_commands) + " commands");
    // Not a list of commands at all: refused whole, before anything runs.
    for (std::size_t i = 0; i < many.size(); ++i)
        if (!many[i].is_object())
            return error_answer(http_status::bad_request, "bad_request", "bad_request",
                                "the body must be a JSON object, or an array of them (element " + std::to_string(i) + " is not)");
    // One rate token per command: the request was admitted with one, the rest are taken now,
    // all or none (a bulk larger than the token's burst never fits: send smaller ones).
    if (many.size() > 1 && !ctx.limiter.allow(rate_key(who), static_cast<double>(many.size() - 1))) {
        ctx.stats.rate_limited();
        return error_answer(http_status::too_many_requests, "rate_limited", "rate_limited",
                            "a bulk of " + std::to_string(many.size()) +
                                " commands needs as many rate tokens; this token has fewer now: send smaller bulks or wait");
    }
    json::array results;
    for (const auto& one : many) {
        auto a = execute_command(ctx, who, one, correlation_id);
        json::object r = a.body.is_object() ? std::move(a.body.get_object()) : json::object{};
        r["status"] = static_cast<unsigned>(a.status);
        results.emplace_back(std::move(r));
    }
    return {http_status::ok, json::object{{"results", std::move(results)}}, {}, {}};
}

}  // namespace dealerline::api
