// The GET endpoints over the read models and the log (API.md "Queries").
#include "api/detail/server_impl.hpp"

#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/detail/request_input.hpp"
#include "domain/codec.hpp"

namespace dealerline::api {

using detail::parse_query;
using detail::unsigned_of;

// The GET endpoints: orders and claims from the read models (dealer-scoped for dealer tokens),
// raw events and streams from the log (auditors and admins).
response server::impl::handle_query(const request& req, const std::string& path, const std::string& query) {
    const bool keep_alive = req.keep_alive();
    auto who = admit(bearer_token(req));
    if (!who) return to_response(std::move(who.error()), keep_alive);
    auto bad = [&](const std::string& message) {
        return error_response(http::status::bad_request, "bad_request", "bad_request", message, keep_alive);
    };
    auto unavailable = [&](const std::string& message) {
        return error_response(http::status::service_unavailable, "unavailable", "read_models_unavailable", message, keep_alive);
    };
    const auto params = parse_query(query);
    if (!params) return bad(params.error());
    auto param = [&](const char* key) -> std::optional<std::string> {
        auto it = params->find(key);
        return it == params->end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    auto accept_only = [&](std::initializer_list<std::string_view> keys) -> std::optional<std::string> {
        for (const auto& [key, _] : *params)
            if (std::find(keys.begin(), keys.end(), key) == keys.end()) return "unknown parameter " + key;
        return std::nullopt;
    };
    auto limit_of = [&](std::size_t fallback, std::size_t max) -> std::optional<std::size_t> {
        auto text = param("limit");
        if (!text) return fallback;
        const auto n = unsigned_of(*text);
        if (!n || *n < 1 || *n > max) return std::nullopt;
        return static_cast<std::size_t>(*n);
    };
    auto json_body = [&](std::string text) {
        response res{http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        res.set(http::field::cache_control, "no-store");
        res.keep_alive(keep_alive);
        res.body() = std::move(text);
        res.prepare_payload();
        return res;
    };

    // Raw events, straight from the log.
    if (path == "/api/events" || path.starts_with("/api/streams/")) {
        if (who->role != domain::role::auditor && who->role != domain::role::admin)
            return error_response(http::status::forbidden, "forbidden", "forbidden", "raw events are for auditors and admins", keep_alive);
        const auto limit = limit_of(100, 1000);
        if (!limit) return bad("limit: expected an integer from 1 to 1000");
        json::array list;
        json::object out;
        if (path == "/api/events") {
            if (auto wrong = accept_only({"from_position", "limit", "type"})) return bad(*wrong);
            std::uint64_t from = 1;
            if (auto f = param("from_position")) {
                const auto n = unsigned_of(*f);
                if (!n) return bad("from_position: expected a non-negative integer");
                from = std::max<std::uint64_t>(1, *n);
            }
            std::set<std::string, std::less<>> types;
            if (auto t = param("type")) {
                std::string_view rest = *t;
                while (!rest.empty()) {
                    const auto comma = rest.find(',');
                    types.emplace(rest.substr(0, comma));
                    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
                }
            }
            // A type filter scans at most this far per page; next_position says where to go on.
            const std::uint64_t head = log.head_position();
            const std::uint64_t scan_to = std::min(head, from + std::max<std::uint64_t>(*limit, 10'000) - 1);
            std::uint64_t next = from;
            while (list.size() < *limit && next <= scan_to) {
                auto events = log.read_all(next, std::min<std::uint64_t>(1000, scan_to - next + 1));
                if (!events) return unavailable(events.error().message);
                if (events->empty()) break;
                for (const auto& e : *events) {
                    next = e.position + 1;
                    if (types.empty() || types.contains(e.type)) list.emplace_back(event_json(e));
                    if (list.size() == *limit) break;
                }
            }
            out["events"] = std::move(list);
            out["next_position"] = next <= head ? json::value(next) : json::value(nullptr);
            out["head"] = head;
        } else {
            if (auto wrong = accept_only({"from_version", "limit"})) return bad(*wrong);
            const auto stream_or = detail::path_stream(std::string_view(path).substr(std::string_view("/api/streams/").size()));
            if (!stream_or) return bad(stream_or.error());
            const std::string& stream = *stream_or;
            std::uint64_t from = 1;
            if (auto f = param("from_version")) {
                const auto n = unsigned_of(*f);
                if (!n) return bad("from_version: expected a non-negative integer");
                from = std::max<std::uint64_t>(1, *n);
            }
            auto version = log.stream_version(stream);
            if (!version) return unavailable(version.error().message);
            if (*version == 0) return error_response(http::status::not_found, "not_found", "not_found", "no stream " + stream, keep_alive);
            auto events = log.read_stream(stream, from, *limit);
            if (!events) return unavailable(events.error().message);
            for (const auto& e : *events) list.emplace_back(event_json(e));
            const std::uint64_t next = events->empty() ? from : events->back().version + 1;
            out["stream"] = stream;
            out["version"] = *version;
            out["events"] = std::move(list);
            out["next_version"] = next <= *version ? json::value(next) : json::value(nullptr);
        }
        auto res = json_body(json::serialize(out));
        res.set("X-Log-Head", std::to_string(log.head_position()));
        return res;
    }

    // Read your own writes: wait (bounded) for the read models to reach min_position.
    // The next_cursor of a previous page (numeric cursors), or the 400 for a bad one.
    std::optional<std::uint64_t> cursor;
    if (auto c = param("cursor"); c && path != "/api/stock") {
        cursor = unsigned_of(*c);
        if (!cursor) return bad("cursor: expected the next_cursor of a previous page");
    }
    auto wait_for_min = [&]() -> std::optional<response> {
        if (auto min = param("min_position")) {
            const auto wanted = unsigned_of(*min);
            if (!wanted) return bad("min_position: expected a non-negative integer");
            // Beyond the head nothing can come within the wait: say so at once, holding no thread.
            if (const auto head = log.head_position(); *wanted > head)
                return bad("min_position: the log has no position " + *min + " yet (its head is " + std::to_string(head) + ")");
            if (runner) (void)runner->wait_for(*wanted, steady::now() + std::chrono::seconds(5));
        }
        return std::nullopt;
    };
    auto at_position = [&](const char* projection, response res) {
        auto at = reads->position(projection);
        if (!at) return unavailable(at.error().message);
        res.set("X-Projection-Position", std::to_string(*at));
        return res;
    };
    // GET /api/dealers/{id}/account: the dealer's settlements; a dealer sees its own only.
    if (path.starts_with("/api/dealers/")) {
        const std::string rest = path.substr(std::string_view("/api/dealers/").size());
        const auto slash = rest.find('/');
        if (slash == std::string::npos || rest.substr(slash) != "/account" || slash == 0 || slash > 3 * 64)
            return error_response(http::status::not_found, "not_found", "no_route", "no such path: " + path, keep_alive);
        const auto dealer_or = detail::path_id(std::string_view(rest).substr(0, slash), "dealer id");
        if (!dealer_or) return bad(dealer_or.error());
        const std::string& dealer_id = *dealer_or;
        if (auto wrong = accept_only({"limit", "cursor", "min_position"})) return bad(*wrong);
        if (who->role == domain::role::dealer && dealer_id != who->dealer_id)
            return error_response(http::status::forbidden, "forbidden", "forbidden", "a dealer sees only its own account", keep_alive);
        if (auto early = wait_for_min()) return std::move(*early);
        const auto limit = limit_of(50, 500);
        if (!limit) return bad("limit: expected an integer from 1 to 500");
        auto account = reads->account(dealer_id, *limit, cursor);
        if (!account) return unavailable(account.error().message);
        if (!*account)
            return at_position("portal_finance", error_response(http::status::not_found, "not_found", "not_found",
                                                                "dealer " + dealer_id + " has no account", keep_alive));
        return at_position("portal_finance", json_body(std::move(**account)));
    }
    if (path == "/api/stock") {
        if (who->role == domain::role::dealer)
            return error_response(http::status::forbidden, "forbidden", "forbidden", "stock levels are for the plant's staff", keep_alive);
        if (auto wrong = accept_only({"warehouse", "sku", "limit", "cursor", "min_position"})) return bad(*wrong);
        if (auto early = wait_for_min()) return std::move(*early);
        const auto limit = limit_of(100, 500);
        if (!limit) return bad("limit: expected an integer from 1 to 500");
        auto list = reads->stock({param("warehouse"), param("sku"), *limit, param("cursor")});
        if (!list) return unavailable(list.error().message);
        return at_position("portal_stock", json_body(std::move(*list)));
    }
    if (path == "/api/subscriptions") {
        if (auto wrong = accept_only({"status", "dealer_id", "limit", "cursor", "min_position"})) return bad(*wrong);
        std::optional<std::string> owner = param("dealer_id");
        if (who->role == domain::role::dealer) {
            if (owner && *owner != who->dealer_id)
                return error_response(http::status::forbidden, "forbidden", "forbidden", "a dealer sees only its own data", keep_alive);
            owner = who->dealer_id;
        }
        if (auto early = wait_for_min()) return std::move(*early);
        const auto limit = limit_of(50, 200);
        if (!limit) return bad("limit: expected an integer from 1 to 200");
        auto list = reads->subscriptions({owner, param("status"), *limit, cursor});
        if (!list) return unavailable(list.error().message);
        return at_position("portal_subscriptions", json_body(std::move(*list)));
    }

    const bool claims = path == "/api/claims" || path.starts_with("/api/claims/");
    const bool list = path == "/api/orders" || path == "/api/claims";
    if (auto wrong = list ? (claims ? accept_only({"status", "dealer_id", "order_id", "limit", "cursor", "min_position"})
                                    : accept_only({"status", "dealer_id", "limit", "cursor", "min_position"}))
                          : accept_only({"min_position"}))
        return bad(*wrong);
    // The dealer id of a dealer token is the only one it may see.
    std::optional<std::string> scope = param("dealer_id");
    if (who->role == domain::role::dealer) {
        if (scope && *scope != who->dealer_id)
            return error_response(http::status::forbidden, "forbidden", "forbidden", "a dealer sees only its own data", keep_alive);
        scope = who->dealer_id;
    }
    if (auto early = wait_for_min()) return std::move(*early);
    const char* projection = claims ? "portal_claims" : "portal_orders";
    auto status = param("status");
    if (status && status->size() > 32) return bad("status: unknown status");
    if (list) {
        const auto limit = limit_of(50, 200);
        if (!limit) return bad("limit: expected an integer from 1 to 200");
        auto page = claims ? reads->claims({scope, status, param("order_id"), *limit, cursor})
                                          : reads->orders({scope, status, *limit, cursor});
        if (!page) return unavailable(page.error().message);
        return at_position(projection, json_body(std::move(*page)));
    }
    const std::string prefix = claims ? "/api/claims/" : "/api/orders/";
    const std::string what = claims ? "claim" : "order";
    const std::string_view segment = std::string_view(path).substr(prefix.size());
    if (segment.find('/') != std::string_view::npos) return bad("expected " + prefix + "{id}");
    const auto id_or = detail::path_id(segment, what + " id");
    if (!id_or) return bad(id_or.error());
    const std::string& id = *id_or;
    auto one = claims ? reads->claim(id, scope) : reads->order(id, scope);
    if (!one) return unavailable(one.error().message);
    // Another dealer's order or claim looks exactly like one that does not exist.
    if (!*one)
        return at_position(projection,
                           error_response(http::status::not_found, "not_found", "not_found", what + " " + id + " does not exist", keep_alive));
    return at_position(projection, json_body(std::move(**one)));
}

}  // namespace dealerline::api
