// `dealerline billing run` and `dealerline payments import` as an operator runs them on a log no
// server holds: billing bills what has started and invoices it (the process managers run inside),
// a second run bills nothing; an import records each good line once, reports the bad ones by line
// number, and its payments pay the oldest invoices first, to the cent.
#include <cstdio>
#include <fstream>
#include <string>

#include <sys/wait.h>

#include <gtest/gtest.h>

#include "commands/handler.hpp"
#include "domain/time.hpp"
#include "tests/support/actors.hpp"
#include "tests/support/temp_dir.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;

int run(const std::string& args, std::string* out) {
    FILE* pipe = ::popen((std::string(DEALERLINE_BIN) + " " + args + " 2>&1").c_str(), "r");
    char buf[4096];
    out->clear();
    while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) out->append(buf, n);
    const int status = ::pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(BillingCli, BillsWhatHasStartedOnceAndInvoicesIt) {
    temp_dir dir;
    const auto data = (dir.path() / "log").string();
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const auto today = date_of(now);
    // 75 days: always past two months (at most 62 days) and short of three (at least 89).
    const auto two_months_ago = date_from_days(*parse_date(today) - 75);
    {
        auto log = storage::event_log::open(data);
        ASSERT_TRUE(log);
        commands::handler h(**log);
        ASSERT_TRUE(h.handle({"c-1", dealer_command{register_dealer{"D-1", "Telco client", "EUR", 14, 0}}, staff(role::admin), {}, ""}));
        ASSERT_TRUE(h.handle({"c-2", subscription_command{start_subscription{"S-1", "D-1", "PBX", 3000, "monthly", two_months_ago}},
                              staff(role::accountant), {}, ""}));
    }
    std::string out;
    ASSERT_EQ(run("billing run --data " + data, &out), 0) << out;
    EXPECT_NE(out.find("1 subscriptions, 3 periods billed"), std::string::npos) << out;
    ASSERT_EQ(run("billing run --data " + data, &out), 0) << out;
    EXPECT_NE(out.find("0 periods billed"), std::string::npos) << out;
    {
        storage::log_options ro;
        ro.read_only = true;
        auto log = storage::event_log::open(data, ro);
        ASSERT_TRUE(log);
        int invoices = 0;
        const auto all = (*log)->read_all(1, 10'000).value();
        for (const auto& e : all) invoices += e.type == "InvoiceIssued" ? 1 : 0;
        EXPECT_EQ(invoices, 3) << "each billed period invoiced once";
    }
    EXPECT_EQ(run("billing run --data " + data + " --until 2999-01-01", &out), 2) << out;
    EXPECT_EQ(run("billing run --data " + data + " --until tomorrow", &out), 2) << out;
    EXPECT_EQ(run("billing run --data " + (dir.path() / "nothing").string(), &out), 1) << out;
}

TEST(PaymentsCli, AnImportRecordsEachGoodLineOnceAndAllocatesOldestFirst) {
    temp_dir dir;
    const auto data = (dir.path() / "log").string();
    {
        auto log = storage::event_log::open(data);
        ASSERT_TRUE(log);
        commands::handler h(**log);
        ASSERT_TRUE(h.handle({"c-1", dealer_command{register_dealer{"D-1", "Okna", "EUR", 30, 0}}, staff(role::admin), {}, ""}));
        ASSERT_TRUE(h.handle({"c-2", invoice_command{issue_invoice{"INV-1", "D-1", "manual", "M-1", {{"Windows", 1, 10000}}, std::nullopt}},
                              staff(role::accountant), {}, ""}));
        ASSERT_TRUE(h.handle({"c-3", invoice_command{issue_invoice{"INV-2", "D-1", "manual", "M-2", {{"Doors", 1, 5000}}, std::nullopt}},
                              staff(role::accountant), {}, ""}));
    }
    const auto csv = (dir.path() / "bank.csv").string();
    {
        std::ofstream out(csv);
        out << "external_ref,dealer_id,amount,method,received_at\r\n"
            << "BANK-1,D-1,120.00,bank,2026-11-16\r\n"
            << "BANK-2,D-1,12.5x,bank,2026-11-16\r\n"
            << "\"BANK-3\",D-1,10,card,2026-11-17T09:30:00Z\r\n"
            << "BANK-4,D-9,5.00,bank,2026-11-17\r\n";
    }
    std::string out;
    EXPECT_EQ(run("payments import " + csv + " --data " + data, &out), 1) << out;
    EXPECT_NE(out.find("2 payments recorded, 0 already recorded, 2 bad lines"), std::string::npos) << out;
    EXPECT_NE(out.find("bank.csv:3: amount"), std::string::npos) << out;
    EXPECT_NE(out.find("bank.csv:5: dealer D-9 is not registered"), std::string::npos) << out;
    EXPECT_EQ(run("payments import " + csv + " --data " + data, &out), 1) << out;
    EXPECT_NE(out.find("0 payments recorded, 2 already recorded, 2 bad lines"), std::string::npos) << out;
    {
        auto log = storage::event_log::open(data);
        ASSERT_TRUE(log);
        commands::handler h(**log);
        auto one = h.load<invoice_aggregate>("invoice-INV-1");
        auto two = h.load<invoice_aggregate>("invoice-INV-2");
        EXPECT_EQ(one->second.status, invoice_status::paid) << "the oldest first";
        EXPECT_EQ(two->second.open_amount(), 5000 - 2000 - 1000) << "120.00 pays 100.00 + 20.00; 10.00 more";
        EXPECT_EQ(h.load<payment_aggregate>("payment-PAY-D-1-BANK-1")->second.unallocated(), 0);
    }
    EXPECT_EQ(run("payments import " + (dir.path() / "none.csv").string() + " --data " + data, &out), 1) << out;
}

}  // namespace
}  // namespace dealerline::testing
