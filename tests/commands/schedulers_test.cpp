// The billing and overdue schedulers against a real log, with the process managers turning
// billed periods into invoices: a period is billed exactly once, however often or concurrently
// the scheduler runs; an unpaid invoice past due becomes overdue once.
#include "commands/schedulers.hpp"

#include <thread>

#include <gtest/gtest.h>

#include "commands/process_managers.hpp"
#include "domain/time.hpp"
#include "tests/support/actors.hpp"
#include "tests/support/log_fixture.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;
using namespace std::chrono_literals;

class Schedulers : public ::testing::Test {
protected:
    void SetUp() override {
        log = open_log(dir.path() / "log");
        commands::handler_options o;
        o.clock = [this] { return now.load(); };
        handler = std::make_unique<commands::handler>(*log, o);
        managers = std::make_unique<commands::manager_runner>(*log, *handler);
        managers->start();
        ok(dealer_command{register_dealer{"D-1", "Telco client", "EUR", 14, 0}}, staff(role::admin));
    }
    void TearDown() override { managers->stop(); }
    void ok(domain::any_command c, actor who) {
        auto r = handler->handle({"t-" + std::to_string(++n), std::move(c), std::move(who), std::nullopt, ""});
        ASSERT_TRUE(r) << r.error().code << ": " << r.error().message;
    }
    void today(const std::string& date) { now = *parse_date(date) * micros_per_day + 8 * 3'600'000'000LL; }
    void settle() {
        ASSERT_TRUE(managers->wait_until_idle(std::chrono::steady_clock::now() + 10s));
    }
    std::vector<storage::recorded_event> of_type(const std::string& type) {
        std::vector<storage::recorded_event> out;
        const auto all = log->read_all(1, 100'000).value();
        for (const auto& e : all)
            if (e.type == type) out.push_back(e);
        return out;
    }

    temp_dir dir;
    std::unique_ptr<storage::event_log> log;
    std::unique_ptr<commands::handler> handler;
    std::unique_ptr<commands::manager_runner> managers;
    std::atomic<std::int64_t> now{0};
    int n = 0;
};

TEST_F(Schedulers, EachPeriodIsBilledOnceAndInvoicedEvenWhenTheRunRepeatsOrRunsTwiceAtOnce) {
    today("2026-09-01");
    const auto accountant = staff(role::accountant, "acc-1");
    ok(subscription_command{start_subscription{"S-1", "D-1", "PBX 10 lines", 3000, "monthly", "2026-09-01"}}, accountant);
    ok(subscription_command{start_subscription{"S-2", "D-1", "Internet 1 Gbit", 12000, "quarterly", "2026-10-15"}}, accountant);
    today("2026-11-18");
    // Two runs at the same time, then a third: September, October, November of S-1; the quarter
    // from October 15 of S-2. Four periods, four invoices.
    std::optional<commands::result<commands::billing_report>> a, b;
    std::thread first([&] { a = commands::run_billing(*log, *handler, "2026-11-18", 4); });
    std::thread second([&] { b = commands::run_billing(*log, *handler, "2026-11-18", 4); });
    first.join();
    second.join();
    ASSERT_TRUE(*a && *b);
    EXPECT_EQ((*a)->billed + (*b)->billed, 4u);
    auto again = commands::run_billing(*log, *handler, "2026-11-18");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->billed, 0u);
    EXPECT_EQ(again->subscriptions, 2u);
    settle();
    const auto billed = of_type("SubscriptionPeriodBilled");
    ASSERT_EQ(billed.size(), 4u);
    const auto invoices = of_type("InvoiceIssued");
    ASSERT_EQ(invoices.size(), 4u);
    std::set<std::string> ids;
    for (const auto& e : invoices) ids.insert(e.stream);
    EXPECT_TRUE(ids.contains("invoice-INV-S-1-2026-10-01"));
    EXPECT_TRUE(ids.contains("invoice-INV-S-2-2026-10-15"));
    // A period that has not started is not billed, whatever `until` says.
    auto early = commands::run_billing(*log, *handler, "2026-12-31");
    ASSERT_TRUE(early);
    EXPECT_EQ(early->billed, 0u);
    EXPECT_GE(early->refused, 1u);
}

TEST_F(Schedulers, APlanChangeMidPeriodIsProratedByDaysOnTheNextInvoice) {
    today("2026-11-01");
    const auto accountant = staff(role::accountant, "acc-1");
    ok(subscription_command{start_subscription{"S-1", "D-1", "PBX 10 lines", 3000, "monthly", "2026-11-01"}}, accountant);
    ASSERT_TRUE(commands::run_billing(*log, *handler, "2026-11-01"));
    today("2026-11-16");
    ok(subscription_command{change_subscription_plan{"S-1", "PBX 20 lines", 6000, "2026-11-16"}}, accountant);
    today("2026-12-01");
    auto run = commands::run_billing(*log, *handler, "2026-12-01");
    ASSERT_TRUE(run);
    EXPECT_EQ(run->billed, 1u);
    settle();
    auto december = handler->load<invoice_aggregate>("invoice-INV-S-1-2026-12-01");
    ASSERT_TRUE(december);
    EXPECT_EQ(december->second.total, 6000 + 1500) << "December at 6000, plus 15 of November's 30 days at +3000";
}

TEST_F(Schedulers, AnUnpaidInvoicePastDueBecomesOverdueOnce) {
    today("2026-11-01");
    const auto accountant = staff(role::accountant, "acc-1");
    ok(invoice_command{issue_invoice{"INV-1", "D-1", "manual", "M-1", {{"Setup", 1, 10000}}, std::nullopt}}, accountant);  // due 11-15
    ok(invoice_command{issue_invoice{"INV-2", "D-1", "manual", "M-2", {{"Setup", 1, 10000}}, std::nullopt}}, accountant);
    ok(payment_command{record_payment{"P-1", "D-1", 10000, "bank", "2026-11-02", "B-1"}}, accountant);
    settle();  // the payment goes to INV-1, the older one
    today("2026-11-15");
    auto on_due_date = commands::run_overdue(*log, *handler, "2026-11-15");
    ASSERT_TRUE(on_due_date);
    EXPECT_EQ(on_due_date->marked, 0u) << "due today is not overdue";
    today("2026-11-16");
    auto after = commands::run_overdue(*log, *handler, "2026-11-16");
    ASSERT_TRUE(after);
    EXPECT_EQ(after->marked, 1u);
    EXPECT_TRUE(handler->load<invoice_aggregate>("invoice-INV-2")->second.overdue);
    EXPECT_FALSE(handler->load<invoice_aggregate>("invoice-INV-1")->second.overdue) << "paid";
    auto twice = commands::run_overdue(*log, *handler, "2026-11-16");
    EXPECT_EQ(twice->marked, 0u);
}

}  // namespace
}  // namespace dealerline::testing
