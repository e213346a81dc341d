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

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace dealerline::storage::detail {

// In the log's folder: the writer's live WAL number and how many of its bytes are synced.
inline constexpr const char* synced_wal_file = "dealerline-wal-synced";

// The writer's FileSystem: WAL files (NNNNNN.log in `dir`) are kept zeroed `zeroed_ahead` bytes
// ahead of their data. Everything else passes through to `target`.
std::shared_ptr<rocksdb::FileSystem> writer_fs(std::shared_ptr<rocksdb::FileSystem> target, std::filesystem::path dir,
                                               std::uint64_t zeroed_ahead);

// A follower's FileSystem: reads of the writer's live WAL stop at what the writer has synced;
// other WAL files are read to their end, without stdio buffering (their bytes may change).
std::shared_ptr<rocksdb::FileSystem> follower_fs(std::shared_ptr<rocksdb::FileSystem> target, std::filesystem::path dir);

// Stops WAL replay at the first WriteBatch whose events (keys of the column family named
// `events_family`: big-endian positions) do not follow the previous batch's.
class position_gap_filter final : public rocksdb::WalFilter {
public:
    explicit position_gap_filter(std::string events_family) : family_name_(std::move(events_family)) {}

    void ColumnFamilyLogNumberMap(const std::map<std::uint32_t, std::uint64_t>& log_numbers,
                                  const std::map<std::string, std::uint32_t>& family_ids) override;
    WalProcessingOption LogRecordFound(unsigned long long log_number, const std::string& log_file_name,
                                       const rocksdb::WriteBatch& batch, rocksdb::WriteBatch* new_batch,
                                       bool* batch_changed) override;
    const char* Name() const override { return "dealerline-position-gap"; }

private:
    std::string family_name_;
    std::uint32_t family_id_ = 0;
    bool known_ = false;
    std::uint64_t next_ = 0;  // 0: no event seen yet
};

}  // namespace dealerline::storage::detail
