// Faults of the disk, injected into the writer's WAL files (storage/detail/wal_files.hpp) and its
// view of free space: after each, nothing unsynced is acknowledged, a failure sticks until the
// log is reopened, and the reopened log holds every acknowledged append, gapless and chained.
#include <sched.h>
#include <sys/mount.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/detail/wal_files.hpp"
#include "tests/support/log_fixture.hpp"
#include "tests/support/raw_db.hpp"
#include "tests/support/eventually.hpp"

namespace dealerline::testing {
namespace {

using namespace std::chrono_literals;
using storage::detail::injected_wal_faults;

class WalFaults : public ::testing::Test {
protected:
    void SetUp() override { injected_wal_faults().reset(); }
    void TearDown() override { injected_wal_faults().reset(); }

    std::filesystem::path path() const { return dir_.path() / "log"; }

    storage::result<storage::append_result> append(storage::event_log& log, const std::string& id, std::size_t pad = 100) {
        return log.append(append_to("order-" + std::to_string(next_stream_++ % 5), storage::expected_version::any(),
                                    {event("Noted", R"({"pad":")" + std::string(pad, 'x') + "\"}")}, id));
    }

    // Reopens the log and checks that every acknowledged append is in it at its position and
    // that the chain verifies.
    void expect_every_acknowledged_append_after_reopening(const std::map<std::string, std::uint64_t>& acked) {
        auto log = open_log(path());
        ASSERT_TRUE(log);
        for (const auto& [id, position] : acked) {
            auto found = log->find_command(id);
            ASSERT_TRUE(found && *found) << "acknowledged " << id << " is missing";
            EXPECT_EQ((*found)->first_position, position) << id;
        }
        auto report = log->verify();
        ASSERT_TRUE(report);
        EXPECT_TRUE(report->ok()) << report->problem << " at " << report->first_bad.value_or(0);
        // And it takes appends again.
        EXPECT_TRUE(append(*log, "after-reopen"));
    }

