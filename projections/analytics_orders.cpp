// The analytics_orders projection: how each event moves the rows of analytics.order_facts,
// analytics.daily_orders. One projection per file; what they share is in projections/detail/
// (docs/projections.md).
// Counters are added per batch (day × dealer, month × kind), so a batch writes one row per key,
// not one per event.
#include <map>
#include <ranges>
#include <tuple>

#include "domain/stream_name.hpp"
#include "projections/detail/decode.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;
using opt_time = std::optional<timestamp>;

struct order_fact_row {
    std::string order_id, dealer_id, currency;
    std::int64_t value = 0, units = 0, line_count = 0;
    std::string final_status;
    timestamp placed_at;
    opt_time accepted_at, production_started_at, produced_at, shipped_at, delivered_at, rejected_at, cancelled_at;
    std::int64_t last_position = 0;
};
BOOST_DESCRIBE_STRUCT(order_fact_row, (), (order_id, dealer_id, currency, value, units, line_count, final_status,
                                           placed_at, accepted_at, production_started_at, produced_at, shipped_at,
                                           delivered_at, rejected_at, cancelled_at, last_position))

struct daily_order_row {
    sql::date day;
    std::string dealer_id, currency;
    std::int64_t placed = 0, accepted = 0, rejected = 0, cancelled = 0, delivered = 0, units = 0, value = 0;
};
BOOST_DESCRIBE_STRUCT(daily_order_row, (), (day, dealer_id, currency, placed, accepted, rejected, cancelled, delivered,
                                            units, value))

class orders_projector final : public projector {
public:
    std::string_view name() const override { return "analytics_orders"; }
    std::string_view schema() const override { return "analytics"; }
    std::vector<table> tables() const override { return {{"order_facts", true}, {"daily_orders", true}}; }

    std::unique_ptr<state> deferred_state(const std::string& schema, std::size_t max_rows) const override {
        return std::make_unique<held_table<order_fact_row>>(schema + ".order_facts", max_rows);
    }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state* deferred) const override {
        held_table<order_fact_row> per_batch(schema + ".order_facts", 0);
        auto& held = held_or(deferred, per_batch);
        auto& facts = held.rows.rows;
        const auto mine = events_of<order_aggregate>(events);
        if (mine.empty()) return;
        for (const auto& [e, ev] : mine)
            if (!std::holds_alternative<order_placed>(ev)) facts.want(id_of(ev));
        facts.load(tx);
        std::map<std::pair<std::string, std::string>, daily_order_row> daily;  // (day, dealer)
        for (const auto& [e, ev] : mine) {
            const timestamp at{e->recorded_at_us};
            order_fact_row* row = nullptr;
            if (const auto* p = std::get_if<order_placed>(&ev)) {
                order_fact_row fresh;
                fresh.order_id = p->order_id;
                fresh.dealer_id = p->dealer_id;
                fresh.currency = p->currency;
                fresh.value = p->total;
                fresh.units = p->total_units;
                fresh.line_count = static_cast<std::int64_t>(p->lines.size());
                fresh.placed_at = at;
                row = &facts.create(std::move(fresh));
            } else {
                row = facts.find(id_of(ev));
                if (!row) throw sql::poison(e->position, e->type + " for order " + id_of(ev) + " before OrderPlaced");
            }
            // The day's counters of the order's dealer, created only for the events that count.
            auto daily_row = [&, row]() -> daily_order_row& {
                auto day = sql::day_of(e->recorded_at_us);
                auto& d = daily[{day.text, row->dealer_id}];
                if (d.dealer_id.empty()) {
                    d.day = std::move(day);
                    d.dealer_id = row->dealer_id;
                    d.currency = row->currency;
                }
                return d;
            };
            std::visit(overloaded{
                           [&](const order_placed& x) {
                               row->final_status = named(order_status::placed);
                               auto& d = daily_row();
                               ++d.placed;
                               d.units += x.total_units;
                               d.value += x.total;
                           },
                           [&](const order_accepted&) {
                               row->final_status = named(order_status::accepted);
                               row->accepted_at = at;
                               ++daily_row().accepted;
                           },
                           [&](const order_rejected&) {
                               row->final_status = named(order_status::rejected);
                               row->rejected_at = at;
                               ++daily_row().rejected;
                           },
                           [&](const production_started&) {
                               row->final_status = named(order_status::in_production);
                               row->production_started_at = at;
                           },
                           [](const production_progressed&) {},
                           [&](const production_completed&) {
                               row->final_status = named(order_status::produced);
                               row->produced_at = at;
                           },
                           [&](const order_shipped&) {
                               row->final_status = named(order_status::shipped);
                               row->shipped_at = at;
                           },
                           [&](const order_delivered&) {
                               row->final_status = named(order_status::delivered);
                               row->delivered_at = at;
                               ++daily_row().delivered;
                           },
                           [&](const order_cancelled&) {
                               row->final_status = named(order_status::cancelled);
                               row->cancelled_at = at;
                               ++daily_row().cancelled;
                           },
                           [](const order_stock_shortage_flagged&) {},
                       },
                       ev);
            row->last_position = i64(e->position);
        }
        held.rows.batch_done(tx);
        sql::add_to_counters<daily_order_row>(tx, schema + ".daily_orders", std::views::values(daily), 2, 1);  // (day, dealer), currency
    }

};

}  // namespace

std::unique_ptr<projector> make_analytics_orders() { return std::make_unique<orders_projector>(); }

}  // namespace dealerline::projections
