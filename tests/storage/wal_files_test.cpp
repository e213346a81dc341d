// The writer's zeroed WAL files (storage/detail/wal_files.hpp): what followers and recovery see.
#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "storage/detail/record.hpp"
#include "tests/support/log_fixture.hpp"
#include "tests/support/raw_db.hpp"

namespace dealerline::testing {
namespace {

std::filesystem::path live_wal(const std::filesystem::path& dir) {
    std::filesystem::path newest;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        if (entry.path().extension() == ".log" && entry.path().filename() > newest.filename()) newest = entry.path();
    return newest;
}

TEST(ZeroedWal, TheWritersLiveWalIsZeroedAheadOfItsData) {
    temp_dir dir;
    auto log = open_log(dir.path() / "log");
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(append_to("order-1", storage::expected_version::any(), {event("Noted")}, "c-1")));
    // The zeroer runs on its own thread: poll with a deadline for the zeros to be there.
    const auto wal = live_wal(dir.path() / "log");
    ASSERT_FALSE(wal.empty());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::filesystem::file_size(wal) < (1u << 20) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    EXPECT_GE(std::filesystem::file_size(wal), 1u << 20) << "no zeros were written ahead of the data";
}

TEST(ZeroedWal, AFollowerSeesEveryEventWhileTheWriterAppendsIntoTheZeros) {
    temp_dir dir;
    const auto path = dir.path() / "log";
    auto writer = open_log(path);
    ASSERT_TRUE(writer);
    ASSERT_TRUE(writer->append(append_to("order-1", storage::expected_version::any(), {event("Noted")}, "c-0")));
    auto follower = open_log(path, {.read_only = true, .follow = true});
    ASSERT_TRUE(follower);

    // Catch up between the writer's appends: a follower that read past the zeros before the
    // data landed there would never see those events.
    constexpr int appends = 300;
    for (int i = 1; i < appends; ++i) {
        ASSERT_TRUE(writer->append(append_to("order-" + std::to_string(i % 7), storage::expected_version::any(),
                                             {event("Noted", R"({"n":)" + std::to_string(i) + "}")}, "c-" + std::to_string(i))));
        if (i % 10 == 0) {
            ASSERT_TRUE(follower->catch_up());
        }
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::uint64_t head = 0;
    while (head < appends && std::chrono::steady_clock::now() < deadline) {
        auto caught = follower->catch_up();
        ASSERT_TRUE(caught) << caught.error().message;
        head = *caught;
    }
    ASSERT_EQ(head, static_cast<std::uint64_t>(appends));
    auto mine = writer->read_all(1, appends);
    auto seen = follower->read_all(1, appends);
    ASSERT_TRUE(mine && seen);
    ASSERT_EQ(seen->size(), mine->size());
    for (std::size_t i = 0; i < mine->size(); ++i) {
        EXPECT_EQ((*seen)[i].position, i + 1);
        EXPECT_EQ((*seen)[i].data, (*mine)[i].data);
        EXPECT_EQ((*seen)[i].hash, (*mine)[i].hash);
    }
}

TEST(ZeroedWal, AReopenedLogHasEveryEventAndAppendsOn) {
    temp_dir dir;
    const auto path = dir.path() / "log";
    for (int round = 0; round < 3; ++round) {
        auto log = open_log(path);
        ASSERT_TRUE(log);
        for (int i = 0; i < 50; ++i)
            ASSERT_TRUE(log->append(append_to("order-1", storage::expected_version::any(), {event("Noted")},
                                              "c-" + std::to_string(round) + "-" + std::to_string(i))));
        EXPECT_EQ(log->head_position(), static_cast<std::uint64_t>(50 * (round + 1)));
    }
    auto log = open_log(path, {.read_only = true});
    ASSERT_TRUE(log);
    auto report = log->verify();
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report->ok()) << report->problem;
    EXPECT_EQ(report->head_position, 150u);
}

// What a crash can leave in a zeroed WAL: a page that never reached the disk (zeros, which
// RocksDB's reader skips) before a later batch that did. Here the batches are written directly:
// event 21 again, then a batch two positions on, as if 22 had been in the lost page.
TEST(ZeroedWal, RecoveryStopsAtTheFirstGapInPositions) {
    temp_dir dir;
    const auto path = dir.path() / "log";
    {
        auto log = open_log(path);
        ASSERT_TRUE(log);
        for (int i = 0; i < 21; ++i)
            ASSERT_TRUE(log->append(append_to("order-1", storage::expected_version::any(), {event("Noted")}, "c-" + std::to_string(i))));
    }
    {
        raw_db raw(path);
        const auto last = raw.get_event(21);
        raw.put_event(21, last);
        raw.put_event(23, last);  // 22 never arrived
    }
    auto log = open_log(path, {.read_only = true});
    ASSERT_TRUE(log) << "the batch after the gap was replayed";
    EXPECT_EQ(log->head_position(), 21u);
    auto report = log->verify();
    ASSERT_TRUE(report) << report.error().message;
    EXPECT_TRUE(report->ok()) << report->problem;
}

}  // namespace
}  // namespace dealerline::testing
