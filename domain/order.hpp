// Order — stream `order-<id>`. The dealer watches it move, live:
//   placed ─► accepted ─► in_production ─► produced ─► shipped ─► delivered
//     ├► rejected  └──────────┴──► cancelled (dealer: before production; staff: before shipment)
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/decider.hpp"

namespace dealerline::domain {

struct order_line {
    std::string sku;
    std::string description;
    std::int64_t quantity = 0;
    std::int64_t unit_price = 0;  // minor units of the order's currency
    bool operator==(const order_line&) const = default;
};

// Commands
struct place_order {
    std::string order_id, dealer_id, currency;
    std::vector<order_line> lines;
    std::optional<std::string> delivery_address, external_ref;
};
struct accept_order {
    std::string order_id;
    std::optional<std::string> planned_production_date;  // YYYY-MM-DD
};
struct reject_order {
    std::string order_id, reason;
};
struct start_production {
    std::string order_id;
};
struct record_production_progress {
    std::string order_id;
    std::int64_t completed_units = 0;
};
struct complete_production {
    std::string order_id;
};
struct ship_order {
    std::string order_id, carrier, route, vehicle, driver_name, driver_phone, planned_delivery_date;
};
struct confirm_delivery {
    std::string order_id;
    std::optional<std::string> received_by;
};
struct cancel_order {
    std::string order_id, reason;
};
// The fulfilment process manager could not reserve a line's stock: plant and dealer see it.
struct flag_stock_shortage {
    std::string order_id, sku;
    std::int64_t quantity = 0, available = 0;
};
using order_command = std::variant<place_order, accept_order, reject_order, start_production, record_production_progress,
                                   complete_production, ship_order, confirm_delivery, cancel_order, flag_stock_shortage>;

// Events
struct order_placed {
    std::string order_id, dealer_id, currency;
    std::vector<order_line> lines;
    std::optional<std::string> delivery_address, external_ref;
    std::int64_t total = 0;        // Σ quantity × unit_price
    std::int64_t total_units = 0;  // Σ quantity
    bool operator==(const order_placed&) const = default;
};
struct order_accepted {
    std::string order_id;
    std::optional<std::string> planned_production_date;
    bool operator==(const order_accepted&) const = default;
};
struct order_rejected {
    std::string order_id, reason;
    bool operator==(const order_rejected&) const = default;
};
struct production_started {
    std::string order_id;
    bool operator==(const production_started&) const = default;
};
struct production_progressed {
    std::string order_id;
    std::int64_t completed_units = 0, total_units = 0;
    bool operator==(const production_progressed&) const = default;
};
struct production_completed {
    std::string order_id;
    bool operator==(const production_completed&) const = default;
};
struct order_shipped {
    std::string order_id, carrier, route, vehicle, driver_name, driver_phone, planned_delivery_date;
    bool operator==(const order_shipped&) const = default;
};
struct order_delivered {
    std::string order_id;
    std::optional<std::string> received_by;
    bool operator==(const order_delivered&) const = default;
};
struct order_cancelled {
    std::string order_id, reason;
    bool by_dealer = false;
    bool operator==(const order_cancelled&) const = default;
};
struct order_stock_shortage_flagged {
    std::string order_id, sku;
    std::int64_t quantity = 0, available = 0;
    bool operator==(const order_stock_shortage_flagged&) const = default;
};
using order_event = std::variant<order_placed, order_accepted, order_rejected, production_started, production_progressed,
                                 production_completed, order_shipped, order_delivered, order_cancelled, order_stock_shortage_flagged>;

enum class order_status { none, placed, accepted, rejected, in_production, produced, shipped, delivered, cancelled };
[[nodiscard]] std::string_view to_string(order_status) noexcept;

struct order_state {
    order_status status = order_status::none;
    std::string dealer_id;
    std::int64_t total_units = 0;
    std::int64_t completed_units = 0;
    bool operator==(const order_state&) const = default;
};

struct order_aggregate {
    using command = order_command;
    using event = order_event;
    using state = order_state;
    static constexpr std::string_view category = "order";
    [[nodiscard]] static std::string stream_id(const command&);
    [[nodiscard]] static result<std::vector<event>> decide(const command&, const state&, const context&);
    [[nodiscard]] static state evolve(state, const event&);
};
static_assert(aggregate<order_aggregate>);

}  // namespace dealerline::domain
