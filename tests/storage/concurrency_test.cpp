// Many writers racing on overlapping streams with exact expected versions: the log must hand out
// gapless positions and contiguous versions, report every lost race as a conflict, and ack nothing twice.
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/log_fixture.hpp"
#include "tests/support/seed.hpp"

namespace dealerline::testing {
namespace {

TEST(EventLogConcurrency, EightThreadsOfExactVersionAppendsStayGaplessAndContiguous) {
    temp_dir dir;
    auto log = open_log(dir.path() / "log");
    ASSERT_TRUE(log);
    constexpr int threads = 8, appends_per_thread = 5000, streams = 16;
    test_seed seed(1);

    struct acked {
        std::uint64_t first_position;
        std::uint32_t count;
        std::string stream;
        std::uint64_t version;
        std::string command_id;
    };
    std::mutex mutex;
    std::vector<acked> acks;
    std::atomic<int> conflicts{0}, other_errors{0};
    std::string first_other_error;

    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            std::mt19937 rng(static_cast<unsigned>(t) * 7919u + static_cast<unsigned>(seed.value));
            std::vector<acked> mine;
            for (int n = 0; n < appends_per_thread; ++n) {
                const auto stream = "order-" + std::to_string(rng() % streams);
                const auto events = 1 + rng() % 3;
                const auto version = log->stream_version(stream).value();
                std::vector<storage::event_data> batch;
                for (unsigned e = 0; e < events; ++e) batch.push_back(event("E", R"({"t":)" + std::to_string(t) + "}"));
                const auto id = "t" + std::to_string(t) + "-" + std::to_string(n);
                auto r = log->append(append_to(stream, storage::expected_version::exact(version), batch, id));
                if (r) {
                    EXPECT_FALSE(r->duplicate);
                    mine.push_back({r->first_position, r->event_count, stream, r->streams.front().version, id});
                } else if (r.error().code == storage::error::kind::conflict) {
                    ++conflicts;
                } else {
                    std::lock_guard lock(mutex);
                    if (other_errors++ == 0) first_other_error = r.error().message;
                }
            }
            std::lock_guard lock(mutex);
            acks.insert(acks.end(), mine.begin(), mine.end());
        });
    }
    for (auto& w : workers) w.join();

    EXPECT_EQ(other_errors.load(), 0) << first_other_error;
    std::cout << "[          ] " << acks.size() << " appends acknowledged, " << conflicts.load() << " conflicts\n";
    // Losing a race needs another writer to hit the same stream in between: most appends win.
    EXPECT_GT(acks.size(), static_cast<std::size_t>(threads * appends_per_thread / 2));
    EXPECT_EQ(static_cast<int>(acks.size()) + conflicts.load(), threads * appends_per_thread);

    // Every acked position exactly once, and they tile 1..head with no gap.
    std::set<std::uint64_t> positions;
    std::uint64_t events = 0;
    for (const auto& a : acks) {
        for (std::uint64_t p = a.first_position; p < a.first_position + a.count; ++p)
            EXPECT_TRUE(positions.insert(p).second) << "position " << p << " acked twice";
        events += a.count;
    }
    EXPECT_EQ(log->head_position(), events);
    ASSERT_FALSE(positions.empty());
    EXPECT_EQ(*positions.begin(), 1u);
    EXPECT_EQ(*positions.rbegin(), events);

    // What the log holds is exactly what was acked, with each stream's versions contiguous.
    std::map<std::uint64_t, const acked*> by_position;
    for (const auto& a : acks) by_position[a.first_position] = &a;
    std::map<std::string, std::uint64_t> versions;
    std::uint64_t expected_position = 1;
    auto scanned = log->scan(1, storage::to_end, [&](const storage::event_view& e) {
        EXPECT_EQ(e.position, expected_position++);
        EXPECT_EQ(e.version, ++versions[std::string(e.stream)]) << e.stream << " at " << e.position;
        return true;
    });
    ASSERT_TRUE(scanned);
    EXPECT_EQ(*scanned, events);
    for (const auto& a : acks) {
        auto first = log->read_all(a.first_position, 1).value().at(0);
        EXPECT_EQ(first.command_id, a.command_id);
        EXPECT_EQ(first.stream, a.stream);
        EXPECT_EQ(first.version + a.count - 1, a.version);
    }
    auto report = log->verify().value();
    EXPECT_TRUE(report.ok()) << report.problem;
}

}  // namespace
}  // namespace dealerline::testing