    temp_dir dir_;
    int next_stream_ = 0;
};

TEST_F(WalFaults, AFailedSyncFailsTheLogAndNothingIsAcknowledgedAfterIt) {
    std::map<std::string, std::uint64_t> acked;
    {
        auto log = open_log(path());
        ASSERT_TRUE(log);
        for (int i = 0; i < 10; ++i) {
            auto r = append(*log, "ok-" + std::to_string(i));
            ASSERT_TRUE(r);
            acked["ok-" + std::to_string(i)] = r->first_position;
        }
        injected_wal_faults().fail_sync = EIO;
        auto failed = append(*log, "lost");
        ASSERT_FALSE(failed) << "acknowledged although its sync failed";
        EXPECT_NE(failed.error().code, storage::error::kind::no_space);
        ASSERT_TRUE(log->failure()) << "the log still takes appends after a failed sync";
        // The failure sticks: a later sync would succeed, but pages before it may be gone.
        for (int i = 0; i < 5; ++i) EXPECT_FALSE(append(*log, "after-" + std::to_string(i)));
        EXPECT_EQ(log->head_position(), 10u);
    }
    expect_every_acknowledged_append_after_reopening(acked);
}

// The zeroer syncs the writer's own descriptor. Linux reports a writeback error once per open
// file: if the zeroer's fdatasync takes it, the writer's next one succeeds over lost pages.
TEST_F(WalFaults, AFailedSyncOfTheZerosAheadFailsTheLog) {
    std::map<std::string, std::uint64_t> acked;
    {
        auto log = open_log(path(), {.wal_zeroed_ahead = 2u << 20});
        ASSERT_TRUE(log);
        injected_wal_faults().fail_zeroing_sync = EIO;
        // 64 KiB appends move the data into the zeros, and the zeroer syncs more of them.
        bool refused = false;
        for (int i = 0; i < 2000 && !refused; ++i) {
            const auto id = "big-" + std::to_string(i);
            auto r = append(*log, id, 64u << 10);
            if (r)
                acked[id] = r->first_position;
            else
                refused = true;
        }
        ASSERT_TRUE(refused) << "125 MiB appended after the zeroer's sync failed, all acknowledged";
        ASSERT_TRUE(log->failure());
        EXPECT_NE(log->failure()->find("zeros"), std::string::npos) << *log->failure();
        EXPECT_EQ(injected_wal_faults().fail_zeroing_sync.load(), 0) << "the zeroer never met its fault";
        for (int i = 0; i < 5; ++i) EXPECT_FALSE(append(*log, "after-" + std::to_string(i)));
    }
    expect_every_acknowledged_append_after_reopening(acked);
}

// A retry whose original sits in a group whose sync then fails must fail too. The syncs are held
// at a gate so that the retries are decided (as duplicates, from the command index) while the
// original's sync is still under way.
TEST_F(WalFaults, ADuplicateIsAnsweredOnlyOnceItsOriginalIsDurable) {
    auto log = open_log(path());
    ASSERT_TRUE(log);
    auto& faults = injected_wal_faults();
    faults.gate_syncs = true;

    // 1. A first append takes the idle pipeline and waits at the gate in its own sync.
    auto first = std::async(std::launch::async, [&] { return append(*log, "first"); });
    ASSERT_TRUE(eventually([&] { return faults.waiting.load() == 1; }, 10s));
    // 2. Eight appends pile up behind it (one of them the original) and are written as one group
    //    for the syncer once the first is through.
    std::vector<std::future<storage::result<storage::append_result>>> group;
    for (int i = 0; i < 8; ++i)
        group.push_back(log->append_async(append_to("order-" + std::to_string(i), storage::expected_version::any(), {event("Noted")},
                                                    i == 0 ? "original" : "other-" + std::to_string(i))));
    faults.permits = 1;
    ASSERT_TRUE(first.get());
    ASSERT_TRUE(eventually([&] { return faults.waiting.load() == 1 && log->stats().groups == 2; }))
        << "the group of eight is not at the gate (groups decided: " << log->stats().groups << ")";
    // 3. Eight retries of the original, decided as duplicates while its sync waits.
    std::vector<std::future<storage::result<storage::append_result>>> retries;
    for (int i = 0; i < 8; ++i)
        retries.push_back(log->append_async(append_to("order-0", storage::expected_version::any(), {event("Noted")}, "original")));
    ASSERT_TRUE(eventually([&] { return log->stats().groups == 3; })) << "the retries were not decided";
    // 4. The original's sync fails.
    faults.fail_sync = EIO;
    faults.gate_syncs = false;
    for (auto& f : group) EXPECT_FALSE(f.get());
    for (auto& f : retries) {
        auto r = f.get();
        EXPECT_FALSE(r) << "a retry was answered duplicate: true at position " << r->first_position
                        << " although its original was never durable";
    }
    EXPECT_TRUE(log->failure());
}

TEST_F(WalFaults, NoSpaceOnAWriteFailsTheLogUntilItIsReopened) {
    std::map<std::string, std::uint64_t> acked;
    {
        auto log = open_log(path());
        ASSERT_TRUE(log);
        for (int i = 0; i < 5; ++i) {
            auto r = append(*log, "ok-" + std::to_string(i));
            ASSERT_TRUE(r);
            acked["ok-" + std::to_string(i)] = r->first_position;
        }
        injected_wal_faults().fail_write = ENOSPC;
        auto failed = append(*log, "no-space");
        ASSERT_FALSE(failed);
        EXPECT_NE(failed.error().message.find("No space"), std::string::npos) << failed.error().message;
        EXPECT_TRUE(log->failure());
        EXPECT_FALSE(append(*log, "after"));
    }
    expect_every_acknowledged_append_after_reopening(acked);
}

TEST_F(WalFaults, ShortWritesLoseNothing) {
    injected_wal_faults().short_writes = true;
    std::map<std::string, std::uint64_t> acked;
    {
        auto log = open_log(path());
        ASSERT_TRUE(log);
        std::vector<std::future<storage::result<storage::append_result>>> futures;
        for (int i = 0; i < 200; ++i)
            futures.push_back(log->append_async(append_to("order-" + std::to_string(i % 7), storage::expected_version::any(),
                                                          {event("Noted", R"({"pad":")" + std::string(3000, 'y') + "\"}")},
                                                          "short-" + std::to_string(i))));
        for (int i = 0; i < 200; ++i) {
            auto r = futures[static_cast<std::size_t>(i)].get();
            ASSERT_TRUE(r) << r.error().message;
            acked["short-" + std::to_string(i)] = r->first_position;
        }
        EXPECT_FALSE(log->failure());
    }
    injected_wal_faults().short_writes = false;
    expect_every_acknowledged_append_after_reopening(acked);
}

