// Exactly-once under kill -9: a real `dealerline projections run` process is killed at random
// points (mostly inside a batch's transaction) while the plant keeps writing; after a restart
// that catches up, every table equals a fresh rebuild.
#include <random>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "commands/handler.hpp"
#include "projections/projections.hpp"
#include "tests/support/pg_fixture.hpp"
#include "tests/support/log_fixture.hpp"
#include "tests/support/spawn.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/workload.hpp"


namespace dealerline::testing {
namespace {

using namespace std::chrono_literals;

pid_t start_projector(const std::filesystem::path& data, const std::string& conninfo) {
    const pid_t pid = spawn({DEALERLINE_BIN, "projections", "run", "--data", data.string(), "--postgres", conninfo, "--batch", "7"});
    EXPECT_NE(pid, 0);
    return pid;
}

int wait_exit(pid_t pid) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return status;
}

TEST(ProjectionsFault, KilledProjectorsResumeAndApplyEveryEventExactlyOnce) {
    ASSERT_FALSE(test_postgres().empty()) << "DEALERLINE_TEST_POSTGRES is not set: run the tests with scripts/test.sh";
    pg_database db;
    ASSERT_TRUE(projections::migrate(db.conninfo()));
    temp_dir dir;
    auto log = open_log(dir.path() / "log");
    commands::handler handler(*log);
    test_seed seed(424242);
    workload plant(handler, seed.value);
    plant.register_dealers(10);
    for (int i = 0; i < 1500; ++i) plant.step();

    auto total = [&] {
        return std::stoull(db.scalar("SELECT coalesce(sum(position), 0) FROM dealerline.projection_checkpoints"));
    };
    std::mt19937 rng(static_cast<unsigned>(seed.value) ^ 20261123u);
    int killed_behind = 0;
    for (int round = 0; round < 12; ++round) {
        const auto before = total();
        const pid_t child = start_projector(dir.path() / "log", db.conninfo());
        // Once it is applying, let it run a random little while, then kill it mid-flight (this
        // sleep picks the kill point; it waits for nothing).
        ASSERT_TRUE(eventually([&] { return total() > before; })) << "round " << round;
        std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
        const bool behind = total() < log->head_position() * projections::names().size();
        ASSERT_EQ(::kill(child, SIGKILL), 0);
        const int status = wait_exit(child);
        ASSERT_TRUE(WIFSIGNALED(status)) << "round " << round << ": the projector exited by itself";
        killed_behind += behind ? 1 : 0;
        for (int i = 0; i < 150; ++i) plant.step();  // the plant does not wait for the projector
    }
    EXPECT_GE(killed_behind, 8) << "most kills should land while there was work in flight";

    // The last run catches up and stops cleanly at a committed checkpoint.
    const auto head = log->head_position();
    const pid_t child = start_projector(dir.path() / "log", db.conninfo());
    ASSERT_TRUE(eventually([&] { return total() == head * projections::names().size(); }, 120s));
    ASSERT_EQ(::kill(child, SIGTERM), 0);
    const int status = wait_exit(child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;

    const auto live = db.digest();
    storage::local_event_source source(*log);
    for (const auto& name : projections::names()) {
        auto r = projections::rebuild(db.conninfo(), source, name);
        ASSERT_TRUE(r) << r.error().message;
    }
    EXPECT_EQ(db.digest(), live);
}

// `dealerline projections …` as an operator runs it, beside a process that keeps the log open.
struct cli_result {
    int status = -1;
    std::string out;
};
cli_result dealerline(const std::string& args) {
    const std::string command = std::string(DEALERLINE_BIN) + " " + args + " 2>&1";
    cli_result r;
    FILE* pipe = ::popen(command.c_str(), "r");
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) r.out.append(buf, n);
    const int status = ::pclose(pipe);
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

TEST(ProjectionsCli, MigrateRebuildAndStatusWhileTheLogIsOpenElsewhere) {
    ASSERT_FALSE(test_postgres().empty());
    pg_database db;
    temp_dir dir;
    auto log = open_log(dir.path() / "log");
    commands::handler handler(*log);
    test_seed seed(5);
    workload plant(handler, seed.value);
    plant.register_dealers(3);
    for (int i = 0; i < 300; ++i) plant.step();
    const std::string pg = "--postgres '" + db.conninfo() + "'", data = "--data '" + (dir.path() / "log").string() + "'";

    auto migrate = dealerline("projections migrate " + pg);
    EXPECT_EQ(migrate.status, 0) << migrate.out;
    EXPECT_NE(migrate.out.find("applied migration 1"), std::string::npos) << migrate.out;
    EXPECT_NE(dealerline("projections migrate " + pg).out.find("up to date"), std::string::npos);

    auto rebuilt = dealerline("projections rebuild all " + data + " " + pg);
    ASSERT_EQ(rebuilt.status, 0) << rebuilt.out;
    for (const auto& name : projections::names())
        EXPECT_NE(rebuilt.out.find(name + " rebuilt: position " + std::to_string(log->head_position())), std::string::npos)
            << rebuilt.out;
    EXPECT_EQ(db.scalar("SELECT count(*) FROM analytics.events"), std::to_string(log->head_position()));

    auto status = dealerline("projections status " + data + " " + pg);
    EXPECT_EQ(status.status, 0) << status.out;
    EXPECT_NE(status.out.find("portal_orders"), std::string::npos) << status.out;

    auto unknown = dealerline("projections rebuild portal_nothing " + data + " " + pg);
    EXPECT_EQ(unknown.status, 2) << unknown.out;
    EXPECT_NE(unknown.out.find("no projection named portal_nothing"), std::string::npos) << unknown.out;
    auto unreachable = dealerline("projections migrate --postgres 'host=127.0.0.1 port=1 connect_timeout=2'");
    EXPECT_EQ(unreachable.status, 1) << unreachable.out;
    EXPECT_NE(unreachable.out.find("cannot migrate"), std::string::npos) << unreachable.out;
}

}  // namespace
}  // namespace dealerline::testing
