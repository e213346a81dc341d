// `dealerline serve` as an operator starts it: fail-fast configuration, then a real process that
// answers, acknowledges commands, and stops cleanly on SIGTERM with every acknowledged command
// in the log (also in the middle of a burst); `dealerline simulate` driving it.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "api/auth.hpp"
#include "storage/event_log.hpp"
#include "tests/support/pg_fixture.hpp"
#include "tests/support/spawn.hpp"
#include "tests/support/temp_dir.hpp"


namespace dealerline::testing {
namespace {

const std::string secret = "serve-test-secret-0123456789abcdefgh";

int run(const std::string& args, std::string* out = nullptr) {
    FILE* pipe = ::popen((std::string(DEALERLINE_BIN) + " " + args + " 2>&1").c_str(), "r");
    char buf[4096];
    std::string text;
    while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) text.append(buf, n);
    if (out) *out = text;
    const int status = ::pclose(pipe);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// One HTTP/1.1 exchange over a plain socket ("Connection: close"): the whole response text.
std::string http(std::uint16_t port, const std::string& request) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return "";
    }
    (void)::write(fd, request.data(), request.size());
    std::string response;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) response.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    return response;
}

TEST(ServeCli, BadConfigurationIsRefusedAtOnce) {
    ASSERT_FALSE(test_postgres().empty());
    temp_dir dir;
    const std::string data = "--data " + (dir.path() / "log").string(), pg = "--postgres '" + test_postgres() + "'";
    std::string out;
    EXPECT_EQ(run("serve " + data + " " + pg, &out), 2);
    EXPECT_NE(out.find("--jwt-secret"), std::string::npos) << out;
    EXPECT_EQ(run("serve " + data + " " + pg + " --jwt-secret short", &out), 2);
    EXPECT_NE(out.find("at least 32 bytes"), std::string::npos) << out;
    EXPECT_EQ(run("serve " + data + " " + pg + " --jwt-secret " + secret + " --listen nowhere", &out), 2);
    EXPECT_NE(out.find("HOST:PORT"), std::string::npos) << out;
    EXPECT_EQ(run("serve " + data + " --postgres 'host=127.0.0.1 port=1 connect_timeout=2' --jwt-secret " + secret, &out), 1);
    EXPECT_NE(out.find("cannot migrate"), std::string::npos) << out;
}

// A `dealerline serve` process on a free port; stderr kept in the test's folder.
struct served {
    pid_t pid = 0;
    std::uint16_t port = 0;
};

served spawn_serve(const std::string& log_dir, const std::string& conninfo, const std::string& err) {
    served out;
    out.pid = spawn({DEALERLINE_BIN, "serve", "--data", log_dir, "--postgres", conninfo, "--listen", "127.0.0.1:0", "--jwt-secret", secret,
                     "--rate-limit", "0", "--billing-interval", "1"},
                    err);
    if (out.pid == 0) return {};
    (void)eventually([&] {
        std::ifstream in(err);
        std::stringstream text;
        text << in.rdbuf();
        const auto s = text.str();
        const auto at = s.find("listening on http://127.0.0.1:");
        if (at == std::string::npos) return false;
        out.port = static_cast<std::uint16_t>(std::stoi(s.substr(at + 30)));
        return true;
    }, std::chrono::seconds(30));
    return out;
}