TEST(DiskFloor, AppendsAreRefusedUnderTheFloorAndResumeWhenSpaceReturns) {
    temp_dir dir;
    auto free = std::make_shared<std::atomic<std::uint64_t>>(10ull << 30);
    auto log = open_log(dir.path() / "log", {.min_free_bytes = 1ull << 30, .free_bytes = [free] { return free->load(); }});
    ASSERT_TRUE(log);
    ASSERT_TRUE(log->append(append_to("order-1", storage::expected_version::any(), {event("Noted")}, "before")));
    EXPECT_FALSE(log->space().low());

    free->store(512ull << 20);
    EXPECT_TRUE(log->space().low());
    int n = 0;
    storage::result<storage::append_result> refused = storage::append_result{};
    ASSERT_TRUE(eventually([&] {
        refused = log->append(append_to("order-1", storage::expected_version::any(), {event("Noted")}, "low-" + std::to_string(n++)));
        return !refused;
    })) << "appends still taken with 512 MiB free under a 1 GiB floor";
    EXPECT_EQ(refused.error().code, storage::error::kind::no_space) << refused.error().message;
    EXPECT_NE(refused.error().message.find("floor"), std::string::npos) << refused.error().message;
    const auto head = log->head_position();
    const auto version = log->stream_version("order-1").value();
    // Refused whole: nothing of it is in the log, and the log has not failed.
    EXPECT_FALSE(log->append(append_to("order-1", storage::expected_version::any(), {event("Noted")}, "refused")));
    EXPECT_EQ(log->head_position(), head);
    EXPECT_EQ(log->stream_version("order-1").value(), version);
    EXPECT_FALSE(log->find_command("refused").value().has_value());
    EXPECT_FALSE(log->failure());

    free->store(2ull << 30);
    EXPECT_FALSE(log->space().low());
    ASSERT_TRUE(eventually([&] {
        return log->append(append_to("order-1", storage::expected_version::any(), {event("Noted")}, "back-" + std::to_string(n++)))
            .has_value();
    })) << "appends did not resume when space returned";
    auto report = log->verify();
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok()) << report->problem;
}

// A real filesystem that fills up: a small tmpfs (mounting needs root, as in CI; elsewhere the
// tests skip). What the injected ENOSPC above stands for, with RocksDB's own files, the WAL's zeros
// ahead and the kernel's accounting all in play.
class RealDiskFull : public ::testing::Test {
protected:
    void SetUp() override {
        mount_ = dir_.path() / "fs";
        std::filesystem::create_directories(mount_);
        // In a mount namespace of this process's own where it can have one (ctest runs each test
        // in a fresh process, before any thread): the tmpfs then goes with the process even if
        // it aborts. Otherwise (threads running already) in the machine's, unmounted at the end.
        if (::unshare(CLONE_NEWNS) == 0) (void)::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr);
        if (::mount("tmpfs", mount_.c_str(), "tmpfs", 0, "size=40m,mode=0700") != 0)
            GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << "): needs root";
        mounted_ = true;
    }
    void TearDown() override {
        if (mounted_) ::umount2(mount_.c_str(), MNT_DETACH);
    }
    // Space returns: tmpfs grows in place, keeping its files.
    void grow() { ASSERT_EQ(::mount("tmpfs", mount_.c_str(), "tmpfs", MS_REMOUNT, "size=256m,mode=0700"), 0) << std::strerror(errno); }

    std::filesystem::path path() const { return mount_ / "log"; }
    static storage::append_request request(const std::string& id) {
        return append_to("order-" + std::to_string(std::hash<std::string>{}(id) % 7), storage::expected_version::any(),
                         {event("Noted", R"({"pad":")" + std::string(4000, 'z') + "\"}")}, id);
    }

    temp_dir dir_;
    std::filesystem::path mount_;
    bool mounted_ = false;
};

