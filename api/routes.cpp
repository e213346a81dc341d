// The route table (docs/api.md): one row per endpoint.
#include "api/detail/routes.hpp"

#include <array>

namespace dealerline::api {

namespace {

// Exact paths first; prefixes (ending in '/') take the rest of the path, which the route
// function reads (ids, streams).
constexpr std::array routes{
    route{"GET", "/healthz", route_kind::health},
    route{"GET", "/", route_kind::page},
    route{"GET", "/index.html", route_kind::page},
    route{"GET", "/metrics", route_kind::metrics},
    route{"GET", "/readyz", route_kind::readiness},
    route{"GET", "/api/live", route_kind::live},
    route{"POST", "/api/commands", route_kind::commands},
    route{"GET", "/api/events", route_kind::query, false, query_events},
    route{"GET", "/api/streams/", route_kind::query, false, query_stream},
    route{"GET", "/api/orders", route_kind::query, true, query_orders},
    route{"GET", "/api/orders/", route_kind::query, true, query_order},
    route{"GET", "/api/claims", route_kind::query, true, query_claims},
    route{"GET", "/api/claims/", route_kind::query, true, query_claim},
    route{"GET", "/api/dealers/", route_kind::query, true, query_account},
    route{"GET", "/api/stock", route_kind::query, true, query_stock},
    route{"GET", "/api/subscriptions", route_kind::query, true, query_subscriptions},
};

}  // namespace

std::span<const route> route_table() { return routes; }

const route* find_route(std::string_view path, bool have_read_models) {
    for (const auto& r : routes) {
        const bool prefix = r.path.size() > 1 && r.path.ends_with('/');
        const bool matches = prefix ? path.starts_with(r.path) : path == r.path;
        if (matches) return r.read_model && !have_read_models ? nullptr : &r;
    }
    return nullptr;
}

}  // namespace dealerline::api
