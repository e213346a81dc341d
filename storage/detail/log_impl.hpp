// The event log's insides, shared by its files (the way RocksDB splits its DB implementation):
// log_open.cpp opens and recovers, log_write.cpp is the group-commit pipeline, log_read.cpp the
// reads, log_verify.cpp verify and backup. Included by storage/ only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include "storage/detail/append_checks.hpp"
#include "storage/detail/record.hpp"
#include "storage/detail/sha256.hpp"
#include "storage/detail/wal_files.hpp"
#include "storage/event_log.hpp"

namespace dealerline::storage::detail {

inline error make_error(error::kind k, std::string message) { return error{k, std::move(message)}; }

inline error io_error(const rocksdb::Status& s, std::string_view what) {
    return make_error(error::kind::io, std::string(what) + ": " + s.ToString());
}

inline std::int64_t system_clock_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct pending {
    append_request request;
    // Each event's canonical bytes, encoded by the appender with position, version and stamp
    // still zero (the writer stamps them): the writer's per-event work is what bounds group commit.
    std::vector<std::string> records;
    sha256 fingerprint{};
    std::size_t bytes = 0;
    append_callback done;
};

// A decided group: its batch is in RocksDB (not yet synced) unless every append in it was
// refused or a replay; its callers are answered once the WAL is synced past it.
struct written_group {
    std::vector<pending> group;
    std::vector<result<append_result>> outcomes;
    bool wrote = false;
    std::uint64_t last_position = 0;
    sha256 hash{};
};

}  // namespace dealerline::storage::detail

namespace dealerline::storage {

// Group commit as a pipeline of three threads:
//   writer:    takes every queued append, decides them against the log and each other, writes
//              the accepted ones as one WriteBatch *without* fsync (WAL in the page cache,
//              memtables updated), and passes the group on;
//   syncer:    fsyncs the WAL (DB::SyncWAL, which does not block the writer) and so makes every
//              group written before it started durable at once; only then publishes the new head;
//   completer: answers half of each large cohort (a futex wake or a callback each) while the
//              syncer answers the other half.
// The writer's CPU work overlaps the syncer's fsync. When nothing else is pending, the writer
// syncs by itself, saving a thread hand-off for a lone appender.
// Readers never see past the published head, so nothing unsynced is ever shown or acknowledged.
struct event_log::impl {
    using pending = detail::pending;
    using written_group = detail::written_group;

    std::filesystem::path dir;
    std::filesystem::path secondary_dir;  // follow mode only
    log_options options;
    // Outlive db: the WAL files' FileSystem and its Env, and the filter recovery replays through.
    std::shared_ptr<rocksdb::FileSystem> fs;
    std::unique_ptr<rocksdb::Env> env;
    std::unique_ptr<detail::position_gap_filter> gap_filter;
    rocksdb::DB* db = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::ColumnFamilyHandle* meta = nullptr;
    rocksdb::ColumnFamilyHandle* events = nullptr;
    rocksdb::ColumnFamilyHandle* streams = nullptr;
    rocksdb::ColumnFamilyHandle* heads = nullptr;
    rocksdb::ColumnFamilyHandle* commands = nullptr;
    rocksdb::ColumnFamilyHandle* snapshots = nullptr;

    // Published state: what readers may see.
    std::atomic<std::uint64_t> committed{0};
    mutable std::mutex head_mutex;
    sha256 committed_hash{};
    mutable std::mutex tail_mutex;
    mutable std::condition_variable tail_cv;
    std::atomic<std::uint64_t> syncs{0}, appends_synced{0}, groups_decided{0};

    // The disk against options.min_free_bytes: the writer looks again at most every 100 ms
    // (a statvfs per group would cost more than the check is worth); space() looks at once.
    std::atomic<std::uint64_t> free_seen{std::numeric_limits<std::uint64_t>::max()};
    std::chrono::steady_clock::time_point space_checked_at{};

    // Writer-thread state: ahead of the published head by what is written but not yet synced.
    std::uint64_t next_position = 1;
    sha256 chain_hash{};
    std::int64_t last_stamp = 0;
    std::unordered_map<std::string, std::uint64_t> stream_heads;  // a cache; the heads family is the truth
    static constexpr std::size_t max_cached_streams = 1u << 20;

    std::mutex queue_mutex;
    std::condition_variable queue_cv;
    std::deque<pending> queue;
    bool stopping = false;
    // The writer sleeps on queue_cv and no append has woken it yet (under queue_mutex): appends
    // that arrive while it is being woken, or while it writes, need not signal again.
    bool writer_waiting = false;

