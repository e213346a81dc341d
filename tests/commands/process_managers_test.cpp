// The process managers against a real log and the real handler: an order's life moves stock and
// makes an invoice, a payment pays the oldest invoices first, a claim's compensation becomes a
// credit note — and running the managers again over the same log changes nothing.
#include "commands/process_managers.hpp"

#include <gtest/gtest.h>

#include "tests/support/actors.hpp"
#include "tests/support/counting_source.hpp"
#include "tests/support/log_fixture.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;
using namespace std::chrono_literals;

class ProcessManagers : public ::testing::Test {
protected:
    void SetUp() override {
        log = open_log(dir.path() / "log");
        commands::handler_options o;
        o.clock = [] { return std::int64_t{1'795'000'000'000'000}; };
        handler = std::make_unique<commands::handler>(*log, o);
        local = std::make_unique<storage::local_event_source>(*log);
        source = std::make_unique<counting_source>(*local);
        runner = std::make_unique<commands::manager_runner>(*log, *handler, commands::manager_runner_options{}, source.get());
        runner->start();
    }
    void TearDown() override { runner->stop(); }
    commands::outcome ok(domain::any_command c, actor who) {
        auto r = handler->handle({"t-" + std::to_string(++n), std::move(c), std::move(who), std::nullopt, ""});
        EXPECT_TRUE(r) << (r ? "" : r.error().code + ": " + r.error().message);
        return r ? *r : commands::outcome{};
    }
    // The managers have handled everything so far, including what their own commands appended.
    void settle() {
        ASSERT_TRUE(runner->wait_until_idle(std::chrono::steady_clock::now() + 10s));
    }
    template <class A>
    typename A::state state(const std::string& stream) {
        auto s = handler->load<A>(stream, false);
        EXPECT_TRUE(s);
        return s ? s->second : typename A::state{};
    }
    std::vector<std::string> types(const std::string& stream) {
        std::vector<std::string> out;
        const auto events = log->read_stream(stream, 1, 1000).value();  // kept: the loop must not walk a temporary
        for (const auto& e : events) out.push_back(e.type);
        return out;
    }
    void order(const std::string& id, std::vector<order_line> lines) {
        ok(order_command{place_order{id, "D-1", "EUR", std::move(lines), std::nullopt, std::nullopt}}, dealer("D-1"));
        ok(order_command{accept_order{id, std::nullopt}}, staff(role::engineer));
    }
    void ship(const std::string& id) {
        ok(order_command{start_production{id}}, staff(role::production));
        ok(order_command{complete_production{id}}, staff(role::production));
        ok(order_command{ship_order{id, "Own fleet", "R-1", "TRK-1", "Jan", "+48", "2026-12-05"}}, staff(role::logistics));
    }

    temp_dir dir;
    std::unique_ptr<storage::event_log> log;
    std::unique_ptr<commands::handler> handler;
    std::unique_ptr<storage::local_event_source> local;
    std::unique_ptr<counting_source> source;  // the managers read the log through it
    std::unique_ptr<commands::manager_runner> runner;
    int n = 0;
};

TEST_F(ProcessManagers, FulfilmentReservesIssuesReleasesInvoicesAndFlagsShortages) {
    ok(dealer_command{register_dealer{"D-1", "Okna", "EUR", 30, 0}}, staff(role::admin));
    ok(stock_command{receive_stock{"WH-1", "WIN-1", 10, "batch 1"}}, staff(role::storekeeper));
    order("O-1", {{"WIN-1", "Window", 4, 18900}, {"DOOR-9", "Door made to order", 1, 52000}});
    settle();
    auto wh = state<stock_aggregate>("stock-WH-1:WIN-1");
    EXPECT_EQ(wh.reserved, 4) << "the stocked line is reserved, the made-to-order one is not";
    EXPECT_EQ(wh.available(), 6);

    order("O-2", {{"WIN-1", "Window", 8, 18900}});
    settle();
    EXPECT_EQ(types("order-O-2").back(), "OrderStockShortageFlagged");
    EXPECT_EQ(state<stock_aggregate>("stock-WH-1:WIN-1").reserved, 4);

    order("O-3", {{"WIN-1", "Window", 2, 18900}});
    settle();
    EXPECT_EQ(state<stock_aggregate>("stock-WH-1:WIN-1").reserved, 6);
    ok(order_command{cancel_order{"O-3", "changed my mind"}}, dealer("D-1"));
    settle();
    EXPECT_EQ(state<stock_aggregate>("stock-WH-1:WIN-1").reserved, 4) << "a cancelled order's stock is released";

    ship("O-1");
    settle();
    wh = state<stock_aggregate>("stock-WH-1:WIN-1");
    EXPECT_EQ(wh.on_hand, 6) << "shipping issues the reserved stock";
    EXPECT_EQ(wh.reserved, 0);
    auto invoice = state<invoice_aggregate>("invoice-INV-O-1");
    EXPECT_EQ(invoice.status, invoice_status::open);
    EXPECT_EQ(invoice.total, 4 * 18900 + 52000);
    EXPECT_EQ(invoice.due_date, "2026-12-18") << "the dealer's 30 days";
    EXPECT_GT(source->reads.load(), 0u) << "the managers do not read through the event source they were given";
}

TEST_F(ProcessManagers, APaymentPaysTheOldestInvoicesFirstAndACompensationBecomesACreditNote) {
    ok(dealer_command{register_dealer{"D-1", "Okna", "EUR", 30, 0}}, staff(role::admin));
    const auto accountant = staff(role::accountant, "acc-1");
    ok(invoice_command{issue_invoice{"INV-1", "D-1", "manual", "M-1", {{"Service", 1, 30000}}, std::nullopt}}, accountant);
    ok(invoice_command{issue_invoice{"INV-2", "D-1", "manual", "M-2", {{"Service", 1, 50000}}, std::nullopt}}, accountant);
    ok(invoice_command{issue_invoice{"INV-3", "D-1", "manual", "M-3", {{"Service", 1, 20000}}, std::nullopt}}, accountant);
    ok(payment_command{record_payment{"P-1", "D-1", 60000, "bank", "2026-11-16", "BANK-1"}}, staff(role::system, "bank-sync"));
    settle();
    EXPECT_EQ(state<invoice_aggregate>("invoice-INV-1").status, invoice_status::paid);
    EXPECT_EQ(state<invoice_aggregate>("invoice-INV-2").open_amount(), 20000);
    EXPECT_EQ(state<invoice_aggregate>("invoice-INV-3").open_amount(), 20000);
    EXPECT_EQ(state<payment_aggregate>("payment-P-1").unallocated(), 0);
    ok(payment_command{record_payment{"P-2", "D-1", 30000, "bank", "2026-11-17", "BANK-2"}}, staff(role::system, "bank-sync"));
    settle();
    EXPECT_EQ(state<invoice_aggregate>("invoice-INV-2").status, invoice_status::paid);
    EXPECT_EQ(state<invoice_aggregate>("invoice-INV-3").open_amount(), 10000);

    order("O-1", {{"WIN-1", "Window", 1, 18900}});
    ok(claim_command{file_claim{"CL-1", "O-1", "damage", "Cracked glass"}}, dealer("D-1"));
    ok(claim_command{assign_claim{"CL-1", "cm-1"}}, staff(role::claims_manager));
    ok(claim_command{resolve_claim{"CL-1", "refund", 2500, "sorry"}}, staff(role::claims_manager));
    settle();
    auto credit = state<credit_note_aggregate>("creditnote-CN-CL-1-3");
    EXPECT_TRUE(credit.exists);
    EXPECT_EQ(credit.amount, 2500);
    EXPECT_EQ(credit.dealer_id, "D-1");
}

TEST_F(ProcessManagers, RunningThemAgainOverTheSameLogChangesNothing) {
    ok(dealer_command{register_dealer{"D-1", "Okna", "EUR", 30, 0}}, staff(role::admin));
    ok(stock_command{receive_stock{"WH-1", "WIN-1", 10, "batch 1"}}, staff(role::storekeeper));
    order("O-1", {{"WIN-1", "Window", 4, 18900}});
    ship("O-1");
    ok(payment_command{record_payment{"P-1", "D-1", 10000, "bank", "2026-11-16", "BANK-1"}}, staff(role::system, "bank-sync"));
    settle();
    runner->stop();
    const auto head = log->head_position();
    ASSERT_GT(head, 10u);
    commands::manager_runner_options again;
    again.use_checkpoint = false;
    commands::manager_runner second(*log, *handler, again);
    second.start();
    ASSERT_TRUE(second.wait_for(head, std::chrono::steady_clock::now() + 20s));
    second.stop();
    EXPECT_EQ(log->head_position(), head) << "every derived command was a duplicate";
}

}  // namespace
}  // namespace dealerline::testing
