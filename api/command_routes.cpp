// Commands: strict parsing, the handler, and the answer (API.md "Commands"); bulk requests.
#include "api/detail/server_impl.hpp"

#include "api/detail/command_input.hpp"
#include "domain/codec.hpp"

namespace dealerline::api {

using detail::parse_command_request;

// One command, from POST /api/commands or a websocket: parse strictly, run, answer.
tl::expected<server::impl::prepared, answer> server::impl::prepare(const token_claims& who, const json::value& body,
                                                                   std::string_view correlation_id) {
    const auto started = steady::now();
    auto parsed = parse_command_request(body);
    if (!parsed) {
        stats.command("unknown", "bad_request", std::chrono::duration<double>(steady::now() - started).count(), 0);
        return tl::unexpected(error_answer(http::status::bad_request, "bad_request", parsed.error().code, parsed.error().message));
    }
    if (stopping)
        return tl::unexpected(error_answer(http::status::service_unavailable, "unavailable", "shutting_down", "the server is stopping"));
    command_note note{parsed->command_id, std::string(domain::codec::command_type(parsed->command)), started};
    return prepared{commands::envelope{std::move(parsed->command_id), std::move(parsed->command), who.actor(),
                                       parsed->expected_version, std::string(correlation_id.substr(0, 128))},
                    std::move(note)};
}

answer server::impl::answer_of(const command_note& p, const commands::result<commands::outcome>& outcome) {
    stats.command(p.type, outcome ? (outcome->duplicate ? "duplicate" : "ok") : error_of(outcome.error().what),
                  std::chrono::duration<double>(steady::now() - p.started).count(),
                  outcome && !outcome->duplicate ? outcome->positions.size() : 0);
    if (!outcome) return error_answer(status_of(outcome.error().what), error_of(outcome.error().what), outcome.error().code, outcome.error().message);
    json::array positions, events;
    for (auto position : outcome->positions) positions.emplace_back(position);
    for (const auto& e : outcome->events) events.emplace_back(e);
    return {http::status::ok, json::object{{"command_id", p.command_id},
                                           {"stream", outcome->stream},
                                           {"version", outcome->version},
                                           {"positions", std::move(positions)},
                                           {"events", std::move(events)},
                                           {"duplicate", outcome->duplicate}}};
}

answer server::impl::execute(const token_claims& who, const json::value& body, std::string_view correlation_id) {
    auto p = prepare(who, body, correlation_id);
    if (!p) return std::move(p.error());
    return answer_of(p->note, handler.handle(p->env));
}

response server::impl::handle_bulk(const token_claims& who, const json::array& many, const request& req) {
    const bool keep_alive = req.keep_alive();
    // In bulk (the accounting sync): an array of commands, run in order, each answered as alone;
    // one refused does not stop the others. 200 with every result.
    if (many.empty() || many.size() > max_bulk_commands)
        return error_response(http::status::bad_request, "bad_request", "bad_request",
                              "a bulk request holds 1 to " + std::to_string(max_bulk_commands) + " commands", keep_alive);
    // Not a list of commands at all: refused whole, before anything runs.
    for (std::size_t i = 0; i < many.size(); ++i)
        if (!many[i].is_object())
            return error_response(http::status::bad_request, "bad_request", "bad_request",
                                  "the body must be a JSON object, or an array of them (element " + std::to_string(i) + " is not)",
                                  keep_alive);
    // One rate token per command: the request was admitted with one, the rest are taken now,
    // all or none (a bulk larger than the token's burst never fits: send smaller ones).
    if (many.size() > 1 && !limiter.allow(rate_key(who), static_cast<double>(many.size() - 1))) {
        stats.rate_limited();
        auto res = error_response(http::status::too_many_requests, "rate_limited", "rate_limited",
                                  "a bulk of " + std::to_string(many.size()) +
                                      " commands needs as many rate tokens; this token has fewer now: send smaller bulks or wait",
                                  keep_alive);
        res.set(http::field::retry_after, "1");
        return res;
    }
    json::array results;
    for (const auto& one : many) {
        auto a = execute(who, one, req["X-Correlation-Id"]);
        json::object r = a.body.is_object() ? std::move(a.body.get_object()) : json::object{};
        r["status"] = static_cast<unsigned>(a.status);
        results.emplace_back(std::move(r));
    }
    return json_response(http::status::ok, json::object{{"results", std::move(results)}}, keep_alive && !stopping);
}

tl::expected<token_claims, answer> server::impl::authenticate(std::string_view token) {
    if (token.empty())
        return tl::unexpected(error_answer(http::status::unauthorized, "unauthorized", "missing_token", "send Authorization: Bearer <token>"));
    auto claims = verify_token(options.jwt_secret, token, unix_seconds());
    if (!claims) return tl::unexpected(error_answer(http::status::unauthorized, "unauthorized", claims.error().code, claims.error().message));
    return *claims;
}

}  // namespace dealerline::api
