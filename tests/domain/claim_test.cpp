#include "domain/claim.hpp"

#include <gtest/gtest.h>

#include "domain/time.hpp"
#include "tests/domain/scenario.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;
using claim = scenario<claim_aggregate>;

const order_facts delivered_order{true, "D-1", "delivered"};
const file_claim filing{"CL-1", "O-1", "defect", "Cracked glass in window 2"};
const claim_filed filed{"CL-1", "O-1", "D-1", "defect", "Cracked glass in window 2"};
const claim_assigned assigned{"CL-1", "cm-3"};
const std::int64_t day = micros_per_day;
const std::int64_t t0 = 1'795'000'000'000'000;  // 2026-11-17T…Z
claim_resolved resolved_at(std::int64_t when) { return {"CL-1", "replace", 15000, "new glass", iso8601(when)}; }

TEST(ClaimDecider, TheOwningDealerFilesAClaim) {
    claim().as(dealer("D-1")).knowing(delivered_order).when(filing).then({filed});
}
TEST(ClaimDecider, AnotherDealerCannotFileOnTheOrder) {
    claim().as(dealer("D-2")).knowing(delivered_order).when(filing).then_rejected(codes::forbidden);
}
TEST(ClaimDecider, TheOrderMustExistAndHaveBeenAccepted) {
    claim().as(dealer("D-1")).when(filing).then_rejected(codes::not_found);
    claim().as(dealer("D-1")).knowing(order_facts{true, "D-1", "placed"}).when(filing).then_rejected(codes::invalid_transition);
    claim().as(dealer("D-1")).knowing(order_facts{true, "D-1", "cancelled"}).when(filing).then_rejected(codes::invalid_transition);
    claim().as(dealer("D-1")).knowing(order_facts{true, "D-1", "rejected"}).when(filing).then_rejected(codes::invalid_transition);
    claim().as(dealer("D-1")).knowing(order_facts{true, "D-1", "accepted"}).when(filing).then({filed});
}
TEST(ClaimDecider, KindIsOneOfTheKnownKinds) {
    auto c = filing;
    c.kind = "annoyance";
    claim().as(dealer("D-1")).knowing(delivered_order).when(c).then_rejected(codes::validation_failed);
}
TEST(ClaimDecider, FilingTwiceIsRejected) {
    claim({filed}).as(dealer("D-1")).knowing(delivered_order).when(filing).then_rejected(codes::already_exists);
}
TEST(ClaimDecider, AClaimsManagerAssigns) {
    claim({filed}).as(staff(role::claims_manager)).when(assign_claim{"CL-1", "cm-3"}).then({assigned});
    claim({filed}).as(dealer("D-1")).when(assign_claim{"CL-1", "cm-3"}).then_rejected(codes::forbidden);
    claim().as(staff(role::claims_manager)).when(assign_claim{"CL-9", "cm-3"}).then_rejected(codes::not_found);
}
TEST(ClaimDecider, TheDealerAndTheManagerTalk) {
    claim({filed}).as(dealer("D-1")).when(comment_on_claim{"CL-1", "photo attached"}).then({claim_commented{"CL-1", "photo attached", "dealer:D-1"}});
    claim({filed, assigned}).as(staff(role::claims_manager, "cm-3")).when(comment_on_claim{"CL-1", "we replace it"}).then({claim_commented{"CL-1", "we replace it", "staff:cm-3"}});
    claim({filed}).as(dealer("D-2")).when(comment_on_claim{"CL-1", "hi"}).then_rejected(codes::forbidden);
    claim({filed, assigned, resolved_at(t0), claim_closed{"CL-1"}}).as(dealer("D-1")).when(comment_on_claim{"CL-1", "hi"}).then_rejected(codes::invalid_transition);
}
TEST(ClaimDecider, AManagerResolvesAClaimInReview) {
    claim({filed, assigned}).as(staff(role::claims_manager)).at(t0).when(resolve_claim{"CL-1", "replace", 15000, "new glass"}).then({resolved_at(t0)});
    claim({filed}).as(staff(role::claims_manager)).when(resolve_claim{"CL-1", "replace", 0, ""}).then_rejected(codes::invalid_transition);
    claim({filed, assigned}).as(staff(role::claims_manager)).when(resolve_claim{"CL-1", "rejected", 100, ""}).then_rejected(codes::validation_failed);
    claim({filed, assigned}).as(staff(role::claims_manager)).when(resolve_claim{"CL-1", "refund", -1, ""}).then_rejected(codes::validation_failed);
    claim({filed, assigned}).as(staff(role::claims_manager)).when(resolve_claim{"CL-1", "shrug", 0, ""}).then_rejected(codes::validation_failed);
    claim({filed, assigned}).as(dealer("D-1")).when(resolve_claim{"CL-1", "refund", 1, ""}).then_rejected(codes::forbidden);
}
TEST(ClaimDecider, TheDealerReopensWithinThirtyDays) {
    const std::vector<claim_event> done{filed, assigned, resolved_at(t0)};
    claim(done).as(dealer("D-1")).at(t0 + 29 * day).when(reopen_claim{"CL-1", "glass cracked again"}).then({claim_reopened{"CL-1", "glass cracked again"}});
    claim(done).as(dealer("D-1")).at(t0 + 31 * day).when(reopen_claim{"CL-1", "too late"}).then_rejected(codes::invalid_transition);
    claim(done).as(dealer("D-2")).at(t0 + day).when(reopen_claim{"CL-1", "x"}).then_rejected(codes::forbidden);
    claim({filed, assigned}).as(dealer("D-1")).when(reopen_claim{"CL-1", "x"}).then_rejected(codes::invalid_transition);
}
TEST(ClaimDecider, AReopenedClaimGoesBackToReview) {
    const std::vector<claim_event> reopened{filed, assigned, resolved_at(t0), claim_reopened{"CL-1", "again"}};
    claim(reopened).as(staff(role::claims_manager)).when(assign_claim{"CL-1", "cm-4"}).then({claim_assigned{"CL-1", "cm-4"}});
    EXPECT_EQ(claim(reopened).state().status, claim_status::reopened);
    EXPECT_EQ(claim({filed, assigned, resolved_at(t0), claim_reopened{"CL-1", "again"}, claim_assigned{"CL-1", "cm-4"}}).state().status,
              claim_status::in_review);
}
TEST(ClaimDecider, AResolvedClaimIsClosed) {
    claim({filed, assigned, resolved_at(t0)}).as(staff(role::claims_manager)).when(close_claim{"CL-1"}).then({claim_closed{"CL-1"}});
    claim({filed, assigned}).as(staff(role::claims_manager)).when(close_claim{"CL-1"}).then_rejected(codes::invalid_transition);
}
TEST(Time, Iso8601RoundTrips) {
    EXPECT_EQ(iso8601(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(parse_iso8601("2026-11-23T10:15:00Z"), parse_iso8601("2026-11-23T10:15:00.000000Z"));
    EXPECT_EQ(iso8601(*parse_iso8601("2026-11-23T10:15:00.5Z")), "2026-11-23T10:15:00.500000Z");
    EXPECT_FALSE(parse_iso8601("2026-02-30T00:00:00Z").has_value());
    EXPECT_FALSE(parse_iso8601("yesterday").has_value());
    EXPECT_EQ(*parse_iso8601(iso8601(t0)), t0);
}

}  // namespace
}  // namespace dealerline::testing
