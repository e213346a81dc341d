#include "domain/stock.hpp"

#include <algorithm>

#include "domain/validate.hpp"

namespace dealerline::domain {
namespace {

using events = std::vector<stock_event>;

constexpr std::int64_t max_quantity = 1'000'000'000;

// Storekeepers move goods; the plant's process managers (system) reserve, release and issue for
// orders; logistics may issue what it loads.
constexpr std::initializer_list<role> keepers{role::storekeeper};
constexpr std::initializer_list<role> for_orders{role::storekeeper, role::system, role::logistics};

std::optional<rejection> item(const std::string& warehouse, const std::string& sku) {
    if (auto r = check::id("warehouse", warehouse)) return r;
    if (warehouse.find(':') != std::string::npos) return reject(codes::validation_failed, "warehouse must not contain ':'");
    return check::id("sku", sku);
}

std::optional<rejection> quantity(std::string_view field, std::int64_t q) {
    if (q <= 0 || q > max_quantity)
        return reject(codes::validation_failed, std::string(field) + " must be between 1 and " + std::to_string(max_quantity));
    return std::nullopt;
}

const stock_reservation* reservation_of(const stock_state& s, const std::string& order_id) {
    auto it = std::find_if(s.reservations.begin(), s.reservations.end(), [&](const auto& r) { return r.order_id == order_id; });
    return it == s.reservations.end() ? nullptr : &*it;
}

std::string what_is(const stock_state& s) {
    return std::to_string(s.on_hand) + " on hand, " + std::to_string(s.reserved) + " reserved, " + std::to_string(s.available()) +
           " available";
}

}  // namespace

std::string stock_aggregate::stream_id(const command& c) {
    return std::visit([](const auto& x) { return x.warehouse + ":" + x.sku; }, c);
}

result<std::vector<stock_event>> stock_aggregate::decide(const command& cmd, const state& s, const context& ctx) {
    return std::visit(
        overloaded{
            [&](const receive_stock& c) -> result<events> {
                if (auto r = check::role_in(ctx.by, keepers, "receive stock")) return *r;
                if (auto r = item(c.warehouse, c.sku)) return *r;
                if (auto r = quantity("quantity", c.quantity)) return *r;
                if (auto r = check::text("reference", c.reference, 200)) return *r;
                if (s.on_hand + c.quantity > max_quantity) return reject(codes::validation_failed, "more than a warehouse can hold");
                return events{stock_received{c.warehouse, c.sku, c.quantity, c.reference}};
            },
            [&](const reserve_stock& c) -> result<events> {
                if (auto r = check::role_in(ctx.by, for_orders, "reserve stock")) return *r;
                if (auto r = item(c.warehouse, c.sku)) return *r;
                if (auto r = check::id("order_id", c.order_id)) return *r;
                if (auto r = quantity("quantity", c.quantity)) return *r;
                if (const auto* held = reservation_of(s, c.order_id)) {
                    if (held->quantity == c.quantity) return events{};  // already holds exactly this
                    return reject(codes::invalid_transition, "order " + c.order_id + " already holds " + std::to_string(held->quantity) +
                                                                 " of " + c.sku + "; release it first");
                }
                if (c.quantity > s.available())
                    return reject(codes::insufficient_stock,
                                  "cannot reserve " + std::to_string(c.quantity) + " of " + c.sku + " in " + c.warehouse + ": " + what_is(s));
                return events{stock_reserved{c.warehouse, c.sku, c.order_id, c.quantity}};
            },
            [&](const release_stock& c) -> result<events> {
                if (auto r = check::role_in(ctx.by, for_orders, "release stock")) return *r;
                if (auto r = item(c.warehouse, c.sku)) return *r;
                if (auto r = check::id("order_id", c.order_id)) return *r;
                const auto* held = reservation_of(s, c.order_id);
                if (!held) return events{};  // nothing held: released already, or never reserved
                return events{stock_released{c.warehouse, c.sku, c.order_id, held->quantity}};
            },
            [&](const issue_stock& c) -> result<events> {
                if (auto r = check::role_in(ctx.by, for_orders, "issue stock")) return *r;
                if (auto r = item(c.warehouse, c.sku)) return *r;
                if (auto r = check::id("order_id", c.order_id)) return *r;
                const auto* held = reservation_of(s, c.order_id);
                if (!held) return reject(codes::invalid_transition, "order " + c.order_id + " holds no " + c.sku + " in " + c.warehouse);
                if (held->quantity > s.on_hand)
                    return reject(codes::insufficient_stock, "cannot issue " + std::to_string(held->quantity) + " of " + c.sku + ": " + what_is(s));
                return events{stock_issued{c.warehouse, c.sku, c.order_id, held->quantity}};
            },
            [&](const write_off_stock& c) -> result<events> {
                if (auto r = check::role_in(ctx.by, keepers, "write off stock")) return *r;
                if (auto r = item(c.warehouse, c.sku)) return *r;
                if (auto r = quantity("quantity", c.quantity)) return *r;
                if (auto r = check::text("reason", c.reason)) return *r;
                // What is promised to orders cannot be written off; and never below zero.
                if (c.quantity > s.available())
                    return reject(codes::insufficient_stock,
                                  "cannot write off " + std::to_string(c.quantity) + " of " + c.sku + ": " + what_is(s));
                return events{stock_written_off{c.warehouse, c.sku, c.quantity, c.reason}};
            },
            [&](const count_stock& c) -> result<events> {
                if (auto r = check::role_in(ctx.by, keepers, "count stock")) return *r;
                if (auto r = item(c.warehouse, c.sku)) return *r;
                if (c.counted < 0 || c.counted > max_quantity)
                    return reject(codes::validation_failed, "counted must be between 0 and " + std::to_string(max_quantity));
                return events{stock_counted{c.warehouse, c.sku, c.counted, c.counted - s.on_hand}};
            },
        },
        cmd);
}

stock_state stock_aggregate::evolve(state s, const event& e) {
    s.exists = true;
    auto drop = [&](const std::string& order_id) {
        std::erase_if(s.reservations, [&](const auto& r) { return r.order_id == order_id; });
    };
    std::visit(overloaded{
                   [&](const stock_received& x) { s.on_hand += x.quantity; },
                   [&](const stock_reserved& x) {
                       s.reserved += x.quantity;
                       s.reservations.push_back({x.order_id, x.quantity});
                   },
                   [&](const stock_released& x) {
                       s.reserved -= x.quantity;
                       drop(x.order_id);
                   },
                   [&](const stock_issued& x) {
                       s.reserved -= x.quantity;
                       s.on_hand -= x.quantity;
                       drop(x.order_id);
                   },
                   [&](const stock_written_off& x) { s.on_hand -= x.quantity; },
                   [&](const stock_counted& x) { s.on_hand = x.counted; },
               },
               e);
    return s;
}

}  // namespace dealerline::domain