int stop(pid_t pid) {
    if (::kill(pid, SIGTERM) != 0) return -1;
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::string token(domain::role role, const std::string& sub, const std::string& dealer = "") {
    return *api::issue_token(secret, {sub, role, dealer,
                                      std::chrono::duration_cast<std::chrono::seconds>(
                                          std::chrono::system_clock::now().time_since_epoch()).count() + 600});
}

std::string post_command(std::uint16_t port, const std::string& bearer, const std::string& body) {
    return http(port, "POST /api/commands HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer " + bearer +
                          "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
}

TEST(ServeCli, ServesAcknowledgesAndStopsCleanlyOnSigterm) {
    ASSERT_FALSE(test_postgres().empty());
    pg_database db;
    temp_dir dir;
    const auto log_dir = (dir.path() / "log").string();
    const auto server = spawn_serve(log_dir, db.conninfo(), (dir.path() / "serve.err").string());
    ASSERT_NE(server.port, 0);

    EXPECT_NE(http(server.port, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").find("200 OK"), std::string::npos);
    const std::string body = R"({"command_id":"c-1","type":"RegisterDealer","data":{"dealer_id":"D-1","name":"Okna","currency":"EUR","payment_terms_days":30,"credit_limit":0}})";
    const auto reply = post_command(server.port, token(domain::role::admin, "admin-1"), body);
    EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
    EXPECT_NE(reply.find("\"positions\":[1]"), std::string::npos) << reply;

    EXPECT_EQ(stop(server.pid), 0);
    // What was acknowledged is in the log.
    storage::log_options ro;
    ro.read_only = true;
    auto log = storage::event_log::open(log_dir, ro);
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_EQ((*log)->head_position(), 1u);
}

TEST(ServeCli, SigtermDuringACommandBurstLosesNothingAcknowledged) {
    ASSERT_FALSE(test_postgres().empty());
    pg_database db;
    temp_dir dir;
    const auto log_dir = (dir.path() / "log").string();
    auto server = spawn_serve(log_dir, db.conninfo(), (dir.path() / "serve.err").string());
    ASSERT_NE(server.port, 0);
    const auto admin = token(domain::role::admin, "admin-1"), dealer = token(domain::role::dealer, "D-1", "D-1");
    ASSERT_NE(post_command(server.port, admin, R"({"command_id":"c-1","type":"RegisterDealer","data":{"dealer_id":"D-1","name":"Okna","currency":"EUR","payment_terms_days":30,"credit_limit":0}})")
                  .find("200 OK"),
              std::string::npos);
    std::mutex m;
    std::vector<std::string> acknowledged;  // order ids answered 200
    std::atomic<bool> go{true};
    std::vector<std::thread> clients;
    for (int t = 0; t < 6; ++t)
        clients.emplace_back([&, t] {
            for (int i = 0; go; ++i) {
                const auto id = "O-" + std::to_string(t) + "-" + std::to_string(i);
                const auto reply = post_command(server.port, dealer,
                                                R"({"command_id":"place-)" + id + R"(","type":"PlaceOrder","data":{"order_id":")" + id +
                                                    R"(","dealer_id":"D-1","currency":"EUR","lines":[{"sku":"W","description":"","quantity":1,"unit_price":1}]}})");
                if (reply.find("HTTP/1.1 200") != 0) return;  // refused or cut off by the stop
                std::lock_guard lock(m);
                acknowledged.push_back(id);
            }
        });
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(m);
        return acknowledged.size() >= 60;
    }));
    EXPECT_EQ(stop(server.pid), 0) << "SIGTERM in the middle of the burst";
    go = false;
    for (auto& c : clients) c.join();

    // Restarted, the server still has every order it acknowledged.
    server = spawn_serve(log_dir, db.conninfo(), (dir.path() / "serve2.err").string());
    ASSERT_NE(server.port, 0);
    const auto auditor = token(domain::role::auditor, "aud");
    for (const auto& id : acknowledged) {
        const auto reply = http(server.port, "GET /api/streams/order-" + id + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer " +
                                                  auditor + "\r\n\r\n");
        ASSERT_NE(reply.find("\"OrderPlaced\""), std::string::npos) << id << "\n" << reply;
    }
    EXPECT_EQ(stop(server.pid), 0);
}

