#include "domain/dealer.hpp"

#include <gtest/gtest.h>

#include "tests/domain/scenario.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;
using dealer_s = scenario<dealer_aggregate>;

const register_dealer registration{"D-1", "Okna Kowalski", "EUR", 30, 5'000'000};
const dealer_registered registered{"D-1", "Okna Kowalski", "EUR", 30, 5'000'000};

TEST(DealerDecider, AnAdminRegistersADealer) {
    dealer_s().as(staff(role::admin)).when(registration).then({registered});
}
TEST(DealerDecider, OnlyAnAdminRegistersDealers) {
    dealer_s().as(staff(role::accountant)).when(registration).then_rejected(codes::forbidden);
    dealer_s().as(dealer("D-1")).when(registration).then_rejected(codes::forbidden);
}
TEST(DealerDecider, RegisteringTwiceIsRejected) {
    dealer_s({registered}).when(registration).then_rejected(codes::already_exists);
}
TEST(DealerDecider, RegistrationIsValidated) {
    auto c = registration;
    c.currency = "eur";
    dealer_s().when(c).then_rejected(codes::validation_failed);
    c = registration;
    c.payment_terms_days = -1;
    dealer_s().when(c).then_rejected(codes::validation_failed);
    c = registration;
    c.credit_limit = -5;
    dealer_s().when(c).then_rejected(codes::validation_failed);
    c = registration;
    c.name.clear();
    dealer_s().when(c).then_rejected(codes::validation_failed);
}
TEST(DealerDecider, AnAccountantUpdatesTerms) {
    dealer_s({registered}).as(staff(role::accountant)).when(update_dealer_terms{"D-1", 45, {}}).then({dealer_terms_updated{"D-1", 45, {}}});
    dealer_s({registered}).as(staff(role::engineer)).when(update_dealer_terms{"D-1", 45, {}}).then_rejected(codes::forbidden);
    dealer_s({registered}).as(staff(role::accountant)).when(update_dealer_terms{"D-1", {}, {}}).then_rejected(codes::validation_failed);
    dealer_s().as(staff(role::accountant)).when(update_dealer_terms{"D-9", 45, {}}).then_rejected(codes::not_found);
}
TEST(DealerDecider, UnchangedTermsAreANoOp) {
    dealer_s({registered}).as(staff(role::accountant)).when(update_dealer_terms{"D-1", 30, 5'000'000}).then_nothing();
}
TEST(DealerDecider, TheOpeningBalanceIsSetOnce) {
    dealer_s({registered}).as(staff(role::accountant)).when(set_opening_balance{"D-1", 120000}).then({opening_balance_set{"D-1", 120000, "EUR"}});
    dealer_s({registered, opening_balance_set{"D-1", 1, "EUR"}})
        .as(staff(role::accountant))
        .when(set_opening_balance{"D-1", 2})
        .then_rejected(codes::invalid_transition);
    dealer_s({registered}).as(dealer("D-1")).when(set_opening_balance{"D-1", 0}).then_rejected(codes::forbidden);
}
TEST(DealerEvolve, TermsFollowUpdates) {
    const auto s = dealer_s({registered, dealer_terms_updated{"D-1", {}, 7}}).state();
    EXPECT_TRUE(s.registered);
    EXPECT_EQ(s.currency, "EUR");
    EXPECT_EQ(s.payment_terms_days, 30);
    EXPECT_EQ(s.credit_limit, 7);
}

}  // namespace
}  // namespace dealerline::testing
