// Analytics for money, stock and subscriptions (docs/analytics.md): invoice facts, monthly
// revenue, days sales outstanding, stock movements by day and actor, subscription facts and
// monthly recurring revenue. Folded from the log in position order like every projection, so a
// rebuild gives the same rows as the live tables.
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
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;

// ─── months ──────────────────────────────────────────────────────────────────────────────────

// "2026-11-23" → "2026-11-01"
std::string month_of_date(std::string_view date) { return std::string(date.substr(0, 8)) + "01"; }

std::int64_t days_since_epoch(const std::string& date) {
    const auto d = parse_date(date);
    if (!d) throw std::invalid_argument("not a date: " + date);
    return *d;
}

std::string last_day_of(const std::string& month) { return date_from_days(days_since_epoch(first_of_next_month(month)) - 1); }

std::int64_t days_in(const std::string& month) { return days_since_epoch(first_of_next_month(month)) - days_since_epoch(month); }

// Rows keyed by (month, currency) whose level columns carry from one month to the next: every
// month between a currency's first and last row has a row, so a level (receivables, MRR) can be
// read off any month. All rows of the currencies a batch touches are loaded (a few per year),
// changed in memory and the changed ones written back in one upsert. `Row::carry(prev)` makes
// the row of the month after `prev`: levels kept, flows zero.
template <class Row>
class monthly_series {
public:
    explicit monthly_series(std::string table) : table_(std::move(table)) {}

    void want(const std::string& currency) { wanted_.insert(currency); }

    void load(pqxx::transaction_base& tx) {
        if (wanted_.empty()) return;
        std::string select = "SELECT " + sql::select_list<Row>() + " FROM " + table_ + " WHERE currency IN ";
        sql::literal_list(select, wanted_);
        for (const auto& r : tx.exec(select)) {
            auto row = sql::parse_row<Row>(r);
            auto key = std::pair{row.currency, row.month.text};
            rows_.emplace(std::move(key), std::move(row));
        }
    }

    // The row of `month`, made (with every missing month between it and the currency's other
    // rows) if it is not there.
    Row& at(const std::string& currency, const std::string& month) {
        const auto key = std::pair{currency, month};
        if (auto it = rows_.find(key); it != rows_.end()) {
            dirty_.insert(key);
            return it->second;
        }
        const auto first = rows_.lower_bound({currency, ""});
        const bool none = first == rows_.end() || first->first.first != currency;
        if (none || month < first->first.second) {
            // Before every row (or the first): nothing happened earlier, levels start at zero.
            const std::string until = none ? first_of_next_month(month) : first->first.second;
            for (auto m = month; m < until; m = first_of_next_month(m)) make(currency, m, Row::first(currency, m));
        } else {
            // After the last row (rows are contiguous): each new month carries the one before.
            const Row* before = &std::prev(rows_.lower_bound(key))->second;
            for (auto m = first_of_next_month(before->month.text); m <= month; m = first_of_next_month(m)) {
                make(currency, m, Row::carry(*before));
                before = &rows_.at({currency, m});
            }
        }
        return rows_.at(key);
    }

    // Applies `change` to the row of `month` and every later row of the currency (a level moved).
    template <class F>
    void from(const std::string& currency, const std::string& month, F change) {
        (void)at(currency, month);
        for (auto it = rows_.find({currency, month}); it != rows_.end() && it->first.first == currency; ++it) {
            change(it->second);
            dirty_.insert(it->first);
        }
    }

    void write(pqxx::transaction_base& tx) {
        if (dirty_.empty()) return;
        std::vector<Row> changed;  // a few rows: months × currencies
        changed.reserve(dirty_.size());
        for (const auto& key : dirty_) changed.push_back(rows_.at(key));
        std::string statement;
        sql::append_insert<Row>(statement, table_, changed,
                                "\nON CONFLICT (month, currency) DO UPDATE SET " + sql::set_all_excluded<Row>(2));
        tx.exec(statement);
        dirty_.clear();
    }

private:
    void make(const std::string& currency, const std::string& month, Row row) {
        rows_.emplace(std::pair{currency, month}, std::move(row));
        dirty_.insert({currency, month});
    }

    std::string table_;
    std::set<std::string> wanted_;
    std::map<std::pair<std::string, std::string>, Row> rows_;  // (currency, month)
    std::set<std::pair<std::string, std::string>> dirty_;
};

// ─── analytics_finance: invoice_facts, revenue_monthly, dso_monthly ──────────────────────────

struct invoice_fact_row {
    std::string invoice_id, dealer_id, currency, source, source_id;
    std::int64_t total = 0, paid = 0;
    std::string status;
    sql::date issued_on, due_date;
    timestamp issued_at;
    std::optional<timestamp> paid_at, overdue_at, voided_at;
    std::int64_t last_position = 0;
};
BOOST_DESCRIBE_STRUCT(invoice_fact_row, (), (invoice_id, dealer_id, currency, source, source_id, total, paid, status, issued_on, due_date,
                                             issued_at, paid_at, overdue_at, voided_at, last_position))

