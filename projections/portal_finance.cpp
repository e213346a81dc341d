// The portal_finance projection: how each event moves the rows of portal.invoices, portal.payments,
// portal.dealer_balances and portal.account_entries — the dealer's statement is every document with
// the running balance after it. Folded from the log in position order, exactly once like every
// projection. One projection per file; what they share is in projections/detail/ (docs/projections.md).
#include <boost/json/object.hpp>

#include "domain/account.hpp"
#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "projections/detail/decode.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;

struct invoice_row {
    std::string invoice_id, dealer_id, currency, source, source_id;
    std::int64_t total = 0, paid = 0, open_amount = 0;
    std::string status;
    bool overdue = false;
    sql::date issued_on, due_date;
    std::optional<std::string> void_reason;
    std::int64_t issued_position = 0, version = 0, last_position = 0;
    timestamp updated_at;
};
BOOST_DESCRIBE_STRUCT(invoice_row, (), (invoice_id, dealer_id, currency, source, source_id, total, paid, open_amount, status, overdue,
                                        issued_on, due_date, void_reason, issued_position, version, last_position, updated_at))

struct payment_row {
    std::string payment_id, dealer_id, currency;
    std::int64_t amount = 0, allocated = 0;
    std::string method, received_at, external_ref;
    bool reversed = false;
    timestamp recorded_at;
    std::int64_t version = 0, last_position = 0;
};
BOOST_DESCRIBE_STRUCT(payment_row, (), (payment_id, dealer_id, currency, amount, allocated, method, received_at, external_ref, reversed,
                                        recorded_at, version, last_position))

struct balance_row {
    std::string dealer_id, currency;
    std::int64_t balance = 0, open_invoices = 0, overdue_amount = 0;
    std::optional<timestamp> last_payment_at;
    std::optional<std::int64_t> last_payment_amount;
    timestamp updated_at;
    std::int64_t last_position = 0;
};
BOOST_DESCRIBE_STRUCT(balance_row, (), (dealer_id, currency, balance, open_invoices, overdue_amount, last_payment_at, last_payment_amount,
                                        updated_at, last_position))

struct entry_row {
    std::string dealer_id;
    std::int64_t position = 0;
    timestamp at;
    std::string kind, document_id, description;
    std::int64_t amount = 0, running_balance = 0;
};
BOOST_DESCRIBE_STRUCT(entry_row, (), (dealer_id, position, at, kind, document_id, description, amount, running_balance))