TEST(ServeCli, TheSimulatorDrivesAServedPlant) {
    ASSERT_FALSE(test_postgres().empty());
    pg_database db;
    temp_dir dir;
    const auto server = spawn_serve((dir.path() / "log").string(), db.conninfo(), (dir.path() / "serve.err").string());
    ASSERT_NE(server.port, 0);
    const std::string url = "http://127.0.0.1:" + std::to_string(server.port);
    std::string out;
    EXPECT_EQ(run("simulate --url " + url + " --jwt-secret " + secret + " --rate 1000 --count 600 --dealers 10 --seed 9", &out), 0) << out;
    EXPECT_NE(out.find("600 sent"), std::string::npos) << out;
    EXPECT_NE(out.find(" 0 failed"), std::string::npos) << out;
    // The plant's orders are there for a dealer, as the portal shows them.
    const auto reply = http(server.port, "GET /api/orders?min_position=600 HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer " +
                                             token(domain::role::engineer, "eng") + "\r\n\r\n");
    EXPECT_NE(reply.find("\"status\":\"in_production\""), std::string::npos) << reply.substr(0, 2000);
    // The money and the warehouse moved too: shipments invoiced and paid, stock reserved and
    // issued by the process managers, subscriptions started and billed.
    EXPECT_TRUE(eventually([&] {
        return db.scalar("SELECT count(*) FROM portal.payments WHERE allocated > 0") != "0" &&
               db.scalar("SELECT count(*) FROM portal.invoices WHERE source = 'order'") != "0" &&
               db.scalar("SELECT count(*) FROM portal.invoices WHERE source = 'subscription'") != "0" &&
               db.scalar("SELECT count(*) FROM analytics.stock_movements WHERE issued > 0 AND actor = 'system:fulfilment'") != "0" &&
               db.scalar("SELECT count(*) FROM analytics.mrr_monthly WHERE mrr > 0") != "0";
    })) << db.rows("SELECT source, status, count(*) FROM portal.invoices GROUP BY 1, 2") << db.rows("SELECT * FROM portal.subscriptions");

    // Restarted on the same log (as the demo is), the simulator goes on with the orders the first
    // run left open. Their statuses are taken once every projection has caught up, so that what
    // changes afterwards is the second run's doing.
    auto caught_up = [&] {
        const auto metrics = http(server.port, "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        std::istringstream lines(metrics);
        int projections = 0;
        for (std::string line; std::getline(lines, line);) {
            if (!line.starts_with("dealerline_projection_lag_events{")) continue;
            ++projections;
            if (!line.ends_with(" 0") && !line.ends_with(" 0\r")) return false;
        }
        return projections > 0;
    };
    ASSERT_TRUE(eventually(caught_up));
    const std::string open = "status IN ('placed', 'accepted', 'in_production', 'produced', 'shipped')";
    const auto before = db.scalar("SELECT string_agg(order_id || '=' || status, ',') FROM portal.orders WHERE " + open);
    ASSERT_FALSE(before.empty()) << "the first run left no order open";
    EXPECT_EQ(run("simulate --url " + url + " --jwt-secret " + secret + " --rate 1000 --count 300 --dealers 10 --seed 10", &out), 0) << out;
    EXPECT_EQ(out.find("going on with 0 open"), std::string::npos) << out;
    EXPECT_NE(out.find(" 0 failed"), std::string::npos) << out;
    EXPECT_TRUE(eventually([&] {
        return db.scalar("SELECT count(*) FROM portal.orders o JOIN (SELECT split_part(x, '=', 1) AS id, split_part(x, '=', 2) AS status"
                         " FROM unnest(string_to_array('" + before + "', ',')) AS x) b ON b.id = o.order_id WHERE o.status <> b.status") != "0";
    })) << "no order the first run left open moved in the second\n" << out;

    EXPECT_EQ(run("simulate --url nowhere --jwt-secret " + secret, &out), 2) << out;
    EXPECT_EQ(run("simulate --url " + url + " --jwt-secret short", &out), 2) << out;
    EXPECT_EQ(stop(server.pid), 0);
}

}  // namespace
}  // namespace dealerline::testing