struct revenue_row {
    sql::date month;
    std::string dealer_id, currency;
    std::int64_t invoices = 0, invoiced = 0, order_revenue = 0, subscription_revenue = 0, other_revenue = 0, voided = 0,
                 credit_notes = 0, credited = 0;
};
BOOST_DESCRIBE_STRUCT(revenue_row, (), (month, dealer_id, currency, invoices, invoiced, order_revenue, subscription_revenue, other_revenue,
                                        voided, credit_notes, credited))

struct dso_row {
    sql::date month;
    std::string currency;
    std::int64_t days = 0, invoices = 0, sales = 0, collected = 0, voided = 0, receivables = 0;

    static dso_row first(const std::string& currency, const std::string& month) {
        return {sql::date{month}, currency, days_in(month), 0, 0, 0, 0, 0};
    }
    static dso_row carry(const dso_row& prev) {
        auto row = first(prev.currency, first_of_next_month(prev.month.text));
        row.receivables = prev.receivables;
        return row;
    }
};
BOOST_DESCRIBE_STRUCT(dso_row, (), (month, currency, days, invoices, sales, collected, voided, receivables))

const std::string& invoice_id_of(const invoice_event& ev) {
    return std::visit([](const auto& x) -> const std::string& { return x.invoice_id; }, ev);
}

class finance_analytics_projector final : public projector {
public:
    std::string_view name() const override { return "analytics_finance"; }
    std::string_view schema() const override { return "analytics"; }
    std::vector<table> tables() const override { return {{"invoice_facts", true}, {"revenue_monthly", true}, {"dso_monthly", true}}; }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state*) const override {
        sql::row_set<invoice_fact_row> fact_set(schema + ".invoice_facts", 0);
        auto& facts = fact_set.rows;
        monthly_series<dso_row> dso(schema + ".dso_monthly");
        using item = std::pair<const storage::recorded_event*, std::variant<invoice_event, credit_note_event>>;
        std::vector<item> mine;
        for (const auto& e : events) {
            const auto c = category_of(e.stream);
            if (c == invoice_aggregate::category) mine.emplace_back(&e, decode_or_poison<invoice_aggregate>(e));
            else if (c == credit_note_aggregate::category) mine.emplace_back(&e, decode_or_poison<credit_note_aggregate>(e));
        }
        if (mine.empty()) return;
        for (const auto& [e, ev] : mine)
            if (const auto* i = std::get_if<invoice_event>(&ev)) {
                if (const auto* issued = std::get_if<invoice_issued>(i)) dso.want(issued->currency);
                else facts.want(invoice_id_of(*i));
            }
        facts.load(tx);
        for (const auto& [e, ev] : mine)
            if (const auto* i = std::get_if<invoice_event>(&ev); i && !std::holds_alternative<invoice_issued>(*i))
                if (const auto* row = facts.find(invoice_id_of(*i))) dso.want(row->currency);
        dso.load(tx);

        std::map<std::tuple<std::string, std::string, std::string>, revenue_row> revenue;  // (month, dealer, currency)
        for (const auto& [e, ev] : mine) {
            const timestamp at{e->recorded_at_us};
            const auto month = sql::month_of(e->recorded_at_us).text;
            auto revenue_of = [&](const std::string& dealer_id, const std::string& currency) -> revenue_row& {
                auto& r = revenue[{month, dealer_id, currency}];
                if (r.dealer_id.empty()) {
                    r.month = sql::date{month};
                    r.dealer_id = dealer_id;
                    r.currency = currency;
                }
                return r;
            };
            auto receivables = [&](const std::string& currency, std::int64_t delta) {
                dso.from(currency, month, [&](dso_row& r) { r.receivables += delta; });
            };
            auto fact = [&](const std::string& id) -> invoice_fact_row& {
                auto* row = facts.find(id);
                if (!row) throw sql::poison(e->position, e->type + " for invoice " + id + " before InvoiceIssued");
                row->last_position = i64(e->position);
                return *row;
            };
            // Payments applied (positive) or taken back (negative).
            auto settle = [&](invoice_fact_row& row, std::int64_t amount) {
                row.paid += amount;
                if (row.status != "voided") {
                    const bool paid = row.paid >= row.total;
                    if (paid && row.status == "open") row.paid_at = at;
                    if (!paid) row.paid_at.reset();
                    row.status = paid ? "paid" : "open";
                }
                dso.at(row.currency, month).collected += amount;
                receivables(row.currency, -amount);
            };
            std::visit(
                overloaded{
                    [&](const invoice_event& i) {
                        std::visit(overloaded{
                                       [&](const invoice_issued& x) {
                                           facts.create(
                                                        invoice_fact_row{x.invoice_id, x.dealer_id, x.currency, x.source, x.source_id, x.total,
                                                                         0, x.total > 0 ? "open" : "paid", sql::date{x.issued_on},
                                                                         sql::date{x.due_date}, at,
                                                                         x.total > 0 ? std::nullopt : std::optional<timestamp>(at),
                                                                         std::nullopt, std::nullopt, i64(e->position)});
                                           auto& r = revenue_of(x.dealer_id, x.currency);
                                           ++r.invoices;
                                           r.invoiced += x.total;
                                           (x.source == "order" ? r.order_revenue
                                                                : x.source == "subscription" ? r.subscription_revenue : r.other_revenue) += x.total;
                                           auto& d = dso.at(x.currency, month);
                                           ++d.invoices;
                                           d.sales += x.total;
                                           receivables(x.currency, x.total);
                                       },
                                       [&](const invoice_payment_applied& x) { settle(fact(x.invoice_id), x.amount); },
                                       [&](const invoice_payment_reversed& x) { settle(fact(x.invoice_id), -x.amount); },
                                       [&](const invoice_voided& x) {
                                           auto& row = fact(x.invoice_id);
                                           const auto open = row.total - row.paid;
                                           row.status = named(invoice_status::voided);
                                           row.voided_at = at;
                                           revenue_of(row.dealer_id, row.currency).voided += open;
                                           dso.at(row.currency, month).voided += open;
                                           receivables(row.currency, -open);
                                       },
                                       [&](const invoice_overdue& x) {
                                           auto& row = fact(x.invoice_id);
                                           if (!row.overdue_at) row.overdue_at = at;
                                       },
                                   },
                                   i);
                    },
                    [&](const credit_note_event& c) {
                        std::visit(overloaded{[&](const credit_note_issued& x) {
                                       auto& r = revenue_of(x.dealer_id, x.currency);
                                       ++r.credit_notes;
                                       r.credited += x.amount;
                                   }},
                                   c);
                    },
                },
                ev);
        }
        fact_set.batch_done(tx);
        dso.write(tx);
        sql::add_to_counters<revenue_row>(tx, schema + ".revenue_monthly", std::views::values(revenue), 3);  // (month, dealer, currency)
    }
};