    // Whoever holds it writes: the writer thread, or a caller that found the pipeline idle and
    // writes its own append (one synced write, no thread hand-off). Lock order: queue_mutex,
    // then write_token (callers only try it), then sync_mutex.
    std::mutex write_token;

    std::mutex sync_mutex;
    std::condition_variable sync_cv;
    std::deque<written_group> to_sync;
    // The syncer (or the writer standing in for it) is in SyncWAL. Changed under sync_mutex; the
    // writer also reads it under queue_mutex, hence atomic.
    std::atomic<bool> syncing{false};
    // While a sync runs, the writer lets appends pile up to this many (or until the sync ends)
    // before writing them: one Write call per few appends would cost more CPU than it overlaps.
    static constexpr std::size_t write_while_syncing_at = 8;
    static constexpr std::size_t write_alone_up_to = 4;
    bool writer_done = false;

    std::mutex done_mutex;
    std::condition_variable done_cv;
    std::deque<written_group> to_complete;
    bool syncer_done = false;
    static constexpr std::size_t complete_inline_up_to = 4;

    std::atomic<bool> failed{false};
    std::string failure;  // written once, before `failed` is set
    std::once_flag failure_once;
    std::thread writer, syncer, completer;

    ~impl() { close(); }
    // Stops the threads (queued appends are drained first) and closes the database (log_open.cpp).
    void close();
    // Reads the newest event into the published and the writer's state (log_open.cpp).
    result<void> recover_head();

    std::int64_t now() const { return options.clock ? options.clock() : detail::system_clock_us(); }

    std::uint64_t free_now() const;
    // Writer thread only.
    bool space_low();

    // The stream's version as of the published head (0: no such stream). The heads family may
    // already hold a version whose events are written but not yet synced; versions grow with
    // positions, so step back until the event is at or below the head (rarely more than once).
    result<std::uint64_t> published_version(std::string_view stream) const;

    // The pipeline's threads (log_write.cpp, as is everything below).
    void start_threads();
    void run_writer();
    void run_syncer();
    void run_completer();

    // Set while this thread runs append callbacks: an append made from a callback is queued, never
    // written on the spot (that would nest without bound, and the callback may run where a lock is
    // held).
    static inline thread_local int answering = 0;

    static void answer(written_group& g);
    // The log refuses appends from here on (sticky: docs/storage.md).
    void fail(std::string message);

    // Makes the groups durable with one fsync, then publishes and answers them.
    void sync_and_answer(std::vector<written_group>& groups);

    // The groups are durable (or failed): publish the new head, then answer their callers, large
    // cohorts through the completer. Groups are in write order.
    void publish_and_answer(std::vector<written_group>& groups);

    // The groups are durable (or failed): make them visible to readers and tail waiters. A
    // duplicate is answered as such only once its original is durable: the original may sit in
    // a group whose sync failed, and then it was never acknowledged.
    void publish(std::vector<written_group>& groups);

    // Small cohorts are answered on this thread. Large ones on two at once: the completer takes
    // the first half and this thread (the syncer, which usually waits for the writer's next group
    // anyway) the rest. Waking a blocked appender or running a callback costs microseconds
    // apiece here, and the cohort's next appends reach the writer only as they are answered.
    void answer_all(std::vector<written_group>& groups);

    // The first `n` appends of a group and their outcomes, moved out of it (for answering only).
    static written_group split_front(written_group& g, std::size_t n);

    // Decides every append of the group against the log (which includes what this writer wrote
    // and has not yet synced) and the group's earlier appends, then writes the accepted ones as
    // one unsynced batch.
    written_group write_group(std::vector<pending> group, bool sync);

    // The stream's version as the writer sees it: the log (including unsynced writes and the
    // group's earlier appends, which write_group puts into the cache as it decides them).
    // Returns its entry in the cache (stable: the map's nodes do not move), for the caller to
    // update without hashing the name again.
    result<std::uint64_t*> writer_version(const std::string& stream);

    // Idempotency and expected versions for one append; fills `current` with each written
    // stream's version before the append and `cached` with its entry in the writer's cache. A
    // duplicate comes back with duplicate = true.
    result<append_result> decide_one(const pending& p, const written_group& group,
                                     const std::unordered_map<std::string_view, std::size_t>& group_commands,
                                     std::vector<std::uint64_t>& current, std::vector<std::uint64_t*>& cached);
};

}  // namespace dealerline::storage
