// `dealerline token`: prints a token the server will accept; bad usage is exit 2 with a reason.
#include <chrono>
#include <cstdio>
#include <string>

#include <sys/wait.h>

#include <gtest/gtest.h>

#include "api/auth.hpp"

namespace dealerline::testing {
namespace {

struct run_result {
    int status = -1;
    std::string out;
};
run_result dealerline(const std::string& args) {
    run_result r;
    FILE* pipe = ::popen((std::string(DEALERLINE_BIN) + " " + args + " 2>&1").c_str(), "r");
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
    const int status = ::pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

const std::string secret = "a-secret-of-at-least-thirty-two-bytes!";

std::int64_t now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST(TokenCli, PrintsADealerTokenTheServerAccepts) {
    auto r = dealerline("token --jwt-secret " + secret + " --role dealer --dealer D-0042 --ttl 600");
    ASSERT_EQ(r.status, 0) << r.out;
    const auto token = r.out.substr(0, r.out.find('\n'));
    auto claims = api::verify_token(secret, token, now());
    ASSERT_TRUE(claims) << claims.error().message;
    EXPECT_EQ(claims->actor().label(), "dealer:D-0042");
    EXPECT_LE(claims->expires_at, now() + 600);
    EXPECT_GT(claims->expires_at, now() + 500);
}

TEST(TokenCli, StaffTokensCarryTheirSubject) {
    auto r = dealerline("token --jwt-secret " + secret + " --role engineer --sub eng-7");
    ASSERT_EQ(r.status, 0) << r.out;
    auto claims = api::verify_token(secret, r.out.substr(0, r.out.find('\n')), now());
    ASSERT_TRUE(claims);
    EXPECT_EQ(claims->actor().label(), "staff:eng-7");
}

TEST(TokenCli, BadUsageIsExitTwoWithAReason) {
    auto unknown = dealerline("token --jwt-secret " + secret + " --role emperor");
    EXPECT_EQ(unknown.status, 2);
    EXPECT_NE(unknown.out.find("unknown role emperor"), std::string::npos) << unknown.out;
    auto no_dealer = dealerline("token --jwt-secret " + secret + " --role dealer");
    EXPECT_EQ(no_dealer.status, 2);
    EXPECT_NE(no_dealer.out.find("--dealer"), std::string::npos) << no_dealer.out;
    auto weak = dealerline("token --jwt-secret short --role admin");
    EXPECT_EQ(weak.status, 2);
    EXPECT_NE(weak.out.find("at least 32 bytes"), std::string::npos) << weak.out;
    EXPECT_EQ(dealerline("token --role admin").status, 2);
}

}  // namespace
}  // namespace dealerline::testing