// ─── analytics_stock: stock_movements ────────────────────────────────────────────────────────

struct stock_movement_row {
    sql::date day;
    std::string warehouse, sku, actor;
    std::int64_t received = 0, reserved = 0, released = 0, issued = 0, written_off = 0, count_difference = 0, movements = 0;
};
BOOST_DESCRIBE_STRUCT(stock_movement_row, (), (day, warehouse, sku, actor, received, reserved, released, issued, written_off,
                                               count_difference, movements))

class stock_analytics_projector final : public projector {
public:
    std::string_view name() const override { return "analytics_stock"; }
    std::string_view schema() const override { return "analytics"; }
    std::vector<table> tables() const override { return {{"stock_movements", true}}; }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state*) const override {
        const auto mine = events_of<stock_aggregate>(events);
        if (mine.empty()) return;
        std::map<std::tuple<std::string, std::string, std::string, std::string>, stock_movement_row> movements;
        for (const auto& [e, ev] : mine) {
            const auto day = sql::day_of(e->recorded_at_us);
            const auto& [warehouse, sku] =
                std::visit([](const auto& x) { return std::pair<const std::string&, const std::string&>{x.warehouse, x.sku}; }, ev);
            auto& m = movements[{day.text, warehouse, sku, e->actor}];
            if (m.actor.empty()) {
                m.day = day;
                m.warehouse = warehouse;
                m.sku = sku;
                m.actor = e->actor;
            }
            ++m.movements;
            std::visit(overloaded{
                           [&](const stock_received& x) { m.received += x.quantity; },
                           [&](const stock_reserved& x) { m.reserved += x.quantity; },
                           [&](const stock_released& x) { m.released += x.quantity; },
                           [&](const stock_issued& x) { m.issued += x.quantity; },
                           [&](const stock_written_off& x) { m.written_off += x.quantity; },
                           [&](const stock_counted& x) { m.count_difference += x.difference; },
                       },
                       ev);
        }
        sql::add_to_counters<stock_movement_row>(tx, schema + ".stock_movements", std::views::values(movements), 4);  // (day, warehouse, sku, actor)
    }
};

// ─── analytics_subscriptions: subscription_facts, mrr_monthly ────────────────────────────────

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

std::vector<std::unique_ptr<projector>> money_analytics_projectors() {
    std::vector<std::unique_ptr<projector>> all;
    all.push_back(std::make_unique<finance_analytics_projector>());
    all.push_back(std::make_unique<stock_analytics_projector>());
    all.push_back(std::make_unique<subscriptions_analytics_projector>());
    return all;
}

}  // namespace dealerline::projections
