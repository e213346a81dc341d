// The analytics_subscriptions projection: how each event moves the rows of
// analytics.subscription_facts, analytics.mrr_monthly. One projection per file; what they share is in
// projections/detail/ (docs/projections.md).
// Folded from the log in position order like every projection, so a rebuild gives the same rows
// as the live tables.
#include <map>
#include <ranges>
#include <set>
#include <tuple>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "domain/time.hpp"
#include "projections/detail/decode.hpp"
#include "projections/detail/months.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;

struct subscription_fact_row {
    std::string subscription_id, dealer_id, currency, period, plan;
    std::int64_t price = 0, monthly_value = 0;
    sql::date plan_effective_on;
    std::string status;
    sql::date starts_on;
    std::optional<sql::date> cancel_on;
    std::int64_t periods_billed = 0, billed = 0;
    sql::json plans, pauses;  // the plan schedule and every pause and resume: what MRR is derived from
    std::int64_t last_position = 0;
};
BOOST_DESCRIBE_STRUCT(subscription_fact_row, (), (subscription_id, dealer_id, currency, period, plan, price, monthly_value,
                                                  plan_effective_on, status, starts_on, cancel_on, periods_billed, billed, plans,
                                                  pauses, last_position))

struct mrr_row {
    sql::date month;
    std::string currency;
    std::int64_t new_mrr = 0, expansion_mrr = 0, contraction_mrr = 0, paused_mrr = 0, resumed_mrr = 0, churned_mrr = 0,
                 new_subscriptions = 0, churned_subscriptions = 0, mrr = 0, active_subscriptions = 0;

    static mrr_row first(const std::string& currency, const std::string& month) {
        mrr_row row;
        row.month = sql::date{month};
        row.currency = currency;
        return row;
    }
    static mrr_row carry(const mrr_row& prev) {
        auto row = first(prev.currency, first_of_next_month(prev.month.text));
        row.mrr = prev.mrr;
        row.active_subscriptions = prev.active_subscriptions;
        return row;
    }
};
BOOST_DESCRIBE_STRUCT(mrr_row, (), (month, currency, new_mrr, expansion_mrr, contraction_mrr, paused_mrr, resumed_mrr, churned_mrr,
                                    new_subscriptions, churned_subscriptions, mrr, active_subscriptions))

// A period's price per month, rounded half up to the minor unit (once per subscription, so the
// monthly figures add up exactly).
std::int64_t monthly_value(std::int64_t price, const std::string& period) {
    const std::int64_t months = period == "yearly" ? 12 : period == "quarterly" ? 3 : 1;
    return (2 * price + months) / (2 * months);
}

// What a subscription's contribution to MRR is derived from.
struct life {
    std::string starts_on, cancel_on;
    std::vector<std::pair<std::string, std::int64_t>> values;  // (effective on, monthly value), by date
    std::vector<std::pair<std::string, bool>> pauses;          // (on, paused), as they happened
};

life life_of(const subscription_fact_row& row) {
    life l{row.starts_on.text, row.cancel_on ? row.cancel_on->text : "", {}, {}};
    const auto plans = boost::json::parse(row.plans.text), pauses = boost::json::parse(row.pauses.text);
    for (const auto& p : plans.as_array()) {
        const auto& o = p.as_object();
        l.values.emplace_back(std::string(o.at("on").as_string()), monthly_value(o.at("price").as_int64(), row.period));
    }
    for (const auto& p : pauses.as_array()) {
        const auto& o = p.as_object();
        l.pauses.emplace_back(std::string(o.at("on").as_string()), o.at("paused").as_bool());
    }
    return l;
}

enum class phase { not_started, active, paused, cancelled };
struct standing {
    phase is = phase::not_started;
    std::int64_t value = 0;
};

