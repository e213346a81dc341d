// The portal_dealers projection: how each event moves the rows of portal.dealers. One projection per
// file; what they share is in projections/detail/ (docs/projections.md).
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

struct dealer_row {
    std::string dealer_id, name, currency;
    std::int64_t payment_terms_days = 0, credit_limit = 0;
    std::optional<std::int64_t> opening_balance;
    timestamp registered_at, updated_at;
    std::int64_t version = 0, last_position = 0;
};
BOOST_DESCRIBE_STRUCT(dealer_row, (), (dealer_id, name, currency, payment_terms_days, credit_limit, opening_balance,
                                       registered_at, updated_at, version, last_position))

class dealers_projector final : public projector {
public:
    std::string_view name() const override { return "portal_dealers"; }
    std::string_view schema() const override { return "portal"; }
    std::vector<table> tables() const override { return {{"dealers", true}}; }

    std::unique_ptr<state> deferred_state(const std::string& schema, std::size_t max_rows) const override {
        return std::make_unique<held_table<dealer_row>>(schema + ".dealers", max_rows);
    }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state* deferred) const override {
        held_table<dealer_row> per_batch(schema + ".dealers", 0);
        auto& held = held_or(deferred, per_batch);
        auto& dealers = held.rows.rows;
        const auto mine = events_of<dealer_aggregate>(events);
        if (mine.empty()) return;
        for (const auto& [e, ev] : mine)
            dealers.want(id_of(ev));
        dealers.load(tx);
        for (const auto& [e, ev] : mine) {
            const timestamp at{e->recorded_at_us};
            if (const auto* r = std::get_if<dealer_registered>(&ev)) {
                dealers.create(dealer_row{r->dealer_id, r->name, r->currency, r->payment_terms_days,
                                                        r->credit_limit, std::nullopt, at, at, i64(e->version),
                                                        i64(e->position)});
                continue;
            }
            dealer_row* row = dealers.find(id_of(ev));
            if (!row) throw sql::poison(e->position, e->type + " for dealer " + id_of(ev) + " before DealerRegistered");
            std::visit(overloaded{
                           [](const dealer_registered&) {},
                           [&](const dealer_terms_updated& x) {
                               if (x.payment_terms_days) row->payment_terms_days = *x.payment_terms_days;
                               if (x.credit_limit) row->credit_limit = *x.credit_limit;
                           },
                           [&](const opening_balance_set& x) { row->opening_balance = x.amount; },
                       },
                       ev);
            row->updated_at = at;
            row->version = i64(e->version);
            row->last_position = i64(e->position);
        }
        held.rows.batch_done(tx);
    }

};

}  // namespace

std::unique_ptr<projector> make_portal_dealers() { return std::make_unique<dealers_projector>(); }

}  // namespace dealerline::projections