TEST_F(RealDiskFull, AFullFilesystemFailsTheLogAndKeepsEveryAcknowledgedAppend) {
    std::map<std::string, std::uint64_t> acked;
    {
        auto log = open_log(path());  // no floor: RocksDB and the WAL meet ENOSPC themselves
        ASSERT_TRUE(log);
        storage::result<storage::append_result> failed = storage::append_result{};
        for (int i = 0; i < 100000 && failed; ++i) {
            const auto id = "fill-" + std::to_string(i);
            failed = log->append(request(id));
            if (failed) acked[id] = failed->first_position;
        }
        ASSERT_FALSE(failed) << "40 MiB took 100,000 appends of 4 KB";
        EXPECT_GT(acked.size(), 100u);
        EXPECT_TRUE(log->failure()) << "the append failed (" << failed.error().message << ") but the log did not";
        // Whatever failed, nothing more is taken: no append after the failure is acknowledged.
        for (int i = 0; i < 5; ++i) EXPECT_FALSE(log->append(request("after-" + std::to_string(i))));
    }
    grow();
    auto log = open_log(path());
    ASSERT_TRUE(log) << "the log does not reopen once space returned";
    for (const auto& [id, position] : acked) {
        auto found = log->find_command(id);
        ASSERT_TRUE(found && *found) << "acknowledged " << id << " is missing";
        EXPECT_EQ((*found)->first_position, position) << id;
    }
    for (int i = 0; i < 5; ++i) EXPECT_FALSE(log->find_command("after-" + std::to_string(i)).value().has_value());
    auto report = log->verify();
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok()) << report->problem << " at " << report->first_bad.value_or(0);
    EXPECT_TRUE(log->append(request("after-reopening")));
}

TEST_F(RealDiskFull, TheFloorRefusesAppendsBeforeTheFilesystemFillsAndTheyResumeWhenSpaceReturns) {
    auto log = open_log(path(), {.min_free_bytes = 20u << 20});
    ASSERT_TRUE(log);
    std::uint64_t acked = 0;
    storage::result<storage::append_result> refused = storage::append_result{};
    for (int i = 0; i < 100000 && refused; ++i) {
        refused = log->append(request("fill-" + std::to_string(i)));
        if (refused) acked = refused->last_position();
    }
    ASSERT_FALSE(refused) << "100,000 appends of 4 KB taken on a 40 MiB filesystem";
    EXPECT_EQ(refused.error().code, storage::error::kind::no_space) << refused.error().message;
    EXPECT_FALSE(log->failure()) << "the floor let the filesystem fill: " << log->failure().value_or("");
    EXPECT_EQ(log->head_position(), acked);

    grow();
    int n = 0;
    ASSERT_TRUE(eventually([&] { return log->append(request("back-" + std::to_string(n++))).has_value(); }))
        << "appends did not resume once the filesystem grew";
    EXPECT_FALSE(log->failure());
    auto report = log->verify();
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->ok()) << report->problem;
}

// Recovery refuses what a crash cannot explain. The WAL is written directly, as a lost WAL file
// or damage would leave it; the writer must not open (and must change nothing).
class RecoveryRefuses : public ::testing::Test {
protected:
    void SetUp() override {
        auto log = open_log(path());
        ASSERT_TRUE(log);
        for (int i = 0; i < 10; ++i)
            ASSERT_TRUE(log->append(append_to("order-1", storage::expected_version::any(), {event("Noted")}, "c-" + std::to_string(i))));
        log.reset();
        // Reopening flushes what the WAL held: events 1..10 are in the tables from here on.
        ASSERT_TRUE(open_log(path()));
    }
    std::filesystem::path path() const { return dir_.path() / "log"; }
    temp_dir dir_;
};

TEST_F(RecoveryRefuses, AWalThatDoesNotContinueFromTheTables) {
    {
        raw_db raw(path());
        auto record = raw.get_event(10);
        raw.put_event(13, record);  // 11 and 12 never arrived: their WAL file is gone
    }
    auto opened = storage::event_log::open(path());
    ASSERT_FALSE(opened) << "opened with a gap (head " << (*opened)->head_position() << ")";
    EXPECT_EQ(opened.error().code, storage::error::kind::corrupt);
    EXPECT_NE(opened.error().message.find("11..12 are missing"), std::string::npos) << opened.error().message;
    EXPECT_NE(opened.error().message.find("audit verify"), std::string::npos) << opened.error().message;
    // Nothing changed: the writer refuses again for the same reason, and what the WAL held is there.
    auto again = storage::event_log::open(path());
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().message, opened.error().message);
    raw_db raw(path());
    EXPECT_FALSE(raw.get_event(13).empty());
}

TEST_F(RecoveryRefuses, AnEventInTheWalThatDoesNotChain) {
    {
        raw_db raw(path());
        auto record = raw.get_event(10);
        raw.put_event(11, record);  // a record at the right position that is not event 11
    }
    auto opened = storage::event_log::open(path());
    ASSERT_FALSE(opened) << "opened with a broken chain";
    EXPECT_NE(opened.error().message.find("event 11"), std::string::npos) << opened.error().message;
    EXPECT_NE(opened.error().message.find("does not chain"), std::string::npos) << opened.error().message;
}

}  // namespace
}  // namespace dealerline::testing
