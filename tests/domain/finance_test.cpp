#include "domain/finance.hpp"

#include <gtest/gtest.h>

#include "domain/time.hpp"
#include "tests/domain/scenario.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;
using invoice = scenario<invoice_aggregate>;
using payment = scenario<payment_aggregate>;
using credit_note = scenario<credit_note_aggregate>;

const auto accountant = staff(role::accountant, "acc-1");
const auto billing = staff(role::system, "billing");
const dealer_facts d1_eur{true, "EUR", 30};
// The scenario's clock: 1'795'000'000'000'000 µs = 2026-11-18T…Z.
const std::string today = "2026-11-18";

issue_invoice an_invoice(std::optional<std::string> due = std::nullopt) {
    return issue_invoice{"INV-1", "D-1", "order", "O-1", {{"Window 120x150", 4, 18900}, {"Delivery", 1, 5000}}, std::move(due)};
}
invoice_issued issued(std::string due = "2026-12-18") {
    return invoice_issued{"INV-1", "D-1", "EUR", "order", "O-1", {{"Window 120x150", 4, 18900}, {"Delivery", 1, 5000}}, 80600, today, due};
}
const payment_recorded paid_in{"P-1", "D-1", "EUR", 50000, "bank", "2026-11-16", "BANK-77"};

// Invoices
TEST(InvoiceDecider, AnInvoiceIsDueAfterTheDealersPaymentTerms) {
    EXPECT_EQ(date_of(1'795'000'000'000'000), today);
    EXPECT_EQ(date_from_days(*parse_date(today) + 30), "2026-12-18");
    EXPECT_EQ(date_from_days(*parse_date("2028-02-28") + 1), "2028-02-29");
    invoice().as(accountant).knowing(d1_eur).when(an_invoice()).then({issued()});
}
TEST(InvoiceDecider, AnExplicitDueDateWinsButNotBeforeTheIssueDate) {
    invoice().as(accountant).knowing(d1_eur).when(an_invoice("2026-12-01")).then({issued("2026-12-01")});
    invoice().as(accountant).knowing(d1_eur).when(an_invoice("2026-11-01")).then_rejected(codes::validation_failed);
    invoice().as(accountant).knowing(d1_eur).when(an_invoice("2026-02-30")).then_rejected(codes::validation_failed);
}
TEST(InvoiceDecider, TheProcessManagersIssueInvoicesToo) {
    invoice().as(billing).knowing(d1_eur).when(an_invoice()).then({issued()});
    invoice().as(dealer("D-1")).knowing(d1_eur).when(an_invoice()).then_rejected(codes::forbidden);
    invoice().as(staff(role::engineer)).knowing(d1_eur).when(an_invoice()).then_rejected(codes::forbidden);
}
TEST(InvoiceDecider, BadInvoicesAreRefused) {
    invoice({issued()}).as(accountant).knowing(d1_eur).when(an_invoice()).then_rejected(codes::already_exists);
    invoice().as(accountant).knowing(dealer_facts{false, "", 0}).when(an_invoice()).then_rejected(codes::dealer_not_registered);
    auto no_lines = an_invoice();
    no_lines.lines.clear();
    invoice().as(accountant).knowing(d1_eur).when(no_lines).then_rejected(codes::validation_failed);
    auto bad_source = an_invoice();
    bad_source.source = "gift";
    invoice().as(accountant).knowing(d1_eur).when(bad_source).then_rejected(codes::validation_failed);
    auto negative = an_invoice();
    negative.lines[0].unit_price = -1;
    invoice().as(accountant).knowing(d1_eur).when(negative).then_rejected(codes::validation_failed);
}
TEST(InvoiceDecider, PaymentsAppliedMoveItToPaid) {
    auto s = invoice({issued(), invoice_payment_applied{"INV-1", "P-1", 50000}}).state();
    EXPECT_EQ(s.status, invoice_status::open);
    EXPECT_EQ(s.open_amount(), 30600);
    s = invoice({issued(), invoice_payment_applied{"INV-1", "P-1", 50000}, invoice_payment_applied{"INV-1", "P-2", 30600}}).state();
    EXPECT_EQ(s.status, invoice_status::paid);
    s = invoice({issued(), invoice_payment_applied{"INV-1", "P-1", 80600}, invoice_payment_reversed{"INV-1", "P-1", 80600}}).state();
    EXPECT_EQ(s.status, invoice_status::open);
    EXPECT_EQ(s.open_amount(), 80600);
}
TEST(InvoiceDecider, OnlyAnUnpaidInvoiceCanBeVoided) {
    invoice({issued()}).as(accountant).when(void_invoice{"INV-1", "wrong dealer"}).then({invoice_voided{"INV-1", "wrong dealer"}});
    invoice({issued(), invoice_payment_applied{"INV-1", "P-1", 1}}).as(accountant).when(void_invoice{"INV-1", "x"}).then_rejected(codes::invalid_transition);
    invoice({issued(), invoice_voided{"INV-1", "x"}}).as(accountant).when(void_invoice{"INV-1", "x"}).then_nothing();
    invoice().as(accountant).when(void_invoice{"INV-1", "x"}).then_rejected(codes::not_found);
}
TEST(InvoiceDecider, AnUnpaidInvoicePastItsDueDateBecomesOverdueOnce) {
    const auto day_after_due = 1'795'000'000'000'000 + 31 * micros_per_day;  // 2026-12-19
    invoice({issued()}).as(billing).at(day_after_due).when(mark_invoice_overdue{"INV-1"}).then({invoice_overdue{"INV-1", "2026-12-18", 80600}});
    invoice({issued()}).as(billing).at(day_after_due - micros_per_day).when(mark_invoice_overdue{"INV-1"}).then_rejected(codes::invalid_transition);
    invoice({issued(), invoice_overdue{"INV-1", "2026-12-18", 80600}}).as(billing).at(day_after_due).when(mark_invoice_overdue{"INV-1"}).then_nothing();
    invoice({issued(), invoice_payment_applied{"INV-1", "P-1", 80600}}).as(billing).at(day_after_due).when(mark_invoice_overdue{"INV-1"}).then_rejected(codes::invalid_transition);
}

// Payments
TEST(PaymentDecider, APaymentIsRecordedInTheDealersCurrency) {
    payment().as(accountant).knowing(d1_eur).when(record_payment{"P-1", "D-1", 50000, "bank", "2026-11-16", "BANK-77"}).then({paid_in});
    EXPECT_TRUE(payment().as(billing).knowing(d1_eur).when(record_payment{"P-1", "D-1", 50000, "bank", "2026-11-16T09:30:00Z", "BANK-77"}).result().has_value());
    payment().as(accountant).knowing(d1_eur).when(record_payment{"P-1", "D-1", 0, "bank", "2026-11-16", "B"}).then_rejected(codes::validation_failed);
    payment().as(accountant).knowing(d1_eur).when(record_payment{"P-1", "D-1", 5, "cheque", "2026-11-16", "B"}).then_rejected(codes::validation_failed);
    payment().as(accountant).knowing(d1_eur).when(record_payment{"P-1", "D-1", 5, "bank", "yesterday", "B"}).then_rejected(codes::validation_failed);
    payment().as(dealer("D-1")).knowing(d1_eur).when(record_payment{"P-1", "D-1", 5, "bank", "2026-11-16", "B"}).then_rejected(codes::forbidden);
}
TEST(PaymentDecider, AnAllocationNeverExceedsWhatIsUnallocatedNorWhatIsOpen) {
    const invoice_facts open_80600{true, false, "D-1", "EUR", 80600}, open_20000{true, false, "D-1", "EUR", 20000};
    payment({paid_in}).as(accountant).knowing(open_80600).when(allocate_payment{"P-1", "INV-1", 50000}).then({payment_allocated{"P-1", "INV-1", 50000}});
    payment({paid_in}).as(billing).knowing(open_80600).when(allocate_payment{"P-1", "INV-1", 50001}).then_rejected(codes::over_allocation);
    payment({paid_in}).as(accountant).knowing(open_20000).when(allocate_payment{"P-1", "INV-1", 20001}).then_rejected(codes::over_allocation);
    const payment_allocated forty{"P-1", "INV-0", 40000};
    payment({paid_in, forty}).as(accountant).knowing(open_80600).when(allocate_payment{"P-1", "INV-1", 10001}).then_rejected(codes::over_allocation);
    payment({paid_in, forty}).as(accountant).knowing(open_80600).when(allocate_payment{"P-1", "INV-1", 10000}).then({payment_allocated{"P-1", "INV-1", 10000}});
    EXPECT_EQ(payment({paid_in, forty}).state().unallocated(), 10000);
}
TEST(PaymentDecider, AnAllocationStaysWithinOneDealerCurrencyAndLiveInvoices) {
    payment({paid_in}).as(accountant).knowing(invoice_facts{false, false, "", "", 0}).when(allocate_payment{"P-1", "INV-9", 1}).then_rejected(codes::not_found);
    payment({paid_in}).as(accountant).knowing(invoice_facts{true, false, "D-2", "EUR", 100}).when(allocate_payment{"P-1", "INV-1", 1}).then_rejected(codes::forbidden);
    payment({paid_in}).as(accountant).knowing(invoice_facts{true, true, "D-1", "EUR", 100}).when(allocate_payment{"P-1", "INV-1", 1}).then_rejected(codes::invalid_transition);
    payment({paid_in}).as(accountant).knowing(invoice_facts{true, false, "D-1", "PLN", 100}).when(allocate_payment{"P-1", "INV-1", 1}).then_rejected(codes::currency_mismatch);
    payment().as(accountant).knowing(invoice_facts{true, false, "D-1", "EUR", 100}).when(allocate_payment{"P-1", "INV-1", 1}).then_rejected(codes::not_found);
}
TEST(PaymentDecider, AReversalUndoesEveryAllocationOnce) {
    const payment_allocated a{"P-1", "INV-1", 30000}, b{"P-1", "INV-2", 5000}, c{"P-1", "INV-1", 1000};
    const payment_reversed reversed{"P-1", "returned by the bank", {{"INV-1", 31000}, {"INV-2", 5000}}};
    payment({paid_in, a, b, c}).as(accountant).when(reverse_payment{"P-1", "returned by the bank"}).then({reversed});
    payment({paid_in, a, b, c, reversed}).as(accountant).when(reverse_payment{"P-1", "again"}).then_nothing();
    payment({paid_in, a, b, c, reversed}).as(accountant).knowing(invoice_facts{true, false, "D-1", "EUR", 100}).when(allocate_payment{"P-1", "INV-1", 1}).then_rejected(codes::invalid_transition);
    // The invoices' side, appended with it.
    const auto effects = invoice_effects(reversed);
    ASSERT_EQ(effects.size(), 2u);
    EXPECT_EQ(effects[0].first, "INV-1");
    EXPECT_EQ(std::get<invoice_payment_reversed>(effects[0].second), (invoice_payment_reversed{"INV-1", "P-1", 31000}));
    EXPECT_EQ(std::get<invoice_payment_applied>(invoice_effects(a).at(0).second), (invoice_payment_applied{"INV-1", "P-1", 30000}));
    EXPECT_TRUE(invoice_effects(paid_in).empty());
}

// Credit notes
TEST(CreditNoteDecider, ACreditNoteIsIssuedInTheDealersCurrency) {
    credit_note().as(billing).knowing(d1_eur).when(issue_credit_note{"CN-1", "D-1", 2500, "claim CL-7 compensation", "CL-7"})
        .then({credit_note_issued{"CN-1", "D-1", "EUR", 2500, "claim CL-7 compensation", "CL-7"}});
    credit_note({credit_note_issued{"CN-1", "D-1", "EUR", 2500, "r", std::nullopt}}).as(accountant).knowing(d1_eur)
        .when(issue_credit_note{"CN-1", "D-1", 2500, "r", std::nullopt}).then_rejected(codes::already_exists);
    credit_note().as(accountant).knowing(d1_eur).when(issue_credit_note{"CN-1", "D-1", -5, "r", std::nullopt}).then_rejected(codes::validation_failed);
    credit_note().as(staff(role::claims_manager)).knowing(d1_eur).when(issue_credit_note{"CN-1", "D-1", 5, "r", std::nullopt}).then_rejected(codes::forbidden);
}

}  // namespace
}  // namespace dealerline::testing
