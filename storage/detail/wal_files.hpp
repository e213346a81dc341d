#pragma once
// The log's WAL files, written into space that already holds zeros on disk.
//
// An fdatasync after appending to a file must also commit the file's new size to the journal;
// one after overwriting blocks that are allocated and written need not. Here that is 107-152 us
// against 176-260 us per sync (docs/benchmarks.md), and the sync is most of an append's latency.
// So a thread of the writer's keeps its live WAL file written with zeros some megabytes ahead of
// the data, and RocksDB's appends overwrite them. What that asks of the readers of the WAL:
// - recovery: RocksDB's WAL reader skips zero blocks silently (it takes them for preallocated
//   space). A crash may leave a zero page before a later page that did reach the disk (pages of
//   unsynced data are written back in any order), so recovery must stop at the first gap in event
//   positions: position_gap_filter.
// - followers (secondary instances) read a WAL to its physical end and would read past the zeros
//   before the data lands there, never to look back. The writer publishes how far its live WAL is
//   synced in a small file next to it (synced_wal_file), and a follower's reads of that WAL stop
//   there: follower_fs.
// A closed WAL file is cut to its data, so only the live one ever has zeros at its end.
#include <rocksdb/file_system.h>
#include <rocksdb/wal_filter.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

namespace dealerline::storage::detail {

// In the log's folder: the writer's live WAL number and how many of its bytes are synced.
// Its record is three little-endian u64: WAL number, synced bytes, and their xor with synced_check.
inline constexpr const char* synced_wal_file = "dealerline-wal-synced";
inline constexpr std::uint64_t synced_check = 0x646c2d73796e6364ull;

// Faults the fault tests inject into the writer's WAL files (tests/storage/fault_test.cpp). All
// off unless a test sets them; one relaxed load each per append or sync otherwise.
struct wal_faults {
    std::atomic<int> fail_sync{0};          // errno the next sync of a WAL file fails with (once)
    std::atomic<int> fail_write{0};         // errno the next append to a WAL file fails with (once)
    std::atomic<int> fail_zeroing_sync{0};  // errno the zeroer's next fdatasync fails with (once)
    std::atomic<bool> short_writes{false};  // every pwrite writes at most half of what it is given
    // While `gate_syncs` is set, each sync waits for a permit; `waiting` counts those waiting.
    std::atomic<bool> gate_syncs{false};
    std::atomic<int> waiting{0};
    std::atomic<int> permits{0};
    void reset() noexcept;
};
wal_faults& injected_wal_faults() noexcept;

// The writer's FileSystem: WAL files (NNNNNN.log in `dir`) are kept zeroed `zeroed_ahead` bytes
// ahead of their data. Everything else passes through to `target`.
std::shared_ptr<rocksdb::FileSystem> writer_fs(std::shared_ptr<rocksdb::FileSystem> target, std::filesystem::path dir,
                                               std::uint64_t zeroed_ahead);

// A follower's FileSystem: reads of the writer's live WAL stop at what the writer has synced;
// other WAL files are read to their end, without stdio buffering (their bytes may change).
std::shared_ptr<rocksdb::FileSystem> follower_fs(std::shared_ptr<rocksdb::FileSystem> target, std::filesystem::path dir);

// Judges WAL replay by the events it carries (the column family named `events_family`: keys are
// big-endian positions, values records with their chain hash). Replay stops at the first batch
// whose events do not continue the positions of the batch before it: the tail of a crash, never
// acknowledged (a sync covers everything before it in its file).
//
// Before the writer opens a log (which makes what it replayed permanent) it looks first, opening
// the log read-only with a filter that only records (`record_only`: every record is ignored,
// nothing is replayed into memory) and also checks the hash chain from record to record. What it
// found is judged against the newest event already in the log's tables (event_log::open): a WAL
// that does not continue from there, or a broken link, means lost or damaged events, which may
// have been acknowledged, and the open is refused. The real replay then knows where to start
// (`start`) and stops at the same gap.
class position_gap_filter final : public rocksdb::WalFilter {
public:
    struct link {
        std::uint64_t position = 0;             // the newest event in the tables (0: none)
        std::array<std::uint8_t, 32> hash{};    // its hash
    };
    explicit position_gap_filter(std::string events_family, std::optional<link> start = std::nullopt, bool record_only = false)
        : family_name_(std::move(events_family)), record_only_(record_only) {
        if (start) {
            next_ = start->position + 1;
            previous_ = start->hash;
            chained_ = true;
        }
    }

    // The first event replay met (0: none), and its record, to judge it once `start` is known.
    std::uint64_t first_position() const { return first_position_; }
    const std::string& first_record() const { return first_record_; }
    // Where replay stopped, if it did: the position expected and what the batch held instead.
    struct stop {
        std::uint64_t expected = 0;
        std::uint64_t found = 0;
        bool broken_link = false;  // the position was right but the hash chain was not
        bool first = false;        // the first batch replay met
    };
    const std::optional<stop>& stopped() const { return stopped_; }

    void ColumnFamilyLogNumberMap(const std::map<std::uint32_t, std::uint64_t>& log_numbers,
                                  const std::map<std::string, std::uint32_t>& family_ids) override;
    WalProcessingOption LogRecordFound(unsigned long long log_number, const std::string& log_file_name,
                                       const rocksdb::WriteBatch& batch, rocksdb::WriteBatch* new_batch,
                                       bool* batch_changed) override;
    const char* Name() const override { return "dealerline-position-gap"; }

private:
    std::string family_name_;
    bool record_only_;
    std::uint32_t family_id_ = 0;
    std::uint64_t family_log_ = 0;  // WAL files older than this hold only flushed events
    bool known_ = false;
    bool chained_ = false;  // next_ and previous_ are known
    std::uint64_t next_ = 0;
    std::array<std::uint8_t, 32> previous_{};
    std::uint64_t first_position_ = 0;
    std::string first_record_;
    std::optional<stop> stopped_;
};

}  // namespace dealerline::storage::detail
