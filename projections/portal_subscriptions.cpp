// The portal_subscriptions projection: how each event moves the rows of portal.subscriptions. One
// projection per file; what they share is in projections/detail/ (docs/projections.md).
#include <boost/json/object.hpp>

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "projections/detail/decode.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;

struct subscription_row {
    std::string subscription_id, dealer_id, plan;
    std::int64_t price = 0;
    sql::date plan_effective_on;
    std::string currency, period, status;
    sql::date starts_on;
    std::optional<sql::date> cancel_on;
    sql::date next_billing;
    std::optional<sql::date> last_billed;
    std::int64_t started_position = 0, version = 0, last_position = 0;
    timestamp updated_at;
};
BOOST_DESCRIBE_STRUCT(subscription_row, (), (subscription_id, dealer_id, plan, price, plan_effective_on, currency, period, status, starts_on,
                                             cancel_on, next_billing, last_billed, started_position, version, last_position, updated_at))

class subscriptions_projector final : public projector {
public:
    std::string_view name() const override { return "portal_subscriptions"; }
    std::string_view schema() const override { return "portal"; }
    std::vector<table> tables() const override { return {{"subscriptions", true}}; }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state*) const override {
        sql::row_set<subscription_row> set(schema + ".subscriptions", 0);
        auto& rows = set.rows;
        const auto mine = events_of<subscription_aggregate>(events);
        if (mine.empty()) return;
        auto id = [](const subscription_event& ev) {
            return std::visit([](const auto& x) -> const std::string& { return x.subscription_id; }, ev);
        };
        for (const auto& [e, ev] : mine) rows.want(id(ev));
        rows.load(tx);
        for (const auto& [e, ev] : mine) {
            const timestamp at{e->recorded_at_us};
            subscription_row* row = nullptr;
            if (const auto* s = std::get_if<subscription_started>(&ev)) {
                row = &rows.create(
                                   subscription_row{s->subscription_id, s->dealer_id, s->plan, s->price, sql::date{s->starts_on}, s->currency,
                                                    s->period, "active", sql::date{s->starts_on}, std::nullopt, sql::date{s->starts_on},
                                                    std::nullopt, i64(e->position), 0, 0, at});
            } else {
                row = rows.find(id(ev));
                if (!row) throw sql::poison(e->position, e->type + " for subscription " + id(ev) + " before SubscriptionStarted");
            }
            std::visit(overloaded{
                           [](const subscription_started&) {},
                           [&](const subscription_plan_changed& x) {
                               if (x.effective_on >= row->plan_effective_on.text) {
                                   row->plan = x.plan;
                                   row->price = x.price;
                                   row->plan_effective_on = sql::date{x.effective_on};
                               }
                           },
                           [&](const subscription_paused&) { row->status = named(subscription_status::paused); },
                           [&](const subscription_resumed&) { row->status = named(subscription_status::active); },
                           [&](const subscription_cancelled& x) {
                               row->status = named(subscription_status::cancelled);
                               row->cancel_on = sql::date{x.effective_on};
                           },
                           [&](const subscription_period_billed& x) {
                               row->last_billed = sql::date{x.period_start};
                               row->next_billing = sql::date{x.period_end};
                           },
                           [&](const subscription_period_skipped& x) { row->next_billing = sql::date{x.period_end}; },
                       },
                       ev);
            row->version = i64(e->version);
            row->last_position = i64(e->position);
            row->updated_at = at;
        }
        set.batch_done(tx);
    }
};

}  // namespace

std::unique_ptr<projector> make_portal_subscriptions() { return std::make_unique<subscriptions_projector>(); }

}  // namespace dealerline::projections
