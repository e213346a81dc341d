// The analytics_claims projection: how each event moves the rows of analytics.claim_facts,
// analytics.claims_monthly. One projection per file; what they share is in projections/detail/
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

std::unique_ptr<projector> make_analytics_claims() { return std::make_unique<claims_projector>(); }

}  // namespace dealerline::projections
