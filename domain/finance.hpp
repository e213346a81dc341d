// The dealer's mutual settlements (DOMAIN.md "Invoice and payment"): invoices `invoice-<id>`,
// payments `payment-<id>`, credit notes `creditnote-<id>`. Money is int64 minor units in the
// dealer's currency. Balance = opening balance + invoices − payments − credit notes (positive:
// the dealer owes).
//
// AllocatePayment and ReversePayment are decided by the payment; the invoice's side of them
// (InvoicePaymentApplied / InvoicePaymentReversed) is derived from the payment's events by
// invoice_effects() and appended by the command handler in the same atomic append.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/decider.hpp"

namespace dealerline::domain {

// ---- invoice ----
struct invoice_line {
    std::string description;
    std::int64_t quantity = 0;
    std::int64_t unit_price = 0;  // minor units
    bool operator==(const invoice_line&) const = default;
};
struct issue_invoice {
    std::string invoice_id, dealer_id;
    std::string source;  // order | subscription | delivery | manual
    std::string source_id;
    std::vector<invoice_line> lines;
    std::optional<std::string> due_date;  // YYYY-MM-DD; default: issue date + the dealer's payment terms
};
struct void_invoice {
    std::string invoice_id, reason;
};
struct mark_invoice_overdue {
    std::string invoice_id;
};
using invoice_command = std::variant<issue_invoice, void_invoice, mark_invoice_overdue>;

struct invoice_issued {
    std::string invoice_id, dealer_id, currency, source, source_id;
    std::vector<invoice_line> lines;
    std::int64_t total = 0;
    std::string issued_on, due_date;  // YYYY-MM-DD
    bool operator==(const invoice_issued&) const = default;
};
struct invoice_payment_applied {
    std::string invoice_id, payment_id;
    std::int64_t amount = 0;
    bool operator==(const invoice_payment_applied&) const = default;
};
struct invoice_payment_reversed {
    std::string invoice_id, payment_id;
    std::int64_t amount = 0;
    bool operator==(const invoice_payment_reversed&) const = default;
};
struct invoice_voided {
    std::string invoice_id, reason;
    bool operator==(const invoice_voided&) const = default;
};
struct invoice_overdue {
    std::string invoice_id, due_date;
    std::int64_t open_amount = 0;
    bool operator==(const invoice_overdue&) const = default;
};
using invoice_event = std::variant<invoice_issued, invoice_payment_applied, invoice_payment_reversed, invoice_voided, invoice_overdue>;

enum class invoice_status { none, open, paid, voided };
[[nodiscard]] std::string_view to_string(invoice_status) noexcept;

struct invoice_state {
    invoice_status status = invoice_status::none;
    std::string dealer_id, currency, due_date;
    std::int64_t total = 0, paid = 0;
    bool overdue = false;
    [[nodiscard]] std::int64_t open_amount() const noexcept { return total - paid; }
    bool operator==(const invoice_state&) const = default;
};

struct invoice_aggregate {
    using command = invoice_command;
    using event = invoice_event;
    using state = invoice_state;
    static constexpr std::string_view category = "invoice";
    [[nodiscard]] static std::string stream_id(const command&);
    [[nodiscard]] static result<std::vector<event>> decide(const command&, const state&, const context&);
    [[nodiscard]] static state evolve(state, const event&);
};
static_assert(aggregate<invoice_aggregate>);

// ---- payment ----
struct record_payment {
    std::string payment_id, dealer_id;
    std::int64_t amount = 0;
    std::string method;       // bank | card | cash
    std::string received_at;  // YYYY-MM-DD or an ISO-8601 time
    std::string external_ref; // the bank's reference: the same one twice is the same payment
};
struct allocate_payment {
    std::string payment_id, invoice_id;
    std::int64_t amount = 0;
};
struct reverse_payment {
    std::string payment_id, reason;
};
using payment_command = std::variant<record_payment, allocate_payment, reverse_payment>;

struct payment_allocation {
    std::string invoice_id;
    std::int64_t amount = 0;
    bool operator==(const payment_allocation&) const = default;
};
struct payment_recorded {
    std::string payment_id, dealer_id, currency;
    std::int64_t amount = 0;
    std::string method, received_at, external_ref;
    bool operator==(const payment_recorded&) const = default;
};
struct payment_allocated {
    std::string payment_id, invoice_id;
    std::int64_t amount = 0;
    bool operator==(const payment_allocated&) const = default;
};
struct payment_reversed {
    std::string payment_id, reason;
    std::vector<payment_allocation> undone;  // the allocations this takes back from their invoices
    bool operator==(const payment_reversed&) const = default;
};
using payment_event = std::variant<payment_recorded, payment_allocated, payment_reversed>;

struct payment_state {
    bool exists = false, reversed = false;
    std::string dealer_id, currency;
    std::int64_t amount = 0, allocated = 0;
    std::vector<payment_allocation> allocations;  // per invoice, summed
    [[nodiscard]] std::int64_t unallocated() const noexcept { return amount - allocated; }
    bool operator==(const payment_state&) const = default;
};

struct payment_aggregate {
    using command = payment_command;
    using event = payment_event;
    using state = payment_state;
    static constexpr std::string_view category = "payment";
    [[nodiscard]] static std::string stream_id(const command&);
    [[nodiscard]] static result<std::vector<event>> decide(const command&, const state&, const context&);
    [[nodiscard]] static state evolve(state, const event&);
};
static_assert(aggregate<payment_aggregate>);

// The invoices' side of a payment's events: (invoice id, event) pairs, in order.
[[nodiscard]] std::vector<std::pair<std::string, invoice_event>> invoice_effects(const payment_event&);

// ---- credit note ----
struct issue_credit_note {
    std::string credit_note_id, dealer_id;
    std::int64_t amount = 0;
    std::string reason;
    std::optional<std::string> claim_id;
};
using credit_note_command = std::variant<issue_credit_note>;

struct credit_note_issued {
    std::string credit_note_id, dealer_id, currency;
    std::int64_t amount = 0;
    std::string reason;
    std::optional<std::string> claim_id;
    bool operator==(const credit_note_issued&) const = default;
};
using credit_note_event = std::variant<credit_note_issued>;

struct credit_note_state {
    bool exists = false;
    std::string dealer_id;
    std::int64_t amount = 0;
    bool operator==(const credit_note_state&) const = default;
};

struct credit_note_aggregate {
    using command = credit_note_command;
    using event = credit_note_event;
    using state = credit_note_state;
    static constexpr std::string_view category = "creditnote";
    [[nodiscard]] static std::string stream_id(const command&);
    [[nodiscard]] static result<std::vector<event>> decide(const command&, const state&, const context&);
    [[nodiscard]] static state evolve(state, const event&);
};
static_assert(aggregate<credit_note_aggregate>);

}  // namespace dealerline::domain
