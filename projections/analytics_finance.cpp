// The analytics_finance projection: how each event moves the rows of analytics.invoice_facts,
// analytics.revenue_monthly, analytics.dso_monthly. One projection per file; what they share is in
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
                else facts.want(id_of(*i));
            }
        facts.load(tx);
        for (const auto& [e, ev] : mine)
            if (const auto* i = std::get_if<invoice_event>(&ev); i && !std::holds_alternative<invoice_issued>(*i))
                if (const auto* row = facts.find(id_of(*i))) dso.want(row->currency);
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

}  // namespace

std::unique_ptr<projector> make_analytics_finance() { return std::make_unique<finance_analytics_projector>(); }

}  // namespace dealerline::projections
