// Every command against every role: allowed roles get past authorization, the others are
// `forbidden` (docs/domain.md has the table this encodes).
#include <gtest/gtest.h>

#include "domain/claim.hpp"
#include "domain/dealer.hpp"
#include "domain/finance.hpp"
#include "domain/order.hpp"
#include "domain/stock.hpp"
#include "domain/subscription.hpp"
#include "domain/time.hpp"
#include "tests/domain/scenario.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;

constexpr role all_roles[] = {role::dealer,     role::engineer,    role::production, role::logistics, role::claims_manager,
                              role::accountant, role::storekeeper, role::auditor,    role::admin,     role::system};
const std::vector<role> staff_roles{role::dealer,         role::engineer,   role::production, role::logistics,
                                    role::claims_manager, role::accountant, role::storekeeper, role::admin};

actor acting(role r) { return r == role::dealer ? dealer("D-1") : staff(r); }

template <class A>
void expect_roles(const std::string& what, const std::vector<typename A::event>& history, const typename A::command& c,
                  const std::vector<role>& allowed, std::optional<dealer_facts> dealer = {}, std::optional<order_facts> order = {},
                  std::optional<invoice_facts> invoice = {}) {
    for (role r : all_roles) {
        scenario<A> s(history);
        s.as(acting(r));
        if (dealer) s.knowing(*dealer);
        if (order) s.knowing(*order);
        if (invoice) s.knowing(*invoice);
        const auto& result = s.when(c).result();
        const bool forbidden = !result.has_value() && result.error().code == codes::forbidden;
        const bool should_be = std::find(allowed.begin(), allowed.end(), r) == allowed.end();
        EXPECT_EQ(forbidden, should_be) << what << " as " << to_string(r)
                                        << (result.has_value() ? " was accepted" : ": " + result.error().code + " " + result.error().message);
    }
}

const order_placed placed{"O-1", "D-1", "EUR", {{"W", "w", 2, 10}}, std::nullopt, std::nullopt, 20, 2};
const order_accepted accepted{"O-1", std::nullopt};
const production_started started{"O-1"};
const production_completed produced{"O-1"};
const order_shipped shipped{"O-1", "c", "r", "v", "d", "p", "2026-12-05"};

TEST(Roles, OrderCommands) {
    using O = order_aggregate;
    expect_roles<O>("PlaceOrder", {}, place_order{"O-1", "D-1", "EUR", {{"W", "w", 2, 10}}, {}, {}}, staff_roles, dealer_facts{true, "EUR"});
    expect_roles<O>("AcceptOrder", {placed}, accept_order{"O-1", {}}, {role::engineer, role::admin});
    expect_roles<O>("RejectOrder", {placed}, reject_order{"O-1", "r"}, {role::engineer, role::admin});
    expect_roles<O>("StartProduction", {placed, accepted}, start_production{"O-1"}, {role::production, role::admin});
    expect_roles<O>("RecordProductionProgress", {placed, accepted, started}, record_production_progress{"O-1", 1},
                    {role::production, role::admin});
    expect_roles<O>("CompleteProduction", {placed, accepted, started}, complete_production{"O-1"}, {role::production, role::admin});
    expect_roles<O>("ShipOrder", {placed, accepted, started, produced}, ship_order{"O-1", "c", "r", "v", "d", "p", "2026-12-05"},
                    {role::logistics, role::admin});
    expect_roles<O>("ConfirmDelivery", {placed, accepted, started, produced, shipped}, confirm_delivery{"O-1", {}},
                    {role::logistics, role::dealer, role::admin});
    expect_roles<O>("CancelOrder", {placed}, cancel_order{"O-1", "r"},
                    {role::dealer, role::engineer, role::production, role::logistics, role::admin});
}

TEST(Roles, DealerCommands) {
    using D = dealer_aggregate;
    const dealer_registered registered{"D-1", "n", "EUR", 30, 0};
    expect_roles<D>("RegisterDealer", {}, register_dealer{"D-1", "n", "EUR", 30, 0}, {role::admin});
    expect_roles<D>("UpdateDealerTerms", {registered}, update_dealer_terms{"D-1", 45, {}}, {role::accountant, role::admin});
    expect_roles<D>("SetOpeningBalance", {registered}, set_opening_balance{"D-1", 5}, {role::accountant, role::admin});
}