class finance_projector final : public projector {
public:
    std::string_view name() const override { return "portal_finance"; }
    std::string_view schema() const override { return "portal"; }
    std::vector<table> tables() const override {
        return {{"invoices", true}, {"payments", true}, {"dealer_balances", true}, {"account_entries", false}};
    }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state*) const override {
        sql::row_set<invoice_row> invoice_set(schema + ".invoices", 0);
        sql::row_set<payment_row> payment_set(schema + ".payments", 0);
        sql::row_set<balance_row> balance_set(schema + ".dealer_balances", 0);
        auto& invoices = invoice_set.rows;
        auto& payments = payment_set.rows;
        auto& balances = balance_set.rows;
        // The batch's events of the five categories, in position order.
        struct item {
            const storage::recorded_event* e;
            std::variant<dealer_event, invoice_event, payment_event, credit_note_event> ev;
        };
        std::vector<item> mine;
        for (const auto& e : events) {
            const auto c = category_of(e.stream);
            if (c == dealer_aggregate::category) mine.push_back({&e, decode_or_poison<dealer_aggregate>(e)});
            else if (c == invoice_aggregate::category) mine.push_back({&e, decode_or_poison<invoice_aggregate>(e)});
            else if (c == payment_aggregate::category) mine.push_back({&e, decode_or_poison<payment_aggregate>(e)});
            else if (c == credit_note_aggregate::category) mine.push_back({&e, decode_or_poison<credit_note_aggregate>(e)});
        }
        if (mine.empty()) return;
        for (const auto& [e, ev] : mine)
            std::visit(overloaded{
                           [&](const dealer_event& d) { balances.want(id_of(d)); },
                           [&](const invoice_event& i) {
                               invoices.want(id_of(i));
                               if (const auto* x = std::get_if<invoice_issued>(&i)) balances.want(x->dealer_id);
                           },
                           [&](const payment_event& p) {
                               payments.want(id_of(p));
                               if (const auto* x = std::get_if<payment_recorded>(&p)) balances.want(x->dealer_id);
                           },
                           [&](const credit_note_event& c) {
                               std::visit(overloaded{[&](const credit_note_issued& x) { balances.want(x.dealer_id); }}, c);
                           },
                       },
                       ev);
        invoices.load(tx);
        payments.load(tx);
        // Balances of dealers whose invoices or payments (loaded above) move in this batch.
        for (const auto& [e, ev] : mine) {
            if (const auto* i = std::get_if<invoice_event>(&ev))
                if (auto* row = invoices.find(id_of(*i))) balances.want(row->dealer_id);
            if (const auto* p = std::get_if<payment_event>(&ev))
                if (auto* row = payments.find(id_of(*p))) balances.want(row->dealer_id);
        }
        balances.load(tx);
        std::vector<entry_row> entries;
        for (const auto& [e, ev] : mine) {
            const timestamp at{e->recorded_at_us};
            auto account = [&](const std::string& dealer_id) -> balance_row& {
                balance_row* b = balances.find(dealer_id);
                if (!b) throw sql::poison(e->position, e->type + ": dealer " + dealer_id + " has no account (not registered)");
                b->updated_at = at;
                b->last_position = i64(e->position);
                return *b;
            };
            auto invoice = [&](const std::string& id) -> invoice_row& {
                invoice_row* row = invoices.find(id);
                if (!row) throw sql::poison(e->position, e->type + " for invoice " + id + " before InvoiceIssued");
                row->version = i64(e->version);
                row->last_position = i64(e->position);
                row->updated_at = at;
                return *row;
            };
            auto payment = [&](const std::string& id) -> payment_row& {
                payment_row* row = payments.find(id);
                if (!row) throw sql::poison(e->position, e->type + " for payment " + id + " before PaymentRecorded");
                row->version = i64(e->version);
                row->last_position = i64(e->position);
                return *row;
            };
            // An invoice's open amount moved by `delta` (payments applied: negative).
            auto reopen = [&](invoice_row& row, std::int64_t delta) {
                auto& b = account(row.dealer_id);
                const bool was_open = row.status == "open";
                row.paid -= delta;
                row.open_amount += delta;
                if (row.overdue) b.overdue_amount += delta;
                row.status = row.open_amount > 0 ? "open" : "paid";
                b.open_invoices += (row.status == "open") - was_open;
            };
            // The statement's rule is the domain's (domain/account.hpp, shared with the live feed),
            // taken before the rows below move: a void counts what its invoice had open.
            const auto statement =
                std::visit(overloaded{
                               [](const dealer_event& d) { return domain::account_entry_of(d); },
                               [&](const invoice_event& i) {
                                   return domain::account_entry_of(i, [&](const std::string& id) {
                                       const auto& row = invoice(id);
                                       return domain::account_document{row.dealer_id, row.open_amount};
                                   });
                               },
                               [&](const payment_event& p) {
                                   return domain::account_entry_of(p, [&](const std::string& id) {
                                       const auto& row = payment(id);
                                       return domain::account_document{row.dealer_id, row.amount};
                                   });
                               },
                               [](const credit_note_event& c) { return domain::account_entry_of(c); },
                           },
                           ev);
            // Called where the event's rows move; the entry itself is the statement's.
            auto entry = [&](balance_row& b, std::string description) {
                if (!statement) throw sql::poison(e->position, e->type + ": no statement entry for an event that moves the balance");
                b.balance += statement->amount;
                entries.push_back({b.dealer_id, i64(e->position), at, std::string(domain::to_string(statement->kind)), statement->document_id,
                                   std::move(description), statement->amount, b.balance});
            };
            std::visit(
                overloaded{
                    [&](const dealer_event& d) {
                        if (const auto* r = std::get_if<dealer_registered>(&d)) {
                            balances.create(balance_row{r->dealer_id, r->currency, 0, 0, 0, std::nullopt, std::nullopt, at,
                                                                      i64(e->position)});
                        } else if (const auto* o = std::get_if<opening_balance_set>(&d)) {
                            entry(account(o->dealer_id), "opening balance");
                        }
                    },
                    [&](const invoice_event& i) {
                        std::visit(overloaded{
                                       [&](const invoice_issued& x) {
                                           invoices.create(invoice_row{x.invoice_id, x.dealer_id, x.currency, x.source,
                                                                                     x.source_id, x.total, 0, x.total,
                                                                                     x.total > 0 ? "open" : "paid", false,
                                                                                     sql::date{x.issued_on}, sql::date{x.due_date},
                                                                                     std::nullopt, i64(e->position), i64(e->version),
                                                                                     i64(e->position), at});
                                           auto& b = account(x.dealer_id);
                                           if (x.total > 0) ++b.open_invoices;
                                           entry(b, "invoice " + x.invoice_id + " (" + x.source + " " + x.source_id + ")");
                                       },
                                       [&](const invoice_payment_applied& x) { reopen(invoice(x.invoice_id), -x.amount); },
                                       [&](const invoice_payment_reversed& x) { reopen(invoice(x.invoice_id), x.amount); },
                                       [&](const invoice_voided& x) {
                                           auto& row = invoice(x.invoice_id);
                                           auto& b = account(row.dealer_id);
                                           if (row.overdue) b.overdue_amount -= row.open_amount;
                                           if (row.status == "open") --b.open_invoices;
                                           entry(b, "invoice " + x.invoice_id + " voided: " + x.reason);
                                           row.status = named(invoice_status::voided);
                                           row.void_reason = x.reason;
                                           row.open_amount = 0;
                                       },
                                       [&](const invoice_overdue& x) {
                                           auto& row = invoice(x.invoice_id);
                                           if (!row.overdue && row.status == "open") account(row.dealer_id).overdue_amount += row.open_amount;
                                           row.overdue = true;
                                       },
                                   },
                                   i);
                    },
                    [&](const payment_event& p) {
                        std::visit(overloaded{
                                       [&](const payment_recorded& x) {
                                           payments.create(payment_row{x.payment_id, x.dealer_id, x.currency, x.amount, 0,
                                                                                     x.method, x.received_at, x.external_ref, false, at,
                                                                                     i64(e->version), i64(e->position)});
                                           auto& b = account(x.dealer_id);
                                           b.last_payment_at = at;
                                           b.last_payment_amount = x.amount;
                                           entry(b, "payment " + x.external_ref + " (" + x.method + ")");
                                       },
                                       [&](const payment_allocated& x) { payment(x.payment_id).allocated += x.amount; },
                                       [&](const payment_reversed& x) {
                                           auto& row = payment(x.payment_id);
                                           row.reversed = true;
                                           row.allocated = 0;
                                           entry(account(row.dealer_id), "payment " + row.external_ref + " reversed: " + x.reason);
                                       },
                                   },
                                   p);
                    },
                    [&](const credit_note_event& c) {
                        std::visit(overloaded{[&](const credit_note_issued& x) {
                                       entry(account(x.dealer_id), "credit note " + x.credit_note_id + ": " + x.reason);
                                   }},
                                   c);
                    },
                },
                ev);
        }
        invoice_set.batch_done(tx);
        payment_set.batch_done(tx);
        balance_set.batch_done(tx);
        sql::copy_rows<entry_row>(tx, schema + ".account_entries", entries);
    }
};

}  // namespace

std::unique_ptr<projector> make_portal_finance() { return std::make_unique<finance_projector>(); }

}  // namespace dealerline::projections
