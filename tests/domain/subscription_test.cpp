#include "domain/subscription.hpp"

#include <gtest/gtest.h>

#include "domain/time.hpp"
#include "tests/domain/scenario.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;
using subscription = scenario<subscription_aggregate>;

const auto accountant = staff(role::accountant, "acc-1");
const auto billing = staff(role::system, "billing");
const dealer_facts d1{true, "EUR", 30};
// The scenario's clock is 2026-11-18; billing runs "on" a day by moving it.
std::int64_t on(const std::string& date) { return *parse_date(date) * micros_per_day + 3'600'000'000; }

const subscription_started started{"S-1", "D-1", "EUR", "PBX 10 lines", 3000, "monthly", "2026-11-01"};
subscription_period_billed november(std::int64_t amount = 3000) {
    return {"S-1", "D-1", "EUR", "2026-11-01", "2026-12-01", amount, {{"PBX 10 lines, 2026-11-01 to 2026-12-01", amount}}};
}

TEST(Dates, TheFirstOfTheNextMonthCrossesYearEnds) {
    EXPECT_EQ(first_of_next_month("2026-11-23"), "2026-12-01");
    EXPECT_EQ(first_of_next_month("2026-12-31"), "2027-01-01");
    EXPECT_EQ(first_of_next_month("2028-01-31"), "2028-02-01");
    EXPECT_EQ(first_of_next_month("2026-02-01"), "2026-03-01");
}

TEST(SubscriptionDecider, StartingNeedsARegisteredDealerAndAKnownPeriod) {
    subscription().as(accountant).knowing(d1).when(start_subscription{"S-1", "D-1", "PBX 10 lines", 3000, "monthly", "2026-11-01"}).then({started});
    subscription().as(accountant).knowing(d1).when(start_subscription{"S-1", "D-1", "PBX", 3000, "weekly", "2026-11-01"}).then_rejected(codes::validation_failed);
    subscription().as(accountant).knowing(dealer_facts{false, "", 0}).when(start_subscription{"S-1", "D-1", "PBX", 3000, "monthly", "2026-11-01"}).then_rejected(codes::dealer_not_registered);
    subscription({started}).as(accountant).knowing(d1).when(start_subscription{"S-1", "D-1", "PBX", 3000, "monthly", "2026-11-01"}).then_rejected(codes::already_exists);
    subscription().as(dealer("D-1")).knowing(d1).when(start_subscription{"S-1", "D-1", "PBX", 3000, "monthly", "2026-11-01"}).then_rejected(codes::forbidden);
}

TEST(SubscriptionDecider, APeriodIsBilledOnceInAdvance) {
    subscription({started}).as(billing).at(on("2026-11-01")).when(bill_subscription_period{"S-1", "2026-11-01"}).then({november()});
    // Twice: nothing. The next one only once it has started, and never out of turn.
    subscription({started, november()}).as(billing).at(on("2026-11-20")).when(bill_subscription_period{"S-1", "2026-11-01"}).then_nothing();
    subscription({started, november()}).as(billing).at(on("2026-11-20")).when(bill_subscription_period{"S-1", "2026-12-01"}).then_rejected(codes::invalid_transition);
    subscription({started}).as(billing).at(on("2026-12-05")).when(bill_subscription_period{"S-1", "2026-12-01"}).then_rejected(codes::invalid_transition);
    EXPECT_EQ(subscription({started, november()}).state().next_billing, "2026-12-01");
}

TEST(SubscriptionDecider, PeriodsKeepTheirDayOfTheMonth) {
    EXPECT_EQ(period_end("2026-01-31", "monthly", "2026-01-31"), "2026-02-28");
    EXPECT_EQ(period_end("2026-02-28", "monthly", "2026-01-31"), "2026-03-31");
    EXPECT_EQ(period_end("2026-11-15", "quarterly", "2026-11-15"), "2027-02-15");
    EXPECT_EQ(period_end("2028-02-29", "yearly", "2028-02-29"), "2029-02-28");
}

TEST(SubscriptionDecider, AMidPeriodPlanChangeIsProratedByDaysOnTheNextInvoice) {
    // November (30 days) billed at 3000; from November 16 the plan costs 6000: 15 days × 3000 / 30.
    const subscription_plan_changed upgrade{"S-1", "PBX 20 lines", 6000, "2026-11-16"};
    subscription({started, november(), upgrade}).as(billing).at(on("2026-12-01")).when(bill_subscription_period{"S-1", "2026-12-01"})
        .then({subscription_period_billed{"S-1", "D-1", "EUR", "2026-12-01", "2027-01-01", 7500,
                                          {{"PBX 20 lines, 2026-12-01 to 2027-01-01", 6000},
                                           {"plan change, 2026-11-01 to 2026-12-01, prorated by days", 1500}}}});
    // A cheaper plan from November 21: 10 days × −1000 / 30 = −333.33 → −333.
    const subscription_plan_changed downgrade{"S-1", "PBX 5 lines", 2000, "2026-11-21"};
    const auto r = subscription({started, november(), downgrade}).as(billing).at(on("2026-12-01")).when(bill_subscription_period{"S-1", "2026-12-01"}).result();
    ASSERT_TRUE(r.has_value());
    const auto& billed = std::get<subscription_period_billed>(r.value().at(0));
    EXPECT_EQ(billed.amount, 2000 - 333);
    // A change reaching back before the period billed last is refused.
    subscription({started, november()}).as(accountant).when(change_subscription_plan{"S-1", "x", 1, "2026-10-20"}).then_rejected(codes::invalid_transition);
}

TEST(SubscriptionDecider, APausedPeriodIsSkippedAndACancelledOneNotBilled) {
    const subscription_paused paused{"S-1", "2026-11-20"};
    subscription({started, november(), paused}).as(billing).at(on("2026-12-01")).when(bill_subscription_period{"S-1", "2026-12-01"})
        .then({subscription_period_skipped{"S-1", "2026-12-01", "2027-01-01", "paused"}});
    subscription({started, november(), paused}).as(accountant).when(resume_subscription{"S-1"}).then({subscription_resumed{"S-1", "2026-11-18"}});
    const subscription_cancelled cancelled{"S-1", "2026-12-01"};
    subscription({started, november(), cancelled}).as(billing).at(on("2026-12-01")).when(bill_subscription_period{"S-1", "2026-12-01"}).then_rejected(codes::invalid_transition);
    subscription({started, cancelled}).as(billing).at(on("2026-11-02")).when(bill_subscription_period{"S-1", "2026-11-01"}).then({november()});
    subscription({started, cancelled}).as(accountant).when(cancel_subscription{"S-1", "2026-12-01"}).then_nothing();
    subscription({started}).as(accountant).when(cancel_subscription{"S-1", "2026-10-01"}).then_rejected(codes::validation_failed);
}

}  // namespace
}  // namespace dealerline::testing