TEST(Roles, ClaimCommands) {
    using C = claim_aggregate;
    const claim_filed filed{"CL-1", "O-1", "D-1", "defect", "d"};
    const claim_assigned assigned{"CL-1", "cm"};
    const claim_resolved resolved{"CL-1", "repair", 0, "", iso8601(1'795'000'000'000'000)};
    expect_roles<C>("FileClaim", {}, file_claim{"CL-1", "O-1", "defect", "d"}, {role::dealer, role::claims_manager, role::admin},
                    std::nullopt, order_facts{true, "D-1", "delivered"});
    expect_roles<C>("AssignClaim", {filed}, assign_claim{"CL-1", "cm"}, {role::claims_manager, role::admin});
    expect_roles<C>("CommentOnClaim", {filed}, comment_on_claim{"CL-1", "t"}, {role::dealer, role::claims_manager, role::admin});
    expect_roles<C>("ResolveClaim", {filed, assigned}, resolve_claim{"CL-1", "repair", 0, ""}, {role::claims_manager, role::admin});
    expect_roles<C>("ReopenClaim", {filed, assigned, resolved}, reopen_claim{"CL-1", "r"}, {role::dealer, role::admin});
    expect_roles<C>("CloseClaim", {filed, assigned, resolved}, close_claim{"CL-1"}, {role::claims_manager, role::admin});
}

TEST(Roles, FinanceCommands) {
    const std::vector<role> finance{role::accountant, role::system, role::admin};
    const dealer_facts d1{true, "EUR", 30};
    const invoice_issued issued{"INV-1", "D-1", "EUR", "manual", "M-1", {{"x", 1, 100}}, 100, "2026-11-01", "2026-11-10"};
    const payment_recorded recorded{"P-1", "D-1", "EUR", 100, "bank", "2026-11-16", "B-1"};
    expect_roles<invoice_aggregate>("IssueInvoice", {}, issue_invoice{"INV-1", "D-1", "manual", "M-1", {{"x", 1, 100}}, {}}, finance, d1);
    expect_roles<invoice_aggregate>("VoidInvoice", {issued}, void_invoice{"INV-1", "r"}, finance);
    expect_roles<invoice_aggregate>("MarkInvoiceOverdue", {issued}, mark_invoice_overdue{"INV-1"}, finance);
    expect_roles<payment_aggregate>("RecordPayment", {}, record_payment{"P-1", "D-1", 100, "bank", "2026-11-16", "B-1"}, finance, d1);
    expect_roles<payment_aggregate>("AllocatePayment", {recorded}, allocate_payment{"P-1", "INV-1", 50}, finance, std::nullopt, std::nullopt,
                                    invoice_facts{true, false, "D-1", "EUR", 100});
    expect_roles<payment_aggregate>("ReversePayment", {recorded}, reverse_payment{"P-1", "r"}, finance);
    expect_roles<credit_note_aggregate>("IssueCreditNote", {}, issue_credit_note{"CN-1", "D-1", 5, "r", {}}, finance, d1);
    using S = subscription_aggregate;
    const subscription_started subscribed{"S-1", "D-1", "EUR", "PBX", 3000, "monthly", "2026-11-01"};
    expect_roles<S>("StartSubscription", {}, start_subscription{"S-1", "D-1", "PBX", 3000, "monthly", "2026-11-01"}, finance, d1);
    expect_roles<S>("ChangeSubscriptionPlan", {subscribed}, change_subscription_plan{"S-1", "PBX 20", 6000, "2026-11-16"}, finance);
    expect_roles<S>("PauseSubscription", {subscribed}, pause_subscription{"S-1"}, finance);
    expect_roles<S>("CancelSubscription", {subscribed}, cancel_subscription{"S-1", "2027-01-01"}, finance);
    expect_roles<S>("BillSubscriptionPeriod", {subscribed}, bill_subscription_period{"S-1", "2026-11-01"}, finance);
}

TEST(Roles, FlagStockShortage) {
    expect_roles<order_aggregate>("FlagStockShortage", {placed, accepted}, flag_stock_shortage{"O-1", "W", 2, 1},
                                  {role::system, role::engineer, role::storekeeper, role::admin});
}

TEST(Roles, StockCommands) {
    using S = stock_aggregate;
    const stock_received ten{"WH-1", "W", 10, "b"};
    const stock_reserved held{"WH-1", "W", "O-1", 2};
    const std::vector<role> keeper{role::storekeeper, role::admin}, for_orders{role::storekeeper, role::system, role::logistics, role::admin};
    expect_roles<S>("ReceiveStock", {}, receive_stock{"WH-1", "W", 1, "b"}, keeper);
    expect_roles<S>("ReserveStock", {ten}, reserve_stock{"WH-1", "W", "O-1", 1}, for_orders);
    expect_roles<S>("ReleaseStock", {ten, held}, release_stock{"WH-1", "W", "O-1"}, for_orders);
    expect_roles<S>("IssueStock", {ten, held}, issue_stock{"WH-1", "W", "O-1"}, for_orders);
    expect_roles<S>("WriteOffStock", {ten}, write_off_stock{"WH-1", "W", 1, "r"}, keeper);
    expect_roles<S>("CountStock", {ten}, count_stock{"WH-1", "W", 9}, keeper);
}

}  // namespace
}  // namespace dealerline::testing
