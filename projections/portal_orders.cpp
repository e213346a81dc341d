// The portal_orders projection: how each event moves the rows of portal.orders, portal.order_lines,
// portal.order_timeline. One projection per file; what they share is in projections/detail/
// (docs/projections.md).
// The dealer portal reads it: what a dealer sees when it opens the portal, one query away.
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "domain/time.hpp"
#include "projections/detail/decode.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;
using opt_text = std::optional<std::string>;
using opt_time = std::optional<timestamp>;

struct order_row {
    std::string order_id, dealer_id, status, currency;
    std::int64_t total = 0, total_units = 0, completed_units = 0, line_count = 0;
    opt_text delivery_address, external_ref;
    timestamp placed_at;
    opt_time accepted_at, rejected_at, production_started_at, produced_at, shipped_at, delivered_at, cancelled_at;
    std::optional<sql::date> planned_production_date, planned_delivery_date;
    opt_text carrier, route, vehicle, driver_name, driver_phone, received_by, reject_reason, cancel_reason;
    std::optional<bool> cancelled_by_dealer;
    std::int64_t placed_position = 0, version = 0, last_position = 0;
    timestamp updated_at;
};
BOOST_DESCRIBE_STRUCT(order_row, (), (order_id, dealer_id, status, currency, total, total_units, completed_units,
                                      line_count, delivery_address, external_ref, placed_at, accepted_at, rejected_at,
                                      production_started_at, produced_at, shipped_at, delivered_at, cancelled_at,
                                      planned_production_date, planned_delivery_date, carrier, route, vehicle,
                                      driver_name, driver_phone, received_by, reject_reason, cancel_reason,
                                      cancelled_by_dealer, placed_position, version, last_position, updated_at))

struct order_line_row {
    std::string order_id;
    std::int64_t line_no = 0;
    std::string sku, description;
    std::int64_t quantity = 0, unit_price = 0, line_total = 0;
};
BOOST_DESCRIBE_STRUCT(order_line_row, (), (order_id, line_no, sku, description, quantity, unit_price, line_total))

struct timeline_row {
    std::string order_id;
    std::int64_t step = 0, position = 0;
    timestamp at;
    std::string event, status, actor;
    sql::json details;
};
BOOST_DESCRIBE_STRUCT(timeline_row, (), (order_id, step, position, at, event, status, actor, details))

std::string details_of(const order_event& ev) {
    boost::json::object d;
    std::visit(overloaded{
                   [&](const order_placed& x) {
                       d["currency"] = x.currency;
                       d["total"] = x.total;
                       d["total_units"] = x.total_units;
                       d["lines"] = x.lines.size();
                       if (x.external_ref) d["external_ref"] = *x.external_ref;
                   },
                   [&](const order_accepted& x) {
                       if (x.planned_production_date) d["planned_production_date"] = *x.planned_production_date;
                   },
                   [&](const order_rejected& x) { d["reason"] = x.reason; },
                   [](const production_started&) {},
                   [&](const production_progressed& x) {
                       d["completed_units"] = x.completed_units;
                       d["total_units"] = x.total_units;
                   },
                   [](const production_completed&) {},
                   [&](const order_shipped& x) {
                       d["carrier"] = x.carrier;
                       d["route"] = x.route;
                       d["vehicle"] = x.vehicle;
                       d["driver_name"] = x.driver_name;
                       d["driver_phone"] = x.driver_phone;
                       d["planned_delivery_date"] = x.planned_delivery_date;
                   },
                   [&](const order_delivered& x) {
                       if (x.received_by) d["received_by"] = *x.received_by;
                   },
                   [&](const order_cancelled& x) {
                       d["reason"] = x.reason;
                       d["by_dealer"] = x.by_dealer;
                   },
                   [&](const order_stock_shortage_flagged& x) {
                       d["sku"] = x.sku;
                       d["quantity"] = x.quantity;
                       d["available"] = x.available;
                   },
               },
               ev);
    return boost::json::serialize(d);
}

class orders_projector final : public projector {
public:
    std::string_view name() const override { return "portal_orders"; }
    std::string_view schema() const override { return "portal"; }
    std::vector<table> tables() const override { return {{"orders", true}, {"order_lines", false}, {"order_timeline", false}}; }

