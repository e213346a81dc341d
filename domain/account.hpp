// A dealer's account (DOMAIN.md "Invoice and payment"): which events move its balance, by how much,
// and under which entry kind. One rule, used by the portal_finance projection (the statement,
// portal.account_entries) and by the live feed (account_entry updates), so the two cannot drift.
// Every alternative of every event variant is named: a new event is a compile error here until
// it says whether it moves the balance.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "domain/dealer.hpp"
#include "domain/decider.hpp"
#include "domain/finance.hpp"

namespace dealerline::domain {

enum class account_entry_kind { opening_balance, invoice, invoice_voided, payment, payment_reversed, credit_note };

[[nodiscard]] constexpr std::string_view to_string(account_entry_kind k) noexcept {
    switch (k) {
        case account_entry_kind::opening_balance: return "opening_balance";
        case account_entry_kind::invoice: return "invoice";
        case account_entry_kind::invoice_voided: return "invoice_voided";
        case account_entry_kind::payment: return "payment";
        case account_entry_kind::payment_reversed: return "payment_reversed";
        case account_entry_kind::credit_note: return "credit_note";
    }
    return "unknown";
}

// One line of the dealer's statement. `amount` > 0: the dealer owes more.
struct account_entry {
    account_entry_kind kind{};
    std::string dealer_id, document_id;
    std::int64_t amount = 0;
    bool operator==(const account_entry&) const = default;
};

// What the statement counted of a document before a void or a reversal: whose it is, and the
// amount it still counts (an invoice's open amount, a payment's amount).
struct account_document {
    std::string dealer_id;
    std::int64_t counted = 0;
};

// The entry each event adds, if any. For invoices and payments, `before(id)` returns the
// document as it stood before the event; it is called only for a void or a reversal.
[[nodiscard]] inline std::optional<account_entry> account_entry_of(const dealer_event& ev) {
    return std::visit(overloaded{
                          [](const opening_balance_set& x) -> std::optional<account_entry> {
                              return account_entry{account_entry_kind::opening_balance, x.dealer_id, x.dealer_id, x.amount};
                          },
                          [](const dealer_registered&) -> std::optional<account_entry> { return std::nullopt; },
                          [](const dealer_terms_updated&) -> std::optional<account_entry> { return std::nullopt; },
                      },
                      ev);
}

template <class Before>  // (const std::string& invoice_id) -> account_document
[[nodiscard]] std::optional<account_entry> account_entry_of(const invoice_event& ev, Before&& before) {
    return std::visit(overloaded{
                          [](const invoice_issued& x) -> std::optional<account_entry> {
                              return account_entry{account_entry_kind::invoice, x.dealer_id, x.invoice_id, x.total};
                          },
                          // What was still open leaves the balance; what was paid stays paid.
                          [&](const invoice_voided& x) -> std::optional<account_entry> {
                              const account_document d = before(x.invoice_id);
                              return account_entry{account_entry_kind::invoice_voided, d.dealer_id, x.invoice_id, -d.counted};
                          },
                          // A payment's allocation moves no balance: the payment already did.
                          [](const invoice_payment_applied&) -> std::optional<account_entry> { return std::nullopt; },
                          [](const invoice_payment_reversed&) -> std::optional<account_entry> { return std::nullopt; },
                          [](const invoice_overdue&) -> std::optional<account_entry> { return std::nullopt; },
                      },
                      ev);
}

template <class Before>  // (const std::string& payment_id) -> account_document
[[nodiscard]] std::optional<account_entry> account_entry_of(const payment_event& ev, Before&& before) {
    return std::visit(overloaded{
                          [](const payment_recorded& x) -> std::optional<account_entry> {
                              return account_entry{account_entry_kind::payment, x.dealer_id, x.payment_id, -x.amount};
                          },
                          [&](const payment_reversed& x) -> std::optional<account_entry> {
                              const account_document d = before(x.payment_id);
                              return account_entry{account_entry_kind::payment_reversed, d.dealer_id, x.payment_id, d.counted};
                          },
                          [](const payment_allocated&) -> std::optional<account_entry> { return std::nullopt; },
                      },
                      ev);
}

[[nodiscard]] inline std::optional<account_entry> account_entry_of(const credit_note_event& ev) {
    return std::visit(overloaded{
                          [](const credit_note_issued& x) -> std::optional<account_entry> {
                              return account_entry{account_entry_kind::credit_note, x.dealer_id, x.credit_note_id, -x.amount};
                          },
                      },
                      ev);
}

}  // namespace dealerline::domain
