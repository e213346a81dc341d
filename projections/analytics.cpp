// The analysts' read models: every event flattened, per-order and per-claim facts, and the daily
// and monthly figures built from them. Counters are added per batch (day × dealer, month × kind)
// so a batch writes one row per key, not one per event.
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

struct event_row {
    std::int64_t position = 0;
    std::string stream, category;
    std::int64_t stream_version = 0;
    std::string type;
    std::int64_t schema_version = 0;
    std::string actor, actor_role, command_id, correlation_id;
    timestamp recorded_at;
    sql::json data;
    std::optional<std::string> metadata;
};
BOOST_DESCRIBE_STRUCT(event_row, (), (position, stream, category, stream_version, type, schema_version, actor, actor_role,
                                      command_id, correlation_id, recorded_at, data, metadata))

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

struct claim_fact_row {
    std::string claim_id, order_id, dealer_id, kind, status;
    timestamp filed_at;
    opt_time pending_since, first_resolved_at, last_resolved_at;
    std::optional<std::string> resolution;
    std::optional<std::int64_t> compensation;
    std::int64_t resolutions = 0, reopen_count = 0;
    opt_time closed_at;
    std::int64_t last_position = 0;
};
BOOST_DESCRIBE_STRUCT(claim_fact_row, (), (claim_id, order_id, dealer_id, kind, status, filed_at, pending_since,
                                           first_resolved_at, last_resolved_at, resolution, compensation, resolutions,
                                           reopen_count, closed_at, last_position))

struct claims_monthly_row {
    sql::date month;
    std::string kind;
    std::int64_t filed = 0, resolved = 0, compensation = 0;
    sql::interval resolve_time_total;
};
BOOST_DESCRIBE_STRUCT(claims_monthly_row, (), (month, kind, filed, resolved, compensation, resolve_time_total))

// ─── analytics_events ────────────────────────────────────────────────────────────────────────

class events_projector final : public projector {
public:
    std::string_view name() const override { return "analytics_events"; }
    std::string_view schema() const override { return "analytics"; }
    std::vector<table> tables() const override { return {{"events", false}}; }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state*) const override {
        std::vector<event_row> rows(events.size());
        for (std::size_t i = 0; i < events.size(); ++i) {
            const auto& e = events[i];
            auto& row = rows[i];
            row.position = i64(e.position);
            row.stream = e.stream;
            row.category = category_of(e.stream);
            row.stream_version = i64(e.version);
            row.type = e.type;
            row.schema_version = e.schema_version;
            row.actor = e.actor;
            row.actor_role = e.actor.substr(0, e.actor.find(':'));
            row.command_id = e.command_id;
            row.correlation_id = e.correlation_id;
            row.recorded_at = timestamp{e.recorded_at_us};
            row.data.text = e.data;
            row.metadata = e.metadata.empty() ? std::nullopt : std::optional<std::string>(e.metadata);
        }
        sql::copy_rows<event_row>(tx, schema + ".events", rows);
    }
};

// ─── analytics_orders ────────────────────────────────────────────────────────────────────────

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

// ─── analytics_claims ────────────────────────────────────────────────────────────────────────

class claims_projector final : public projector {
public:
    std::string_view name() const override { return "analytics_claims"; }
    std::string_view schema() const override { return "analytics"; }
    std::vector<table> tables() const override { return {{"claim_facts", true}, {"claims_monthly", true}}; }

    std::unique_ptr<state> deferred_state(const std::string& schema, std::size_t max_rows) const override {
        return std::make_unique<held_table<claim_fact_row>>(schema + ".claim_facts", max_rows);
    }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state* deferred) const override {
        held_table<claim_fact_row> per_batch(schema + ".claim_facts", 0);
        auto& held = held_or(deferred, per_batch);
        auto& facts = held.rows.rows;
        const auto mine = events_of<claim_aggregate>(events);
        if (mine.empty()) return;
        for (const auto& [e, ev] : mine)
            if (!std::holds_alternative<claim_filed>(ev)) facts.want(id_of(ev));
        facts.load(tx);
        std::map<std::pair<std::string, std::string>, claims_monthly_row> monthly;  // (month, kind)
        for (const auto& [e, ev] : mine) {
            const timestamp at{e->recorded_at_us};
            claim_fact_row* row = nullptr;
            if (const auto* f = std::get_if<claim_filed>(&ev)) {
                claim_fact_row fresh;
                fresh.claim_id = f->claim_id;
                fresh.order_id = f->order_id;
                fresh.dealer_id = f->dealer_id;
                fresh.kind = f->kind;
                fresh.filed_at = at;
                row = &facts.create(std::move(fresh));
            } else {
                row = facts.find(id_of(ev));
                if (!row) throw sql::poison(e->position, e->type + " for claim " + id_of(ev) + " before ClaimFiled");
            }
            auto month = sql::month_of(e->recorded_at_us);
            auto& m = monthly[{month.text, row->kind}];
            if (m.kind.empty()) {
                m.month = std::move(month);
                m.kind = row->kind;
            }
            std::visit(overloaded{
                           [&](const claim_filed&) {
                               row->status = named(claim_status::open);
                               row->pending_since = at;
                               ++m.filed;
                           },
                           [&](const claim_assigned&) { row->status = named(claim_status::in_review); },
                           [](const claim_commented&) {},
                           [&](const claim_resolved& x) {
                               row->status = named(claim_status::resolved);
                               if (!row->first_resolved_at) row->first_resolved_at = at;
                               row->last_resolved_at = at;
                               row->resolution = x.resolution;
                               row->compensation = x.compensation;
                               ++row->resolutions;
                               ++m.resolved;
                               m.compensation += x.compensation;
                               const auto since = row->pending_since.value_or(row->filed_at);
                               m.resolve_time_total.us += at.us - since.us;
                               row->pending_since.reset();
                           },
                           [&](const claim_reopened&) {
                               row->status = named(claim_status::reopened);
                               row->pending_since = at;
                               ++row->reopen_count;
                           },
                           [&](const claim_closed&) {
                               row->status = named(claim_status::closed);
                               row->closed_at = at;
                           },
                       },
                       ev);
            row->last_position = i64(e->position);
        }
        held.rows.batch_done(tx);
        sql::add_to_counters<claims_monthly_row>(tx, schema + ".claims_monthly", std::views::values(monthly), 2);  // (month, kind)
    }

};

}  // namespace

std::vector<std::unique_ptr<projector>> analytics_projectors() {
    std::vector<std::unique_ptr<projector>> all;
    all.push_back(std::make_unique<events_projector>());
    all.push_back(std::make_unique<orders_projector>());
    all.push_back(std::make_unique<claims_projector>());
    return all;
}

}  // namespace dealerline::projections
