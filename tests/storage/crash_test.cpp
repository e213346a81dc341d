// Kill -9 a process that is appending, at random moments, again and again: every append it
// acknowledged must be in the log byte for byte at its position, every append all or nothing,
// the positions gapless and the hash chain intact.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/storage/crash_payload.hpp"
#include "tests/storage/log_fixture.hpp"
#include "tests/support/seed.hpp"

extern char** environ;

namespace dealerline::testing {
namespace {

struct ack {
    std::uint64_t first_position;
    std::uint32_t count;
};

// Runs the child until about `run_for` after its first acknowledged append, kills it with SIGKILL,
// and returns what it acknowledged.
std::map<std::string, ack> run_and_kill(const std::filesystem::path& log_dir, int round, std::chrono::milliseconds run_for) {
    int out[2];
    EXPECT_EQ(::pipe(out), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const std::string program = DEALERLINE_CRASH_CHILD, dir = log_dir.string(), round_text = std::to_string(round);
    char* argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>(dir.c_str()), const_cast<char*>(round_text.c_str()),
                    nullptr};
    pid_t pid = 0;
    EXPECT_EQ(posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);

    std::string received;
    char buffer[65536];
    auto read_some = [&](int timeout_ms) {
        pollfd p{out[0], POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return true;  // nothing yet: still running
        const auto n = ::read(out[0], buffer, sizeof buffer);
        if (n <= 0) return false;  // the child is gone and the pipe drained
        received.append(buffer, static_cast<std::size_t>(n));
        return true;
    };
    // Opening replays the WAL of every earlier round (a killed process never flushes), so the
    // random moment is counted from the child's first acknowledgement, not from its start.
    const auto open_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (received.empty() && std::chrono::steady_clock::now() < open_deadline) {
        if (!read_some(5)) break;
    }
    const auto kill_at = std::chrono::steady_clock::now() + run_for;
    while (std::chrono::steady_clock::now() < kill_at) {
        if (!read_some(5)) break;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status)) << "the child ended by itself (status " << status << ") before it was killed";
    while (read_some(1000)) {
    }
    ::close(out[0]);

    std::map<std::string, ack> acks;
    std::istringstream lines(received);
    std::string id;
    ack a{};
    while (lines >> id >> a.first_position >> a.count) acks[id] = a;
    return acks;
}

TEST(EventLogCrash, EveryAcknowledgedAppendSurvivesKillNine) {
    temp_dir dir;
    const auto log_dir = dir.path() / "log";
    test_seed seed(test_seed::fresh);  // a new kill schedule each run
    std::mt19937 rng(static_cast<unsigned>(seed.value));
    const int rounds = 20;
    std::map<std::string, ack> all_acks;
    for (int round = 0; round < rounds; ++round) {
        const auto run_for = std::chrono::milliseconds(rng() % 200);
        auto acks = run_and_kill(log_dir, round, run_for);
        EXPECT_FALSE(acks.empty()) << "round " << round << ": the child acknowledged nothing in " << run_for.count() << " ms";
        all_acks.insert(acks.begin(), acks.end());

        auto log = open_log(log_dir);
        ASSERT_TRUE(log);
        // One pass over the whole log (a read per acknowledged append grows with the square of
        // the rounds): positions gapless, every append in it whole (acked or not: an unacked
        // one may have made it).
        struct stored {
            std::string command_id, type, data;
        };
        std::vector<stored> by_position;  // [position - 1]
        std::map<std::string, std::uint32_t> counts;
        auto scanned = log->scan(1, storage::to_end, [&](const storage::event_view& e) {
            EXPECT_EQ(e.position, by_position.size() + 1);
            by_position.push_back({std::string(e.command_id), std::string(e.type), std::string(e.data)});
            ++counts[std::string(e.command_id)];
            return true;
        });
        ASSERT_TRUE(scanned);
        for (const auto& [id, n] : counts) EXPECT_EQ(n, crash_event_count(id)) << "append " << id << " is torn";
        // Every acknowledged append, from this round and all before, is there byte for byte.
        for (const auto& [id, a] : all_acks) {
            ASSERT_EQ(a.count, crash_event_count(id)) << id;
            ASSERT_LE(a.first_position + a.count - 1, by_position.size()) << "round " << round << ": acked " << id << " is missing";
            for (std::uint32_t i = 0; i < a.count; ++i) {
                const auto& e = by_position[a.first_position - 1 + i];
                EXPECT_EQ(e.command_id, id);
                EXPECT_EQ(e.data, crash_event_data(id, i));
                EXPECT_EQ(e.type, "CrashTested");
            }
        }
        auto report = log->verify();
        ASSERT_TRUE(report);
        ASSERT_TRUE(report->ok()) << "round " << round << ": " << report->problem << " at " << *report->first_bad;
    }
    std::cout << "[          ] " << all_acks.size() << " acknowledged appends over " << rounds << " kill -9 rounds\n";
}

}  // namespace
}  // namespace dealerline::testing
