// The statement's rule (domain/account.hpp): given an event (and, for a void or a reversal, the
// document before it), then the entry it adds to the dealer's account, or none.
#include "domain/account.hpp"

#include <gtest/gtest.h>

#include "domain/codec.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;

// A `before` that must not be asked (the event carries everything).
auto never_asked = [](const std::string& id) -> account_document {
    ADD_FAILURE() << "the document before the event was asked for " << id;
    return {};
};

TEST(AccountEntries, AnOpeningBalanceIsOwedAsSet) {
    EXPECT_EQ(account_entry_of(dealer_event{opening_balance_set{"D-1", 12000, "EUR"}}),
              (account_entry{account_entry_kind::opening_balance, "D-1", "D-1", 12000}));
    EXPECT_EQ(account_entry_of(dealer_event{dealer_registered{"D-1", "Okna", "EUR", 30, 100000}}), std::nullopt);
    EXPECT_EQ(account_entry_of(dealer_event{dealer_terms_updated{"D-1", 45, std::nullopt}}), std::nullopt);
}

TEST(AccountEntries, AnInvoiceIsOwedAndAVoidTakesBackWhatWasStillOpen) {
    const invoice_issued issued{"INV-1", "D-1", "EUR", "order", "O-1", {}, 80600, "2026-11-18", "2026-12-18"};
    EXPECT_EQ(account_entry_of(invoice_event{issued}, never_asked), (account_entry{account_entry_kind::invoice, "D-1", "INV-1", 80600}));
    std::string asked;
    auto open_30600 = [&](const std::string& id) {
        asked = id;
        return account_document{"D-1", 30600};  // 50,000 of 80,600 paid before the void
    };
    EXPECT_EQ(account_entry_of(invoice_event{invoice_voided{"INV-1", "issued twice"}}, open_30600),
              (account_entry{account_entry_kind::invoice_voided, "D-1", "INV-1", -30600}));
    EXPECT_EQ(asked, "INV-1");
}

TEST(AccountEntries, AllocationsAndOverdueMarksMoveNoBalance) {
    EXPECT_EQ(account_entry_of(invoice_event{invoice_payment_applied{"INV-1", "P-1", 500}}, never_asked), std::nullopt);
    EXPECT_EQ(account_entry_of(invoice_event{invoice_payment_reversed{"INV-1", "P-1", 500}}, never_asked), std::nullopt);
    EXPECT_EQ(account_entry_of(invoice_event{invoice_overdue{"INV-1", "2026-12-18", 500}}, never_asked), std::nullopt);
    EXPECT_EQ(account_entry_of(payment_event{payment_allocated{"P-1", "INV-1", 500}}, never_asked), std::nullopt);
}

TEST(AccountEntries, APaymentLowersTheBalanceAndItsReversalRaisesItByTheWholePayment) {
    const payment_recorded paid{"P-1", "D-1", "EUR", 50000, "bank", "2026-11-16", "BANK-77"};
    EXPECT_EQ(account_entry_of(payment_event{paid}, never_asked), (account_entry{account_entry_kind::payment, "D-1", "P-1", -50000}));
    auto whole = [](const std::string&) { return account_document{"D-1", 50000}; };
    EXPECT_EQ(account_entry_of(payment_event{payment_reversed{"P-1", "bounced", {}}}, whole),
              (account_entry{account_entry_kind::payment_reversed, "D-1", "P-1", 50000}));
}

TEST(AccountEntries, ACreditNoteLowersTheBalance) {
    EXPECT_EQ(account_entry_of(credit_note_event{credit_note_issued{"CN-1", "D-1", "EUR", 4500, "late delivery", std::nullopt}}),
              (account_entry{account_entry_kind::credit_note, "D-1", "CN-1", -4500}));
}

// Status names are written once (to_string beside each enum) and must be the names the codec
// stores in snapshots (its described enums).
template <class Aggregate, class Status>
void expect_status_names_match_the_codec(std::initializer_list<Status> all) {
    for (auto status : all) {
        typename Aggregate::state s;
        s.status = status;
        const auto json = codec::encode_state<Aggregate>(s);
        EXPECT_NE(json.find("\"status\":\"" + std::string(to_string(status)) + "\""), std::string::npos) << json;
    }
}

TEST(StatusNames, EveryStatusNameIsTheCodecsName) {
    using os = order_status;
    expect_status_names_match_the_codec<order_aggregate>(
        {os::none, os::placed, os::accepted, os::rejected, os::in_production, os::produced, os::shipped, os::delivered, os::cancelled});
    using cs = claim_status;
    expect_status_names_match_the_codec<claim_aggregate>({cs::none, cs::open, cs::in_review, cs::resolved, cs::reopened, cs::closed});
    using is = invoice_status;
    expect_status_names_match_the_codec<invoice_aggregate>({is::none, is::open, is::paid, is::voided});
    using ss = subscription_status;
    expect_status_names_match_the_codec<subscription_aggregate>({ss::none, ss::active, ss::paused, ss::cancelled});
}

}  // namespace
}  // namespace dealerline::testing