standing standing_on(const life& l, const std::string& day) {
    if (day < l.starts_on) return {};
    if (!l.cancel_on.empty() && day >= l.cancel_on) return {phase::cancelled, 0};
    bool paused = false;
    for (const auto& [on, p] : l.pauses)
        if (on <= day) paused = p;
    if (paused) return {phase::paused, 0};
    std::int64_t value = 0;
    for (const auto& [on, v] : l.values)
        if (on <= day) value = v;
    return {phase::active, value};
}

// How one subscription moved MRR, month by month (each month's standing at its last day against
// the month before): the rows of mrr_monthly are the sum of these over all subscriptions.
std::vector<mrr_row> movements_of(const life& l, const std::string& currency) {
    std::string first = l.starts_on, last = l.starts_on;
    for (const auto& [on, _] : l.values) last = std::max(last, on);
    for (const auto& [on, _] : l.pauses) {
        first = std::min(first, on);
        last = std::max(last, on);
    }
    if (!l.cancel_on.empty()) last = std::max(last, l.cancel_on);
    std::vector<mrr_row> out;
    standing before;
    bool counted = false;  // active at some month's end: its first such month is "new"
    for (auto month = month_of_date(first); month <= month_of_date(last); month = first_of_next_month(month)) {
        const auto now = standing_on(l, last_day_of(month));
        auto row = mrr_row::first(currency, month);
        if (now.is == phase::active && before.is != phase::active) {
            (counted ? row.resumed_mrr : row.new_mrr) += now.value;
            if (!counted) ++row.new_subscriptions;
            counted = true;
            ++row.active_subscriptions;
        } else if (now.is == phase::active) {
            if (now.value > before.value) row.expansion_mrr += now.value - before.value;
            else row.contraction_mrr += before.value - now.value;
        } else if (before.is == phase::active) {
            (now.is == phase::paused ? row.paused_mrr : row.churned_mrr) += before.value;
            if (now.is == phase::cancelled) ++row.churned_subscriptions;
            --row.active_subscriptions;
        } else if (now.is == phase::cancelled && before.is == phase::paused && counted) {
            ++row.churned_subscriptions;
        }
        row.mrr = row.new_mrr + row.expansion_mrr - row.contraction_mrr - row.paused_mrr + row.resumed_mrr - row.churned_mrr;
        before = now;
        if (row.mrr != 0 || row.new_subscriptions != 0 || row.churned_subscriptions != 0 || row.active_subscriptions != 0)
            out.push_back(std::move(row));
    }
    return out;
}

