// `dealerline serve` as an operator starts it: fail-fast configuration, then a real process that
// answers, acknowledges a command, and stops cleanly on SIGTERM with the command in the log.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

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
#include "tests/projections/pg_fixture.hpp"
#include "tests/support/temp_dir.hpp"

extern char** environ;

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

TEST(ServeCli, ServesAcknowledgesAndStopsCleanlyOnSigterm) {
    ASSERT_FALSE(test_postgres().empty());
    pg_database db;
    temp_dir dir;
    const auto log_dir = (dir.path() / "log").string(), err = (dir.path() / "serve.err").string();
    std::vector<std::string> args = {DEALERLINE_BIN, "serve", "--data", log_dir, "--postgres", db.conninfo(),
                                     "--listen", "127.0.0.1:0", "--jwt-secret", secret};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);

    std::uint16_t port = 0;
    ASSERT_TRUE(eventually([&] {
        std::ifstream in(err);
        std::stringstream text;
        text << in.rdbuf();
        const auto s = text.str();
        const auto at = s.find("listening on http://127.0.0.1:");
        if (at == std::string::npos) return false;
        port = static_cast<std::uint16_t>(std::stoi(s.substr(at + 30)));
        return true;
    }, std::chrono::seconds(30)));

    EXPECT_NE(http(port, "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").find("200 OK"), std::string::npos);
    const auto token = *api::issue_token(secret, {"admin-1", domain::role::admin, "",
                                                  std::chrono::duration_cast<std::chrono::seconds>(
                                                      std::chrono::system_clock::now().time_since_epoch()).count() + 600});
    const std::string body = R"({"command_id":"c-1","type":"RegisterDealer","data":{"dealer_id":"D-1","name":"Okna","currency":"EUR","payment_terms_days":30,"credit_limit":0}})";
    const auto reply = http(port, "POST /api/commands HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer " + token +
                                      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                                      "\r\n\r\n" + body);
    EXPECT_NE(reply.find("200 OK"), std::string::npos) << reply;
    EXPECT_NE(reply.find("\"positions\":[1]"), std::string::npos) << reply;

    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 0);
    // What was acknowledged is in the log.
    storage::log_options ro;
    ro.read_only = true;
    auto log = storage::event_log::open(log_dir, ro);
    ASSERT_TRUE(log) << log.error().message;
    EXPECT_EQ((*log)->head_position(), 1u);
}

}  // namespace
}  // namespace dealerline::testing