    std::unique_ptr<state> deferred_state(const std::string& schema, std::size_t max_rows) const override {
        return std::make_unique<held_table<order_row>>(schema + ".orders", max_rows);
    }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state* deferred) const override {
        held_table<order_row> per_batch(schema + ".orders", 0);
        auto& held = held_or(deferred, per_batch);
        auto& orders = held.rows.rows;
        const auto mine = events_of<order_aggregate>(events);
        if (mine.empty()) return;
        for (const auto& [e, ev] : mine)
            if (!std::holds_alternative<order_placed>(ev)) orders.want(id_of(ev));
        orders.load(tx);
        std::vector<order_line_row> lines;
        std::vector<timeline_row> timeline;
        for (const auto& [e, ev] : mine) {
            const timestamp at{e->recorded_at_us};
            order_row* row = nullptr;
            if (const auto* p = std::get_if<order_placed>(&ev)) {
                order_row fresh;
                fresh.order_id = p->order_id;
                fresh.dealer_id = p->dealer_id;
                fresh.currency = p->currency;
                fresh.total = p->total;
                fresh.total_units = p->total_units;
                fresh.line_count = static_cast<std::int64_t>(p->lines.size());
                fresh.delivery_address = p->delivery_address;
                fresh.external_ref = p->external_ref;
                fresh.placed_at = at;
                fresh.placed_position = i64(e->position);
                row = &orders.create(std::move(fresh));
                std::int64_t n = 0;
                for (const auto& l : p->lines)
                    lines.push_back({p->order_id, ++n, l.sku, l.description, l.quantity, l.unit_price, l.quantity * l.unit_price});
            } else {
                row = orders.find(id_of(ev));
                if (!row) throw sql::poison(e->position, e->type + " for order " + id_of(ev) + " before OrderPlaced");
            }
            std::visit(overloaded{
                           [&](const order_placed&) { row->status = named(order_status::placed); },
                           [&](const order_accepted& x) {
                               row->status = named(order_status::accepted);
                               row->accepted_at = at;
                               if (x.planned_production_date) row->planned_production_date = sql::date{*x.planned_production_date};
                           },
                           [&](const order_rejected& x) {
                               row->status = named(order_status::rejected);
                               row->rejected_at = at;
                               row->reject_reason = x.reason;
                           },
                           [&](const production_started&) {
                               row->status = named(order_status::in_production);
                               row->production_started_at = at;
                           },
                           [&](const production_progressed& x) { row->completed_units = x.completed_units; },
                           [&](const production_completed&) {
                               row->status = named(order_status::produced);
                               row->produced_at = at;
                               row->completed_units = row->total_units;
                           },
                           [&](const order_shipped& x) {
                               row->status = named(order_status::shipped);
                               row->shipped_at = at;
                               row->carrier = x.carrier;
                               row->route = x.route;
                               row->vehicle = x.vehicle;
                               row->driver_name = x.driver_name;
                               row->driver_phone = x.driver_phone;
                               row->planned_delivery_date = sql::date{x.planned_delivery_date};
                           },
                           [&](const order_delivered& x) {
                               row->status = named(order_status::delivered);
                               row->delivered_at = at;
                               row->received_by = x.received_by;
                           },
                           [&](const order_cancelled& x) {
                               row->status = named(order_status::cancelled);
                               row->cancelled_at = at;
                               row->cancel_reason = x.reason;
                               row->cancelled_by_dealer = x.by_dealer;
                           },
                           [](const order_stock_shortage_flagged&) {},  // in the timeline, with its details
                       },
                       ev);
            row->version = i64(e->version);
            row->last_position = i64(e->position);
            row->updated_at = at;
            timeline.push_back({row->order_id, i64(e->version), i64(e->position), at, e->type, row->status, e->actor,
                                sql::json{details_of(ev)}});
        }
        held.rows.batch_done(tx);
        sql::copy_rows<order_line_row>(tx, schema + ".order_lines", lines);
        sql::copy_rows<timeline_row>(tx, schema + ".order_timeline", timeline);
    }

};

}  // namespace

std::unique_ptr<projector> make_portal_orders() { return std::make_unique<orders_projector>(); }

}  // namespace dealerline::projections
