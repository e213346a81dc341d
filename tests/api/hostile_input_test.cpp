// What a client sends must never stop the server (issue 17): malformed query strings and path
// ids are a 400 that names the parameter, requests are charged and admitted before their body
// is read, and one dealer cannot hold every socket.
#include <cerrno>

#include <boost/beast/websocket.hpp>

#include "storage/detail/wal_files.hpp"
#include "tests/api/server_fixture.hpp"

namespace dealerline::testing {
namespace {

TEST_F(Server, MalformedQueryStringsAndPathIdsAre400AndTheServerServesOn) {
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    const auto dealer = token_for(domain::role::dealer, "D-1", "D-1");
    const auto keeper = token_for(domain::role::storekeeper, "sk-1");
    const std::vector<std::pair<std::string, std::string>> bad{
        {"/api/orders?status=%00", dealer},          // this one used to abort the process
        {"/api/claims?order_id=%00", dealer},
        {"/api/stock?sku=%00", keeper},
        {"/api/stock?warehouse=WH%0A1", keeper},
        {"/api/orders?status=%C3%28", dealer},       // not UTF-8
        {"/api/orders?status=%E2%82", dealer},       // cut short
        {"/api/orders?status=Shipped%20now", dealer},  // not a status
        {"/api/orders?dealer_id=" + std::string(65, 'D'), admin},
        {"/api/orders?limit=99999999999999999999999", dealer},
        {"/api/orders?status=placed&status=accepted", dealer},
        {"/api/orders?status=%zz", dealer},
        {"/api/orders/O%001", dealer},
        {"/api/claims/CL%201", dealer},
        {"/api/dealers/D%0A1/account", dealer},
        {"/api/streams/order-O%001", admin},
        {"/api/events?type=Order%00Placed", admin},
    };
    for (const auto& [target, token] : bad) {
        auto r = call(http::verb::get, target, "", token);
        EXPECT_EQ(r.status, 400) << target << ": " << r.raw;
        if (r.body.is_object()) {
            EXPECT_EQ(text(r.body.at("error")), "bad_request") << target;
        }
    }
    EXPECT_EQ(call(http::verb::get, "/healthz").status, 200);
    EXPECT_EQ(call(http::verb::get, "/api/orders?status=placed", "", dealer).status, 200);
    // A percent-encoded id is decoded before it is looked up.
    auto account = call(http::verb::get, "/api/dealers/D%2D1/account?min_position=1", "", dealer);
    ASSERT_EQ(account.status, 200) << account.raw;
    EXPECT_EQ(text(account.body.at("dealer_id")), "D-1");
}

TEST_F(Server, MinPositionBeyondTheHeadIsRefusedAtOnce) {
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    const auto started = std::chrono::steady_clock::now();
    auto r = call(http::verb::get, "/api/orders?min_position=1000000", "", admin);
    EXPECT_EQ(r.status, 400) << r.raw;
    EXPECT_NE(r.raw.find("min_position"), std::string::npos) << r.raw;
    EXPECT_LT(std::chrono::steady_clock::now() - started, 3s) << "it must not wait for a position that cannot come";
}

TEST_F(Server, ABodyIsReadOnlyAfterItsTokenIsAccepted) {
    // Near the body limit, without a token: refused on the headers, nothing appended.
    const std::string big = cmd("c-1", "RegisterDealer", dealer_d1, R"(,"pad":")" + std::string(900'000, 'x') + "\"");
    auto r = command(big, "");
    EXPECT_EQ(r.status, 401) << r.raw;
    auto forged = command(big, token_for(domain::role::admin, "admin-1") + "x");
    EXPECT_EQ(forged.status, 401) << forged.raw;
    EXPECT_EQ(log->head_position(), 0u);
    EXPECT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200) << "the server serves on";
}

class TightLimits : public Server {
protected:
    void configure(api::server_options& o) override {
        o.rate_limit = 0.5;
        o.rate_burst = 4;
        o.max_live_per_dealer = 2;
    }
};

TEST_F(TightLimits, ABulkRequestCostsOneRateTokenPerCommand) {
    const auto sync = token_for(domain::role::admin, "bank-sync");
    std::string five = "[";
    for (int i = 0; i < 5; ++i) {
        const auto id = "D-" + std::to_string(i);
        five += (i ? "," : "") + cmd("r-" + id, "RegisterDealer",
                                     R"({"dealer_id":")" + id + R"(","name":"N","currency":"EUR","payment_terms_days":30,"credit_limit":0})");
    }
    five += "]";
    auto refused = command(five, sync);
    EXPECT_EQ(refused.status, 429) << refused.raw;
    EXPECT_EQ(log->head_position(), 0u) << "refused whole";
    // Three commands fit in the tokens left (4 − the one the refused request was admitted with).
    const auto three = "[" + cmd("a", "RegisterDealer", dealer_d1) + "," +
                       cmd("b", "RegisterDealer", R"({"dealer_id":"D-2","name":"N","currency":"EUR","payment_terms_days":30,"credit_limit":0})") +
                       "," + cmd("c", "RegisterDealer", R"({"dealer_id":"D-3","name":"N","currency":"EUR","payment_terms_days":30,"credit_limit":0})") +
                       "]";
    auto ok = command(three, sync);
    EXPECT_EQ(ok.status, 200) << ok.raw;
    EXPECT_EQ(log->head_position(), 3u);
    EXPECT_EQ(call(http::verb::get, "/api/orders", "", sync).status, 429) << "the budget is spent";
}

