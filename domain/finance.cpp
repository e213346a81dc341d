#include "domain/finance.hpp"

#include <algorithm>

#include "domain/time.hpp"
#include "domain/validate.hpp"

namespace dealerline::domain {
namespace {

constexpr std::int64_t max_amount = 1'000'000'000'000'00;  // 10^14 minor units: far above any invoice, far below overflow

// Finance is the accountant's; the process managers and schedulers act as `system`.
constexpr std::initializer_list<role> finance{role::accountant, role::system};

std::optional<rejection> amount(std::string_view field, std::int64_t a) {
    if (a <= 0 || a > max_amount)
        return reject(codes::validation_failed, std::string(field) + " must be between 1 and " + std::to_string(max_amount));
    return std::nullopt;
}

std::optional<rejection> registered(const context& ctx, const std::string& dealer_id) {
    if (!ctx.dealer || !ctx.dealer->registered) return reject(codes::dealer_not_registered, "dealer " + dealer_id + " is not registered");
    return std::nullopt;
}

std::optional<rejection> one_of(std::string_view field, const std::string& value, std::initializer_list<std::string_view> allowed) {
    for (auto a : allowed)
        if (value == a) return std::nullopt;
    std::string list;
    for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return reject(codes::validation_failed, std::string(field) + " must be one of " + list);
}

}  // namespace

std::string_view to_string(invoice_status s) noexcept {
    switch (s) {
        case invoice_status::none: return "none";
        case invoice_status::open: return "open";
        case invoice_status::paid: return "paid";
        case invoice_status::voided: return "voided";
    }
    return "unknown";
}

// ---- invoice ----

std::string invoice_aggregate::stream_id(const command& c) {
    return std::visit([](const auto& x) { return x.invoice_id; }, c);
}

result<std::vector<invoice_event>> invoice_aggregate::decide(const command& cmd, const state& s, const context& ctx) {
    using events = std::vector<invoice_event>;
    auto existing = [&](const std::string& id, std::string_view what) {
        return check::may_act_on("invoice", id, s.status != invoice_status::none, s.dealer_id, ctx.by, finance, what);
    };
    return std::visit(
        overloaded{
            [&](const issue_invoice& c) -> result<events> {
                if (auto r = check::id("invoice_id", c.invoice_id)) return *r;
                if (auto r = check::id("dealer_id", c.dealer_id)) return *r;
                if (auto r = check::role_in(ctx.by, finance, "issue invoices")) return *r;
                if (s.status != invoice_status::none) return reject(codes::already_exists, "invoice " + c.invoice_id + " already exists");
                if (auto r = one_of("source", c.source, {"order", "subscription", "delivery", "manual"})) return *r;
                if (auto r = check::id("source_id", c.source_id)) return *r;
                if (c.lines.empty()) return reject(codes::validation_failed, "lines must not be empty");
                if (c.lines.size() > 1000) return reject(codes::validation_failed, "an invoice has at most 1000 lines");
                std::int64_t total = 0;
                for (std::size_t i = 0; i < c.lines.size(); ++i) {
                    const auto& l = c.lines[i];
                    const auto at = "lines[" + std::to_string(i) + "]";
                    if (auto r = check::text(at + ".description", l.description, 500)) return *r;
                    if (l.quantity <= 0 || l.quantity > 1'000'000)
                        return reject(codes::validation_failed, at + ".quantity must be between 1 and 1000000");
                    if (l.unit_price < 0 || l.unit_price > 1'000'000'000'00)
                        return reject(codes::validation_failed, at + ".unit_price must be between 0 and 100000000000");
                    total += l.quantity * l.unit_price;
                }
                if (total > max_amount) return reject(codes::validation_failed, "the total is over " + std::to_string(max_amount));
                if (c.due_date)
                    if (auto r = check::date("due_date", *c.due_date)) return *r;
                if (auto r = registered(ctx, c.dealer_id)) return *r;
                const auto issued_on = date_of(ctx.now_us);
                const auto due = c.due_date ? *c.due_date : date_from_days(*parse_date(issued_on) + ctx.dealer->payment_terms_days);
                if (due < issued_on) return reject(codes::validation_failed, "due_date " + due + " is before the issue date " + issued_on);
                return events{invoice_issued{c.invoice_id, c.dealer_id, ctx.dealer->currency, c.source, c.source_id, c.lines, total,
                                             issued_on, due}};
            },
            [&](const void_invoice& c) -> result<events> {
                if (auto r = existing(c.invoice_id, "void")) return *r;
                if (auto r = check::text("reason", c.reason)) return *r;
                if (s.status == invoice_status::voided) return events{};
                if (s.paid != 0)
                    return reject(codes::invalid_transition, "invoice " + c.invoice_id + " has payments applied; reverse them first");
                return events{invoice_voided{c.invoice_id, c.reason}};
            },
            [&](const mark_invoice_overdue& c) -> result<events> {
                if (auto r = existing(c.invoice_id, "mark overdue")) return *r;
                if (s.status != invoice_status::open)
                    return reject(codes::invalid_transition, "invoice " + c.invoice_id + " is " + std::string(to_string(s.status)));
                if (s.overdue) return events{};  // once
                if (date_of(ctx.now_us) <= s.due_date)
                    return reject(codes::invalid_transition, "invoice " + c.invoice_id + " is due on " + s.due_date + ", not overdue yet");
                return events{invoice_overdue{c.invoice_id, s.due_date, s.open_amount()}};
            },
        },
        cmd);
}

invoice_state invoice_aggregate::evolve(state s, const event& e) {
    std::visit(overloaded{
                   [&](const invoice_issued& x) {
                       s.status = x.total == 0 ? invoice_status::paid : invoice_status::open;
                       s.dealer_id = x.dealer_id;
                       s.currency = x.currency;
                       s.total = x.total;
                       s.due_date = x.due_date;
                   },
                   [&](const invoice_payment_applied& x) {
                       s.paid += x.amount;
                       if (s.paid >= s.total) s.status = invoice_status::paid;
                   },
                   [&](const invoice_payment_reversed& x) {
                       s.paid -= x.amount;
                       if (s.status == invoice_status::paid && s.paid < s.total) s.status = invoice_status::open;
                   },
                   [&](const invoice_voided&) { s.status = invoice_status::voided; },
                   [&](const invoice_overdue&) { s.overdue = true; },
               },
               e);
    return s;
}

// ---- payment ----

std::string payment_aggregate::stream_id(const command& c) {
    return std::visit([](const auto& x) { return x.payment_id; }, c);
}

result<std::vector<payment_event>> payment_aggregate::decide(const command& cmd, const state& s, const context& ctx) {
    using events = std::vector<payment_event>;
    auto existing = [&](const std::string& id, std::string_view what) {
        return check::may_act_on("payment", id, s.exists, s.dealer_id, ctx.by, finance, what);
    };
    return std::visit(
        overloaded{
            [&](const record_payment& c) -> result<events> {
                if (auto r = check::id("payment_id", c.payment_id)) return *r;
                if (auto r = check::id("dealer_id", c.dealer_id)) return *r;
                if (auto r = check::role_in(ctx.by, finance, "record payments")) return *r;
                if (s.exists) return reject(codes::already_exists, "payment " + c.payment_id + " already exists");
                if (auto r = amount("amount", c.amount)) return *r;
                if (auto r = one_of("method", c.method, {"bank", "card", "cash"})) return *r;
                if (!parse_date(c.received_at) && !parse_iso8601(c.received_at))
                    return reject(codes::validation_failed, "received_at must be a date (YYYY-MM-DD) or an ISO-8601 time");
                if (auto r = check::id("external_ref", c.external_ref)) return *r;
                if (auto r = registered(ctx, c.dealer_id)) return *r;
                return events{payment_recorded{c.payment_id, c.dealer_id, ctx.dealer->currency, c.amount, c.method, c.received_at,
                                               c.external_ref}};
            },
            [&](const allocate_payment& c) -> result<events> {
                if (auto r = existing(c.payment_id, "allocate")) return *r;
                if (auto r = check::id("invoice_id", c.invoice_id)) return *r;
                if (auto r = amount("amount", c.amount)) return *r;
                if (s.reversed) return reject(codes::invalid_transition, "payment " + c.payment_id + " was reversed");
                const auto& inv = ctx.invoice;
                if (!inv || !inv->exists) return reject(codes::not_found, "invoice " + c.invoice_id + " does not exist");
                if (inv->dealer_id != s.dealer_id)
                    return reject(codes::forbidden, "invoice " + c.invoice_id + " belongs to another dealer than payment " + c.payment_id);
                if (inv->voided) return reject(codes::invalid_transition, "invoice " + c.invoice_id + " is voided");
                if (inv->currency != s.currency)
                    return reject(codes::currency_mismatch, "invoice " + c.invoice_id + " is in " + inv->currency + ", the payment in " + s.currency);
                if (c.amount > s.unallocated())
                    return reject(codes::over_allocation, "payment " + c.payment_id + " has " + std::to_string(s.unallocated()) +
                                                              " unallocated, not " + std::to_string(c.amount));
                if (c.amount > inv->open_amount)
                    return reject(codes::over_allocation,
                                  "invoice " + c.invoice_id + " has " + std::to_string(inv->open_amount) + " open, not " + std::to_string(c.amount));
                return events{payment_allocated{c.payment_id, c.invoice_id, c.amount}};
            },
            [&](const reverse_payment& c) -> result<events> {
                if (auto r = existing(c.payment_id, "reverse")) return *r;
                if (auto r = check::text("reason", c.reason)) return *r;
                if (s.reversed) return events{};
                return events{payment_reversed{c.payment_id, c.reason, s.allocations}};
            },
        },
        cmd);
}

payment_state payment_aggregate::evolve(state s, const event& e) {
    std::visit(overloaded{
                   [&](const payment_recorded& x) {
                       s.exists = true;
                       s.dealer_id = x.dealer_id;
                       s.currency = x.currency;
                       s.amount = x.amount;
                   },
                   [&](const payment_allocated& x) {
                       s.allocated += x.amount;
                       auto it = std::find_if(s.allocations.begin(), s.allocations.end(),
                                              [&](const auto& a) { return a.invoice_id == x.invoice_id; });
                       if (it == s.allocations.end()) s.allocations.push_back({x.invoice_id, x.amount});
                       else it->amount += x.amount;
                   },
                   [&](const payment_reversed&) {
                       s.reversed = true;
                       s.allocated = 0;
                       s.allocations.clear();
                   },
               },
               e);
    return s;
}

std::vector<std::pair<std::string, invoice_event>> invoice_effects(const payment_event& e) {
    std::vector<std::pair<std::string, invoice_event>> out;
    std::visit(overloaded{
                   [](const payment_recorded&) {},
                   [&](const payment_allocated& x) { out.emplace_back(x.invoice_id, invoice_payment_applied{x.invoice_id, x.payment_id, x.amount}); },
                   [&](const payment_reversed& x) {
                       for (const auto& a : x.undone)
                           out.emplace_back(a.invoice_id, invoice_payment_reversed{a.invoice_id, x.payment_id, a.amount});
                   },
               },
               e);
    return out;
}

// ---- credit note ----

std::string credit_note_aggregate::stream_id(const command& c) {
    return std::visit([](const auto& x) { return x.credit_note_id; }, c);
}

result<std::vector<credit_note_event>> credit_note_aggregate::decide(const command& cmd, const state& s, const context& ctx) {
    using events = std::vector<credit_note_event>;
    return std::visit(
        overloaded{
            [&](const issue_credit_note& c) -> result<events> {
                if (auto r = check::id("credit_note_id", c.credit_note_id)) return *r;
                if (auto r = check::id("dealer_id", c.dealer_id)) return *r;
                if (auto r = check::role_in(ctx.by, finance, "issue credit notes")) return *r;
                if (s.exists) return reject(codes::already_exists, "credit note " + c.credit_note_id + " already exists");
                if (auto r = amount("amount", c.amount)) return *r;
                if (auto r = check::text("reason", c.reason)) return *r;
                if (c.claim_id)
                    if (auto r = check::id("claim_id", *c.claim_id)) return *r;
                if (auto r = registered(ctx, c.dealer_id)) return *r;
                return events{credit_note_issued{c.credit_note_id, c.dealer_id, ctx.dealer->currency, c.amount, c.reason, c.claim_id}};
            },
        },
        cmd);
}

credit_note_state credit_note_aggregate::evolve(state s, const event& e) {
    std::visit(overloaded{[&](const credit_note_issued& x) {
                   s.exists = true;
                   s.dealer_id = x.dealer_id;
                   s.amount = x.amount;
               }},
               e);
    return s;
}

}  // namespace dealerline::domain
