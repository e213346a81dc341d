// `dealerline billing run` as an operator runs it on a log no server holds: it bills what has
// started, invoices it (the process managers run inside), and a second run bills nothing.
#include <cstdio>
#include <string>

#include <sys/wait.h>

#include <gtest/gtest.h>

#include "commands/handler.hpp"
#include "domain/time.hpp"
#include "tests/domain/scenario.hpp"
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

}  // namespace
}  // namespace dealerline::testing
