// The GET endpoints over the read models and the log (API.md "Queries"): one function per row of
// the route table. Orders, claims, accounts and subscriptions are dealer-scoped for dealer tokens;
// raw events and streams are for auditors and admins.
#include <algorithm>
#include <set>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "api/detail/routes.hpp"

namespace dealerline::api {

namespace {

using detail::unsigned_of;
using steady = std::chrono::steady_clock;

answer bad(const std::string& message) { return error_answer(http_status::bad_request, "bad_request", "bad_request", message); }
answer forbidden(const std::string& message) { return error_answer(http_status::forbidden, "forbidden", "forbidden", message); }
answer not_found(const std::string& message) { return error_answer(http_status::not_found, "not_found", "not_found", message); }
answer unavailable(const std::string& message) {
    return error_answer(http_status::service_unavailable, "unavailable", "read_models_unavailable", message);
}

// The query's parameters as the endpoints read them.
struct args {
    const detail::query_params& params;

    [[nodiscard]] std::optional<std::string> get(const char* key) const {
        auto it = params.find(key);
        return it == params.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    // The first parameter the endpoint does not take, as an error.
    [[nodiscard]] std::optional<std::string> unknown_besides(std::initializer_list<std::string_view> keys) const {
        for (const auto& [key, _] : params)
            if (std::find(keys.begin(), keys.end(), key) == keys.end()) return "unknown parameter " + key;
        return std::nullopt;
    }
    [[nodiscard]] std::optional<std::size_t> limit(std::size_t fallback, std::size_t max) const {
        auto text = get("limit");
        if (!text) return fallback;
        const auto n = unsigned_of(*text);
        if (!n || *n < 1 || *n > max) return std::nullopt;
        return static_cast<std::size_t>(*n);
    }
    // The next_cursor of a previous page (numeric cursors), or the 400 for a bad one.
    [[nodiscard]] tl::expected<std::optional<std::uint64_t>, answer> cursor() const {
        auto c = get("cursor");
        if (!c) return std::nullopt;
        auto n = unsigned_of(*c);
        if (!n) return tl::unexpected(bad("cursor: expected the next_cursor of a previous page"));
        return n;
    }
};

// Read your own writes: wait (bounded) for the read models to reach min_position.
std::optional<answer> wait_for_min(const route_context& ctx, const args& a) {
    auto min = a.get("min_position");
    if (!min) return std::nullopt;
    const auto wanted = unsigned_of(*min);
    if (!wanted) return bad("min_position: expected a non-negative integer");
    // Beyond the head nothing can come within the wait: say so at once, holding no thread.
    if (const auto head = ctx.log.head_position(); *wanted > head)
        return bad("min_position: the log has no position " + *min + " yet (its head is " + std::to_string(head) + ")");
    if (ctx.runner) (void)ctx.runner->wait_for(*wanted, steady::now() + std::chrono::seconds(5));
    return std::nullopt;
}

// Every read-model answer says how far its projection has read.
answer at_position(const route_context& ctx, const char* projection, answer a) {
    auto at = ctx.reads->position(projection);
    if (!at) return unavailable(at.error().message);
    a.headers.emplace_back("X-Projection-Position", std::to_string(*at));
    return a;
}

// The dealer a query is about: a dealer token's own (asking for another is 403), else the
// `dealer_id` parameter if any.
tl::expected<std::optional<std::string>, answer> dealer_scope(const token_claims& who, const args& a) {
    std::optional<std::string> scope = a.get("dealer_id");
    if (who.role == domain::role::dealer) {
        if (scope && *scope != who.dealer_id) return tl::unexpected(forbidden("a dealer sees only its own data"));
        scope = who.dealer_id;
    }
    return scope;
}

bool reads_raw_events(const token_claims& who) { return who.role == domain::role::auditor || who.role == domain::role::admin; }

answer with_log_head(const route_context& ctx, const json::object& out) {
    auto a = json_text(json::serialize(out));
    a.headers.emplace_back("X-Log-Head", std::to_string(ctx.log.head_position()));
    return a;
}

// Orders and claims: a page of them, or one.
enum class listed { orders, claims };

answer list_of(const route_context& ctx, const query_input& in, listed what) {
    const args a{in.params};
    const auto cursor = a.cursor();
    if (!cursor) return cursor.error();
    const bool claims = what == listed::claims;
    if (auto wrong = claims ? a.unknown_besides({"status", "dealer_id", "order_id", "limit", "cursor", "min_position"})
                            : a.unknown_besides({"status", "dealer_id", "limit", "cursor", "min_position"}))
        return bad(*wrong);
    const auto scope = dealer_scope(in.who, a);
    if (!scope) return scope.error();
    if (auto early = wait_for_min(ctx, a)) return std::move(*early);
    auto status = a.get("status");
    if (status && status->size() > 32) return bad("status: unknown status");
    const auto limit = a.limit(50, 200);
    if (!limit) return bad("limit: expected an integer from 1 to 200");
    auto page = claims ? ctx.reads->claims({*scope, status, a.get("order_id"), *limit, *cursor})
                       : ctx.reads->orders({*scope, status, *limit, *cursor});
    if (!page) return unavailable(page.error().message);
    return at_position(ctx, claims ? "portal_claims" : "portal_orders", json_text(std::move(*page)));
}

answer one_of(const route_context& ctx, const query_input& in, listed what) {
    const args a{in.params};
    const auto cursor = a.cursor();
    if (!cursor) return cursor.error();
    if (auto wrong = a.unknown_besides({"min_position"})) return bad(*wrong);
    const auto scope = dealer_scope(in.who, a);
    if (!scope) return scope.error();
    if (auto early = wait_for_min(ctx, a)) return std::move(*early);
    const bool claims = what == listed::claims;
    const std::string prefix = claims ? "/api/claims/" : "/api/orders/";
    const std::string noun = claims ? "claim" : "order";
    const std::string_view segment = std::string_view(in.path).substr(prefix.size());
    if (segment.find('/') != std::string_view::npos) return bad("expected " + prefix + "{id}");
    const auto id = detail::path_id(segment, noun + " id");
    if (!id) return bad(id.error());
    auto one = claims ? ctx.reads->claim(*id, *scope) : ctx.reads->order(*id, *scope);
    if (!one) return unavailable(one.error().message);
    const char* projection = claims ? "portal_claims" : "portal_orders";
    // Another dealer's order or claim looks exactly like one that does not exist.
    if (!*one) return at_position(ctx, projection, not_found(noun + " " + *id + " does not exist"));
    return at_position(ctx, projection, json_text(std::move(**one)));
}

}  // namespace

answer query_events(const route_context& ctx, const query_input& in) {
    if (!reads_raw_events(in.who)) return forbidden("raw events are for auditors and admins");
    const args a{in.params};
    const auto limit = a.limit(100, 1000);
    if (!limit) return bad("limit: expected an integer from 1 to 1000");
    if (auto wrong = a.unknown_besides({"from_position", "limit", "type"})) return bad(*wrong);
    std::uint64_t from = 1;
    if (auto f = a.get("from_position")) {
        const auto n = unsigned_of(*f);
        if (!n) return bad("from_position: expected a non-negative integer");
        from = std::max<std::uint64_t>(1, *n);
    }
    std::set<std::string, std::less<>> types;
    if (auto t = a.get("type")) {
        std::string_view rest = *t;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            types.emplace(rest.substr(0, comma));
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        }
    }
    // A type filter scans at most this far per page; next_position says where to go on.
    const std::uint64_t head = ctx.log.head_position();
    const std::uint64_t scan_to = std::min(head, from + std::max<std::uint64_t>(*limit, 10'000) - 1);
    json::array list;
    std::uint64_t next = from;
    while (list.size() < *limit && next <= scan_to) {
        auto events = ctx.log.read_all(next, std::min<std::uint64_t>(1000, scan_to - next + 1));
        if (!events) return unavailable(events.error().message);
        if (events->empty()) break;
        for (const auto& e : *events) {
            next = e.position + 1;
            if (types.empty() || types.contains(e.type)) list.emplace_back(event_json(e));
            if (list.size() == *limit) break;
        }
    }
    json::object out;
    out["events"] = std::move(list);
    out["next_position"] = next <= head ? json::value(next) : json::value(nullptr);
    out["head"] = head;
    return with_log_head(ctx, out);
}

answer query_stream(const route_context& ctx, const query_input& in) {
    if (!reads_raw_events(in.who)) return forbidden("raw events are for auditors and admins");
    const args a{in.params};
    const auto limit = a.limit(100, 1000);
    if (!limit) return bad("limit: expected an integer from 1 to 1000");
    if (auto wrong = a.unknown_besides({"from_version", "limit"})) return bad(*wrong);
    const auto stream = detail::path_stream(std::string_view(in.path).substr(std::string_view("/api/streams/").size()));
    if (!stream) return bad(stream.error());
    std::uint64_t from = 1;
    if (auto f = a.get("from_version")) {
        const auto n = unsigned_of(*f);
        if (!n) return bad("from_version: expected a non-negative integer");
        from = std::max<std::uint64_t>(1, *n);
    }
    auto version = ctx.log.stream_version(*stream);
    if (!version) return unavailable(version.error().message);
    if (*version == 0) return not_found("no stream " + *stream);
    auto events = ctx.log.read_stream(*stream, from, *limit);
    if (!events) return unavailable(events.error().message);
    json::array list;
    for (const auto& e : *events) list.emplace_back(event_json(e));
    const std::uint64_t next = events->empty() ? from : events->back().version + 1;
    json::object out;
    out["stream"] = *stream;
    out["version"] = *version;
    out["events"] = std::move(list);
    out["next_version"] = next <= *version ? json::value(next) : json::value(nullptr);
    return with_log_head(ctx, out);
}

// GET /api/dealers/{id}/account: the dealer's settlements; a dealer sees its own only.
answer query_account(const route_context& ctx, const query_input& in) {
    const args a{in.params};
    const auto cursor = a.cursor();
    if (!cursor) return cursor.error();
    const std::string rest = in.path.substr(std::string_view("/api/dealers/").size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos || rest.substr(slash) != "/account" || slash == 0 || slash > 3 * 64)
        return error_answer(http_status::not_found, "not_found", "no_route", "no such path: " + in.path);
    const auto dealer_id = detail::path_id(std::string_view(rest).substr(0, slash), "dealer id");
    if (!dealer_id) return bad(dealer_id.error());
    if (auto wrong = a.unknown_besides({"limit", "cursor", "min_position"})) return bad(*wrong);
    if (in.who.role == domain::role::dealer && *dealer_id != in.who.dealer_id) return forbidden("a dealer sees only its own account");
    if (auto early = wait_for_min(ctx, a)) return std::move(*early);
    const auto limit = a.limit(50, 500);
    if (!limit) return bad("limit: expected an integer from 1 to 500");
    auto account = ctx.reads->account(*dealer_id, *limit, *cursor);
    if (!account) return unavailable(account.error().message);
    if (!*account) return at_position(ctx, "portal_finance", not_found("dealer " + *dealer_id + " has no account"));
    return at_position(ctx, "portal_finance", json_text(std::move(**account)));
}

answer query_stock(const route_context& ctx, const query_input& in) {
    if (in.who.role == domain::role::dealer) return forbidden("stock levels are for the plant's staff");
    const args a{in.params};
    if (auto wrong = a.unknown_besides({"warehouse", "sku", "limit", "cursor", "min_position"})) return bad(*wrong);
    if (auto early = wait_for_min(ctx, a)) return std::move(*early);
    const auto limit = a.limit(100, 500);
    if (!limit) return bad("limit: expected an integer from 1 to 500");
    // Stock's cursor is a key, not a number.
    auto list = ctx.reads->stock({a.get("warehouse"), a.get("sku"), *limit, a.get("cursor")});
    if (!list) return unavailable(list.error().message);
    return at_position(ctx, "portal_stock", json_text(std::move(*list)));
}

answer query_subscriptions(const route_context& ctx, const query_input& in) {
    const args a{in.params};
    const auto cursor = a.cursor();
    if (!cursor) return cursor.error();
    if (auto wrong = a.unknown_besides({"status", "dealer_id", "limit", "cursor", "min_position"})) return bad(*wrong);
    const auto owner = dealer_scope(in.who, a);
    if (!owner) return owner.error();
    if (auto early = wait_for_min(ctx, a)) return std::move(*early);
    const auto limit = a.limit(50, 200);
    if (!limit) return bad("limit: expected an integer from 1 to 200");
    auto list = ctx.reads->subscriptions({*owner, a.get("status"), *limit, *cursor});
    if (!list) return unavailable(list.error().message);
    return at_position(ctx, "portal_subscriptions", json_text(std::move(*list)));
}

answer query_orders(const route_context& ctx, const query_input& in) { return list_of(ctx, in, listed::orders); }
answer query_order(const route_context& ctx, const query_input& in) { return one_of(ctx, in, listed::orders); }
answer query_claims(const route_context& ctx, const query_input& in) { return list_of(ctx, in, listed::claims); }
answer query_claim(const route_context& ctx, const query_input& in) { return one_of(ctx, in, listed::claims); }

}  // namespace dealerline::api
