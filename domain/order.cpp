#include "domain/order.hpp"

#include "domain/validate.hpp"

namespace dealerline::domain {
namespace {

using events = std::vector<order_event>;

// Everyone who works at the plant (the auditor only reads).
constexpr std::initializer_list<role> staff{role::engineer,   role::production,  role::logistics,
                                            role::claims_manager, role::accountant, role::storekeeper};

rejection transition(const order_state& s, std::string_view what) {
    return reject(codes::invalid_transition,
                  "cannot " + std::string(what) + " an order that is " + std::string(to_string(s.status)));
}

// Common preamble for commands on an existing order: it exists, the actor's role may do this,
// and a dealer touches only its own orders.
std::optional<rejection> existing(const order_state& s, const context& ctx, std::initializer_list<role> roles,
                                  std::string_view what, const std::string& order_id) {
    return check::may_act_on("order", order_id, s.status != order_status::none, s.dealer_id, ctx.by, roles, what);
}

result<events> decide_place(const place_order& c, const order_state& s, const context& ctx) {
    if (auto r = check::id("order_id", c.order_id)) return *r;
    if (auto r = check::id("dealer_id", c.dealer_id)) return *r;
    if (ctx.by.is(role::dealer)) {
        if (auto r = check::own_dealer(ctx.by, c.dealer_id, "place orders")) return *r;
    } else if (auto r = check::role_in(ctx.by, staff, "place orders")) {
        return *r;
    }
    if (s.status != order_status::none) return reject(codes::already_exists, "order " + c.order_id + " already exists");
    if (auto r = check::currency("currency", c.currency)) return *r;
    if (c.lines.empty()) return reject(codes::validation_failed, "lines must not be empty");
    if (c.lines.size() > 1000) return reject(codes::validation_failed, "an order has at most 1000 lines");
    std::int64_t total = 0, units = 0;
    for (std::size_t i = 0; i < c.lines.size(); ++i) {
        const auto& line = c.lines[i];
        const auto at = "lines[" + std::to_string(i) + "]";
        if (auto r = check::id(at + ".sku", line.sku)) return *r;
        if (line.quantity <= 0 || line.quantity > 1'000'000)
            return reject(codes::validation_failed, at + ".quantity must be between 1 and 1000000");
        if (line.unit_price < 0 || line.unit_price > 1'000'000'000'00)
            return reject(codes::validation_failed, at + ".unit_price must be between 0 and 100000000000");
        if (auto r = check::optional_text(at + ".description", line.description)) return *r;
        total += line.quantity * line.unit_price;  // bounded above: no overflow
        units += line.quantity;
    }
    if (c.delivery_address)
        if (auto r = check::text("delivery_address", *c.delivery_address)) return *r;
    if (c.external_ref)
        if (auto r = check::id("external_ref", *c.external_ref)) return *r;
    if (!ctx.dealer || !ctx.dealer->registered)
        return reject(codes::dealer_not_registered, "dealer " + c.dealer_id + " is not registered");
    if (ctx.dealer->currency != c.currency)
        return reject(codes::currency_mismatch,
                      "dealer " + c.dealer_id + " is billed in " + ctx.dealer->currency + ", not " + c.currency);
    return events{order_placed{c.order_id, c.dealer_id, c.currency, c.lines, c.delivery_address, c.external_ref, total, units}};
}

}  // namespace

std::string_view to_string(order_status s) noexcept {
    switch (s) {
        case order_status::none: return "none";
        case order_status::placed: return "placed";
        case order_status::accepted: return "accepted";
        case order_status::rejected: return "rejected";
        case order_status::in_production: return "in_production";
        case order_status::produced: return "produced";
        case order_status::shipped: return "shipped";
        case order_status::delivered: return "delivered";
        case order_status::cancelled: return "cancelled";
    }
    return "unknown";
}

std::string order_aggregate::stream_id(const command& c) {
    return std::visit([](const auto& x) { return x.order_id; }, c);
}

result<std::vector<order_event>> order_aggregate::decide(const command& cmd, const state& s, const context& ctx) {
    using st = order_status;
    return std::visit(
        overloaded{
            [&](const place_order& c) -> result<events> { return decide_place(c, s, ctx); },
            [&](const accept_order& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::engineer}, "accept", c.order_id)) return *r;
                if (c.planned_production_date)
                    if (auto r = check::date("planned_production_date", *c.planned_production_date)) return *r;
                if (s.status != st::placed) return transition(s, "accept");
                return events{order_accepted{c.order_id, c.planned_production_date}};
            },
            [&](const reject_order& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::engineer}, "reject", c.order_id)) return *r;
                if (auto r = check::text("reason", c.reason)) return *r;
                if (s.status != st::placed) return transition(s, "reject");
                return events{order_rejected{c.order_id, c.reason}};
            },
            [&](const start_production& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::production}, "start production of", c.order_id)) return *r;
                if (s.status != st::accepted) return transition(s, "start production of");
                return events{production_started{c.order_id}};
            },
            [&](const record_production_progress& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::production}, "record progress of", c.order_id)) return *r;
                if (s.status != st::in_production) return transition(s, "record production progress of");
                if (c.completed_units < s.completed_units || c.completed_units > s.total_units)
                    return reject(codes::validation_failed,
                                  "completed_units must be between " + std::to_string(s.completed_units) + " (already done) and " +
                                      std::to_string(s.total_units) + " (ordered)");
                if (c.completed_units == s.completed_units) return events{};  // nothing new
                return events{production_progressed{c.order_id, c.completed_units, s.total_units}};
            },
            [&](const complete_production& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::production}, "complete production of", c.order_id)) return *r;
                if (s.status != st::in_production) return transition(s, "complete production of");
                return events{production_completed{c.order_id}};
            },
            [&](const ship_order& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::logistics}, "ship", c.order_id)) return *r;
                for (const auto& [field, value] : {std::pair<std::string_view, const std::string&>{"carrier", c.carrier},
                                                   {"route", c.route},
                                                   {"vehicle", c.vehicle},
                                                   {"driver_name", c.driver_name},
                                                   {"driver_phone", c.driver_phone}})
                    if (auto r = check::text(field, value, 200)) return *r;
                if (auto r = check::date("planned_delivery_date", c.planned_delivery_date)) return *r;
                if (s.status != st::produced) return transition(s, "ship");
                return events{order_shipped{c.order_id, c.carrier, c.route, c.vehicle, c.driver_name, c.driver_phone,
                                            c.planned_delivery_date}};
            },
            [&](const confirm_delivery& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::logistics, role::dealer}, "confirm delivery of", c.order_id)) return *r;
                if (c.received_by)
                    if (auto r = check::text("received_by", *c.received_by, 200)) return *r;
                if (s.status != st::shipped) return transition(s, "confirm delivery of");
                return events{order_delivered{c.order_id, c.received_by}};
            },
            [&](const cancel_order& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::dealer, role::engineer, role::production, role::logistics}, "cancel",
                                      c.order_id))
                    return *r;
                if (auto r = check::text("reason", c.reason)) return *r;
                const bool dealer = ctx.by.is(role::dealer);
                // A dealer may cancel until production starts; the plant until the order ships.
                const bool open = s.status == st::placed || s.status == st::accepted ||
                                  (!dealer && (s.status == st::in_production || s.status == st::produced));
                if (!open) return transition(s, "cancel");
                return events{order_cancelled{c.order_id, c.reason, dealer}};
            },
            [&](const flag_stock_shortage& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::system, role::engineer, role::storekeeper}, "flag a shortage on", c.order_id)) return *r;
                if (auto r = check::id("sku", c.sku)) return *r;
                if (c.quantity <= 0) return reject(codes::validation_failed, "quantity must be positive");
                if (s.status != st::accepted && s.status != st::in_production && s.status != st::produced)
                    return transition(s, "flag a stock shortage on");
                return events{order_stock_shortage_flagged{c.order_id, c.sku, c.quantity, c.available}};
            },
        },
        cmd);
}

order_state order_aggregate::evolve(state s, const event& e) {
    std::visit(overloaded{
                   [&](const order_placed& x) {
                       s.status = order_status::placed;
                       s.dealer_id = x.dealer_id;
                       s.total_units = x.total_units;
                   },
                   [&](const order_accepted&) { s.status = order_status::accepted; },
                   [&](const order_rejected&) { s.status = order_status::rejected; },
                   [&](const production_started&) { s.status = order_status::in_production; },
                   [&](const production_progressed& x) { s.completed_units = x.completed_units; },
                   [&](const production_completed&) {
                       s.status = order_status::produced;
                       s.completed_units = s.total_units;
                   },
                   [&](const order_shipped&) { s.status = order_status::shipped; },
                   [&](const order_delivered&) { s.status = order_status::delivered; },
                   [&](const order_cancelled&) { s.status = order_status::cancelled; },
                   [](const order_stock_shortage_flagged&) {},
               },
               e);
    return s;
}

}  // namespace dealerline::domain