class subscriptions_analytics_projector final : public projector {
public:
    std::string_view name() const override { return "analytics_subscriptions"; }
    std::string_view schema() const override { return "analytics"; }
    std::vector<table> tables() const override { return {{"subscription_facts", true}, {"mrr_monthly", true}}; }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state*) const override {
        sql::row_set<subscription_fact_row> fact_set(schema + ".subscription_facts", 0);
        auto& facts = fact_set.rows;
        monthly_series<mrr_row> mrr(schema + ".mrr_monthly");
        const auto mine = events_of<subscription_aggregate>(events);
        if (mine.empty()) return;
        auto id = [](const subscription_event& ev) -> const std::string& {
            return std::visit([](const auto& x) -> const std::string& { return x.subscription_id; }, ev);
        };
        for (const auto& [e, ev] : mine)
            if (const auto* s = std::get_if<subscription_started>(&ev)) mrr.want(s->currency);
            else facts.want(id(ev));
        facts.load(tx);
        for (const auto& [e, ev] : mine)
            if (const auto* row = std::holds_alternative<subscription_started>(ev) ? nullptr : facts.find(id(ev))) mrr.want(row->currency);
        mrr.load(tx);

        // Adds (+1) or takes back (−1) a subscription's movements.
        auto add = [&](const subscription_fact_row& row, std::int64_t sign) {
            for (const auto& m : movements_of(life_of(row), row.currency)) {
                auto& r = mrr.at(row.currency, m.month.text);
                r.new_mrr += sign * m.new_mrr;
                r.expansion_mrr += sign * m.expansion_mrr;
                r.contraction_mrr += sign * m.contraction_mrr;
                r.paused_mrr += sign * m.paused_mrr;
                r.resumed_mrr += sign * m.resumed_mrr;
                r.churned_mrr += sign * m.churned_mrr;
                r.new_subscriptions += sign * m.new_subscriptions;
                r.churned_subscriptions += sign * m.churned_subscriptions;
                mrr.from(row.currency, m.month.text, [&](mrr_row& later) {
                    later.mrr += sign * m.mrr;
                    later.active_subscriptions += sign * m.active_subscriptions;
                });
            }
        };
        for (const auto& [e, ev] : mine) {
            subscription_fact_row* row = nullptr;
            if (const auto* s = std::get_if<subscription_started>(&ev)) {
                boost::json::array plans{boost::json::object{{"on", s->starts_on}, {"plan", s->plan}, {"price", s->price}}};
                row = &facts.create(
                                    subscription_fact_row{s->subscription_id, s->dealer_id, s->currency, s->period, s->plan, s->price,
                                                          monthly_value(s->price, s->period), sql::date{s->starts_on}, "active",
                                                          sql::date{s->starts_on}, std::nullopt, 0, 0,
                                                          sql::json{boost::json::serialize(plans)}, sql::json{"[]"}, 0});
            } else {
                row = facts.find(id(ev));
                if (!row) throw sql::poison(e->position, e->type + " for subscription " + id(ev) + " before SubscriptionStarted");
                add(*row, -1);
            }
            auto pause = [&](const std::string& on, bool paused) {
                auto pauses = boost::json::parse(row->pauses.text).as_array();
                pauses.push_back(boost::json::object{{"on", on}, {"paused", paused}});
                row->pauses.text = boost::json::serialize(pauses);
                row->status = paused ? "paused" : "active";
            };
            std::visit(overloaded{
                           [](const subscription_started&) {},
                           [&](const subscription_plan_changed& x) {
                               // As the domain keeps it: one plan per date, in date order.
                               boost::json::array plans;
                               auto before = boost::json::parse(row->plans.text);
                               for (auto& p : before.as_array())
                                   if (p.as_object().at("on").as_string() != x.effective_on) plans.push_back(std::move(p));
                               plans.push_back(boost::json::object{{"on", x.effective_on}, {"plan", x.plan}, {"price", x.price}});
                               std::stable_sort(plans.begin(), plans.end(), [](const auto& a, const auto& b) {
                                   return a.as_object().at("on").as_string() < b.as_object().at("on").as_string();
                               });
                               const auto& newest = plans.back().as_object();
                               row->plan = std::string(newest.at("plan").as_string());
                               row->price = newest.at("price").as_int64();
                               row->monthly_value = monthly_value(row->price, row->period);
                               row->plan_effective_on = sql::date{std::string(newest.at("on").as_string())};
                               row->plans.text = boost::json::serialize(plans);
                           },
                           [&](const subscription_paused& x) { pause(x.on, true); },
                           [&](const subscription_resumed& x) { pause(x.on, false); },
                           [&](const subscription_cancelled& x) {
                               row->status = named(subscription_status::cancelled);
                               row->cancel_on = sql::date{x.effective_on};
                           },
                           [&](const subscription_period_billed& x) {
                               ++row->periods_billed;
                               row->billed += x.amount;
                               (void)mrr.at(row->currency, month_of_date(x.period_start));  // every billed month has a row
                           },
                           [&](const subscription_period_skipped& x) { (void)mrr.at(row->currency, month_of_date(x.period_start)); },
                       },
                       ev);
            row->last_position = i64(e->position);
            add(*row, +1);
        }
        fact_set.batch_done(tx);
        mrr.write(tx);
    }
};

}  // namespace

std::unique_ptr<projector> make_analytics_subscriptions() { return std::make_unique<subscriptions_analytics_projector>(); }

}  // namespace dealerline::projections
