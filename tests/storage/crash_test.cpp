// Kill -9 a process that is appending, at random moments, again and again: every append it
// acknowledged must be in the log byte for byte at its position, every append all or nothing,
// the positions gapless and the hash chain intact. Then the same with a power cut after each kill
// (what was not synced is lost), and a negative control that the power-loss test can fail.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "storage/detail/wal_files.hpp"
#include "tests/storage/crash_payload.hpp"
#include "tests/support/log_fixture.hpp"
#include "tests/support/seed.hpp"

extern char** environ;

namespace dealerline::testing {
namespace {

struct ack {
    std::uint64_t first_position;
    std::uint32_t count;
};

// Runs the child until about `run_for` after its first acknowledged append, kills it with SIGKILL,
// and returns what it acknowledged. An `unsafe` child acknowledges before it syncs.
std::map<std::string, ack> run_and_kill(const std::filesystem::path& log_dir, int round, std::chrono::milliseconds run_for,
                                        bool unsafe = false) {
    int out[2];
    EXPECT_EQ(::pipe(out), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const std::string program = DEALERLINE_CRASH_CHILD, dir = log_dir.string(), round_text = std::to_string(round);
    std::string unsafe_text = "unsafe";
    char* argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>(dir.c_str()), const_cast<char*>(round_text.c_str()),
                    unsafe ? unsafe_text.data() : nullptr, nullptr};
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

// What is wrong with the log after a crash, or "" if nothing: it must open, its positions be
// gapless, every append in it whole (acked or not: an unacked one may have made it), every
// acknowledged append there byte for byte at its position, and the chain must verify. One pass
// over the log (a read per acknowledged append grows with the square of the rounds).
std::string problem_after_crash(const std::filesystem::path& log_dir, const std::map<std::string, ack>& all_acks) {
    auto opened = storage::event_log::open(log_dir);
    if (!opened) return "the log does not open: " + opened.error().message;
    auto& log = **opened;
    struct stored {
        std::string command_id, type, data;
    };
    std::vector<stored> by_position;  // [position - 1]
    std::map<std::string, std::uint32_t> counts;
    std::string problem;
    auto scanned = log.scan(1, storage::to_end, [&](const storage::event_view& e) {
        if (e.position != by_position.size() + 1) {
            problem = "position " + std::to_string(e.position) + " follows " + std::to_string(by_position.size());
            return false;
        }
        by_position.push_back({std::string(e.command_id), std::string(e.type), std::string(e.data)});
        ++counts[std::string(e.command_id)];
        return true;
    });
    if (!scanned) return "scan: " + scanned.error().message;
    if (!problem.empty()) return problem;
    for (const auto& [id, n] : counts)
        if (n != crash_event_count(id)) return "append " + id + " is torn";
    for (const auto& [id, a] : all_acks) {
        if (a.count != crash_event_count(id)) return "acked " + id + " has the wrong count";
        if (a.first_position + a.count - 1 > by_position.size())
            return "acked " + id + " at " + std::to_string(a.first_position) + " is missing (head " + std::to_string(by_position.size()) + ")";
        for (std::uint32_t i = 0; i < a.count; ++i) {
            const auto& e = by_position[a.first_position - 1 + i];
            if (e.command_id != id || e.data != crash_event_data(id, i) || e.type != "CrashTested")
                return "acked " + id + " is not at " + std::to_string(a.first_position + i) + " (found " + e.command_id + ")";
        }
    }
    auto report = log.verify();
    if (!report) return "verify: " + report.error().message;
    if (!report->ok()) return "verify: " + report->problem + " at " + std::to_string(*report->first_bad);
    return "";
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
        const auto problem = problem_after_crash(log_dir, all_acks);
        ASSERT_EQ(problem, "") << "round " << round;
    }
    std::cout << "[          ] " << all_acks.size() << " acknowledged appends over " << rounds << " kill -9 rounds\n";
}

// A power cut after the kill: the live WAL loses what was not synced when the process died (the
// writer publishes how far it synced in dealerline-wal-synced, before it acknowledges anything
// that sync covers). Either every byte past that point is lost, or each page of it on its own
// (the kernel writes pages back in any order). Only when nothing of the live WAL was synced are
// all its bytes lost: a file whose first page is gone while later ones survive cannot be told
// from a lost WAL file, and recovery refuses that (docs/operations.md).
std::string lose_unsynced(const std::filesystem::path& log_dir, std::mt19937& rng) {
    const int fd = ::open((log_dir / storage::detail::synced_wal_file).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return "no synced-WAL record";
    std::uint64_t record[3] = {};
    const auto got = ::pread(fd, record, sizeof record, 0);
    ::close(fd);
    if (got != static_cast<ssize_t>(sizeof record) || (record[0] ^ record[1] ^ storage::detail::synced_check) != record[2])
        return "a torn synced-WAL record";
    char name[32];
    std::snprintf(name, sizeof name, "%06llu.log", static_cast<unsigned long long>(record[0]));
    const auto wal = log_dir / name;
    std::error_code ec;
    const auto size = std::filesystem::file_size(wal, ec);
    if (ec) return "live WAL " + wal.string() + " is gone";
    const std::uint64_t synced = record[1];
    const bool all = synced == 0 || rng() % 2 == 0;
    const int w = ::open(wal.c_str(), O_WRONLY | O_CLOEXEC);
    if (w < 0) return "cannot write " + wal.string();
    static const std::vector<char> zeros(4096, '\0');
    for (std::uint64_t page = synced / 4096 * 4096; page < size; page += 4096) {
        const std::uint64_t begin = std::max(page, synced), end = std::min<std::uint64_t>(page + 4096, size);
        if (begin >= end || !(all || rng() % 2 == 0)) continue;
        if (::pwrite(w, zeros.data(), end - begin, static_cast<off_t>(begin)) != static_cast<ssize_t>(end - begin)) {
            ::close(w);
            return "cannot write " + wal.string();
        }
    }
    ::close(w);
    return "";
}

int fault_rounds() {
    const char* text = std::getenv("DEALERLINE_FAULT_ROUNDS");
    return text != nullptr && std::atoi(text) > 0 ? std::atoi(text) : 200;
}

TEST(EventLogPowerLoss, EveryAcknowledgedAppendSurvivesLosingWhatWasNotSynced) {
    test_seed seed(test_seed::fresh);
    std::mt19937 rng(static_cast<unsigned>(seed.value));
    const int rounds = fault_rounds();
    std::size_t acknowledged = 0;
    std::unique_ptr<temp_dir> dir;
    std::map<std::string, ack> all_acks;
    for (int round = 0; round < rounds; ++round) {
        if (round % 25 == 0) {  // a fresh log now and then keeps each round's checks short
            dir = std::make_unique<temp_dir>();
            all_acks.clear();
        }
        const auto log_dir = dir->path() / "log";
        const auto run_for = std::chrono::milliseconds(rng() % 60);
        auto acks = run_and_kill(log_dir, round, run_for);
        ASSERT_FALSE(acks.empty()) << "round " << round << ": the child acknowledged nothing";
        acknowledged += acks.size();
        all_acks.insert(acks.begin(), acks.end());
        ASSERT_EQ(lose_unsynced(log_dir, rng), "") << "round " << round;
        ASSERT_EQ(problem_after_crash(log_dir, all_acks), "") << "round " << round;
    }
    std::cout << "[          ] " << acknowledged << " acknowledged appends over " << rounds
              << " power-loss rounds (DEALERLINE_FAULT_ROUNDS for more)\n";
}

// The negative control: the same test must catch a log that acknowledges before its sync.
TEST(EventLogPowerLoss, TheTestCatchesALogThatAcknowledgesBeforeItsSync) {
    test_seed seed(test_seed::fresh);
    std::mt19937 rng(static_cast<unsigned>(seed.value));
    temp_dir dir;
    const auto log_dir = dir.path() / "log";
    std::map<std::string, ack> all_acks;
    std::string caught;
    for (int round = 0; round < 20 && caught.empty(); ++round) {
        auto acks = run_and_kill(log_dir, round, std::chrono::milliseconds(20 + rng() % 40), /*unsafe=*/true);
        all_acks.insert(acks.begin(), acks.end());
        ASSERT_EQ(lose_unsynced(log_dir, rng), "");
        caught = problem_after_crash(log_dir, all_acks);
    }
    EXPECT_NE(caught, "") << "20 rounds of acknowledging before the sync, and no acknowledged append was lost";
    std::cout << "[          ] caught: " << caught << "\n";
}

}  // namespace
}  // namespace dealerline::testing