TEST_F(TightLimits, OneDealerHoldsAtMostItsCapOfLiveSockets) {
    namespace websocket = beast::websocket;
    net::io_context ioc;
    auto open = [&](const std::string& token) -> std::pair<std::unique_ptr<websocket::stream<net::ip::tcp::socket>>, int> {
        auto ws = std::make_unique<websocket::stream<net::ip::tcp::socket>>(ioc);
        ws->next_layer().connect({net::ip::make_address("127.0.0.1"), server->port()});
        websocket::response_type res;
        beast::error_code ec;
        ws->handshake(res, "localhost", "/api/live?access_token=" + token, ec);
        return {std::move(ws), static_cast<int>(res.result_int())};
    };
    const auto d1 = token_for(domain::role::dealer, "D-1", "D-1");
    auto a = open(d1), b = open(d1), c = open(d1);
    EXPECT_EQ(a.second, 101);
    EXPECT_EQ(b.second, 101);
    EXPECT_EQ(c.second, 429) << "the third socket of D-1";
    EXPECT_EQ(open(token_for(domain::role::dealer, "D-2", "D-2")).second, 101) << "another dealer is not affected";
    a.first->close(websocket::close_code::normal);
    a.first.reset();
    // Once one closes, the dealer may open another.
    EXPECT_TRUE(eventually([&] { return open(d1).second == 101; }, 10s));
}

// The disk, as a dealer and an operator see it.
class LowDisk : public Server {
protected:
    storage::log_options log_settings() override {
        return {.min_free_bytes = 1ull << 30, .free_bytes = [f = free] { return f->load(); }};
    }
    std::shared_ptr<std::atomic<std::uint64_t>> free = std::make_shared<std::atomic<std::uint64_t>>(8ull << 30);
};

TEST_F(LowDisk, CommandsAre503UnderTheFreeSpaceFloorAndResumeWhenSpaceReturns) {
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    free->store(100ull << 20);
    // The writer looks at the disk every 100 ms: a command or two may still go through.
    reply refused;
    int n = 0;
    ASSERT_TRUE(eventually([&] {
        const auto id = "D-" + std::to_string(100 + n++);
        refused = command(cmd("r-" + id, "RegisterDealer",
                              R"({"dealer_id":")" + id + R"(","name":"N","currency":"EUR","payment_terms_days":30,"credit_limit":0})"),
                          admin);
        return refused.status == 503;
    }, 10s)) << refused.raw;
    EXPECT_NE(refused.raw.find("disk_space_low"), std::string::npos) << refused.raw;
    const auto head = log->head_position();
    EXPECT_EQ(command(cmd("c-2", "PlaceOrder", order_o1), admin).status, 503);
    EXPECT_EQ(log->head_position(), head) << "nothing of a refused command is in the log";
    reply ready;
    ASSERT_TRUE(eventually([&] {
        ready = call(http::verb::get, "/readyz");
        return ready.status == 503 && ready.raw.find("min-free-bytes") != std::string::npos;
    }, 10s)) << ready.raw;
    EXPECT_NE(call(http::verb::get, "/metrics", "", admin).raw.find("dealerline_log_disk_space_low 1"), std::string::npos);

    free->store(4ull << 30);
    ASSERT_TRUE(eventually([&] { return command(cmd("c-2", "PlaceOrder", order_o1), admin).status == 200; }, 10s))
        << "no restart needed once space returns";
    EXPECT_TRUE(eventually([&] { return call(http::verb::get, "/readyz").status == 200; }, 10s));
}

class FailingDisk : public Server {
protected:
    void SetUp() override {
        storage::detail::injected_wal_faults().reset();
        Server::SetUp();
    }
    void TearDown() override {
        Server::TearDown();
        storage::detail::injected_wal_faults().reset();
    }
};

TEST_F(FailingDisk, AFailedSyncIs503AndReadinessSaysWhyUntilARestart) {
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    storage::detail::injected_wal_faults().fail_sync = EIO;
    auto lost = command(cmd("c-2", "PlaceOrder", order_o1), admin);
    EXPECT_EQ(lost.status, 503) << lost.raw;
    // The retry is not answered from the command index: its first append was never durable.
    auto retried = command(cmd("c-2", "PlaceOrder", order_o1), admin);
    EXPECT_EQ(retried.status, 503) << retried.raw;
    EXPECT_EQ(retried.raw.find("\"duplicate\":true"), std::string::npos) << retried.raw;
    EXPECT_EQ(log->head_position(), 1u);
    reply ready;
    ASSERT_TRUE(eventually([&] {
        ready = call(http::verb::get, "/readyz");
        return ready.status == 503 && ready.raw.find("\"open\":false") != std::string::npos;
    }, 10s)) << ready.raw;
    EXPECT_NE(ready.raw.find("syncing"), std::string::npos) << ready.raw;
    EXPECT_NE(call(http::verb::get, "/metrics", "", admin).raw.find("dealerline_log_failed 1"), std::string::npos);
    EXPECT_EQ(call(http::verb::get, "/healthz").status, 200) << "the process serves on (reads, probes)";
}

}  // namespace
}  // namespace dealerline::testing
