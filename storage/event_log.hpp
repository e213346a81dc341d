// The event log: the one source of truth. A RocksDB database written by a single writer thread
// that merges concurrent appends into one fsync'd WriteBatch (group commit).
//
// This header is the storage folder's face; RocksDB never shows through it (pimpl), so including
// it costs the rest of the build nothing.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace dealerline::storage {

struct error {
    enum class kind {
        bad_request,       // the append itself is malformed; nothing was written
        conflict,          // an expected version did not hold; nothing was written
        command_mismatch,  // command id already used for different content; nothing was written
        io,                // RocksDB failed; the log refuses further appends until reopened
        closed,            // the log is shutting down, failed earlier, or was opened read-only
        not_found,
        corrupt,           // a stored record could not be decoded
        no_space,          // the log's disk is below the free-space floor; nothing was written
    };
    kind code;
    std::string message;
};

[[nodiscard]] std::string_view to_string(error::kind) noexcept;

template <class T>
using result = tl::expected<T, error>;

// What the stream must look like for a write to go through.
struct expected_version {
    enum class kind : std::uint8_t { any, no_stream, exists, exact };
    kind what = kind::any;
    std::uint64_t version = 0;  // for exact only

    static constexpr expected_version any() noexcept { return {kind::any, 0}; }
    static constexpr expected_version no_stream() noexcept { return {kind::no_stream, 0}; }
    static constexpr expected_version exists() noexcept { return {kind::exists, 0}; }
    static constexpr expected_version exact(std::uint64_t v) noexcept { return {kind::exact, v}; }
    bool operator==(const expected_version&) const = default;
};

struct event_data {
    std::string type;                 // stable stored name, e.g. "OrderShipped"
    std::uint32_t schema_version = 1;
    std::string data;                 // JSON text
    std::string metadata = "{}";      // JSON text
};

// One stream's part of an append. A write with no events is a pure version check: it lets a
// decision that read one stream commit only if that stream has not moved meanwhile.
struct stream_write {
    std::string stream;
    expected_version expected = expected_version::any();
    std::vector<event_data> events;
};

struct append_request {
    std::vector<stream_write> writes;  // all or nothing
    std::string command_id;            // idempotency key, required
    std::string actor;                 // "dealer:D-0042", "staff:eng-7", "system:billing"
    std::string correlation_id;
    // The caller's notion of "same command" (e.g. a digest of the command JSON). Empty: the
    // content of the writes is the fingerprint.
    std::string fingerprint;
};

struct stream_version {
    std::string stream;
    std::uint64_t version = 0;  // after the append
    bool operator==(const stream_version&) const = default;
};

struct append_result {
    std::uint64_t first_position = 0;  // 0 when the append wrote no event (cannot happen today)
    std::uint32_t event_count = 0;
    std::vector<stream_version> streams;  // request order
    bool duplicate = false;               // true: this is the first append's result, replayed

    [[nodiscard]] std::uint64_t last_position() const noexcept {
        return event_count == 0 ? 0 : first_position + event_count - 1;
    }
    bool operator==(const append_result&) const = default;
};

using sha256 = std::array<std::uint8_t, 32>;
[[nodiscard]] std::string to_hex(const sha256&);
[[nodiscard]] std::optional<sha256> sha256_from_hex(std::string_view);

// An event as read back, fields pointing into the reader's buffer: valid during the callback only.
struct event_view {
    std::uint64_t position = 0;
    std::uint64_t version = 0;          // within its stream, 1-based
    std::int64_t recorded_at_us = 0;    // microseconds since the Unix epoch, UTC
    std::uint32_t schema_version = 0;
    std::string_view stream, type, command_id, actor, correlation_id, data, metadata;
    sha256 hash{};
};

struct recorded_event {
    std::uint64_t position = 0;
    std::uint64_t version = 0;
    std::int64_t recorded_at_us = 0;
    std::uint32_t schema_version = 0;
    std::string stream, type, command_id, actor, correlation_id, data, metadata;
    sha256 hash{};

    static recorded_event from(const event_view&);
    bool operator==(const recorded_event&) const = default;
};

struct verify_report {
    std::uint64_t from = 0, to = 0;    // the range checked
    std::uint64_t checked = 0;         // events whose hash was recomputed
    std::uint64_t head_position = 0;   // the log's head when verify started
    sha256 head_hash{};                // hash of the event at `to` (the value an auditor writes down)
    std::optional<std::uint64_t> first_bad;  // first position where something is wrong
    std::string problem;               // what is wrong there, in plain words
    [[nodiscard]] bool ok() const noexcept { return !first_bad.has_value(); }
};

struct snapshot {
    std::uint64_t version = 0;  // stream version the state was folded up to
    std::string state;          // opaque to storage
};

// Group commit at work: appends_synced / syncs is the mean number of appends per fsync.
struct log_stats {
    std::uint64_t syncs = 0;
    std::uint64_t appends_synced = 0;
    std::uint64_t groups = 0;  // groups the writer has decided (written or not)
};

// The log's disk, as the writer last saw it.
struct disk_space {
    std::uint64_t free_bytes = 0;  // available to this process (statvfs f_bavail)
    std::uint64_t floor = 0;       // log_options::min_free_bytes
    [[nodiscard]] bool low() const noexcept { return free_bytes < floor; }
};

struct log_options {
    bool read_only = false;          // audit tools: no writer, never writes
    bool follow = false;             // with read_only: able to catch up with a running writer
    bool create_if_missing = true;
    // Microseconds since the epoch; tests fix it. Stamps are forced non-decreasing anyway.
    std::function<std::int64_t()> clock{};
    // Upper bounds on one group commit.
    std::size_t max_group_appends = 4096;
    std::size_t max_group_bytes = 32u << 20;
    // The writer keeps this many bytes of its WAL file written with zeros ahead of the data, so
    // that a sync has no file size to commit (storage/detail/wal_files.hpp). 0: plain appends.
    std::uint64_t wal_zeroed_ahead = 8u << 20;
    // Appends are refused (error::kind::no_space) while the log's disk has less free space than
    // this, before RocksDB itself fails on a full disk (which fails the log until a restart).
    // They resume when space returns. 0: no floor. `dealerline serve` defaults to 1 GiB.
    std::uint64_t min_free_bytes = 0;
    // Free bytes on the log's disk; tests fix it. Default: statvfs of the log's folder.
    std::function<std::uint64_t()> free_bytes{};
    // The negative control of the power-loss test only: acknowledge appends without syncing the
    // WAL, which loses acknowledged events when the machine stops. Never in production.
    bool unsafe_acknowledge_before_sync = false;
};

// Limits on what one append may carry (bad input beyond them is rejected before it is queued).
struct limits {
    static constexpr std::size_t max_stream_name = 256;
    static constexpr std::size_t max_type_name = 128;
    static constexpr std::size_t max_id = 256;  // command id, actor, correlation id
    static constexpr std::size_t max_event_bytes = 1u << 20;
    static constexpr std::size_t max_append_bytes = 16u << 20;
    static constexpr std::size_t max_json_depth = 64;
};

// Called exactly once with the append's outcome, on one of the log's threads (or at once, on the
// caller's, when the append is refused before it is queued). Keep it short and non-blocking: post
// the result to your own executor. It may append again.
using append_callback = std::function<void(result<append_result>)>;

// The hash an event carries: SHA-256(previous event's hash ‖ its canonical bytes). What verify
// recomputes; exported events are checked with it too.
[[nodiscard]] sha256 chain_hash(const sha256& previous, const event_view& event);

inline constexpr std::uint32_t format_version = 1;
inline constexpr std::uint64_t to_end = std::numeric_limits<std::uint64_t>::max();

class event_log {
public:
    [[nodiscard]] static result<std::unique_ptr<event_log>> open(const std::filesystem::path& dir,
                                                                 log_options options = {});
    ~event_log();  // drains queued appends, then stops the writer
    event_log(const event_log&) = delete;
    event_log& operator=(const event_log&) = delete;

    // Each completes only once the append is durable (fsync'd) or definitely not written.
    void append(append_request request, append_callback on_done);  // servers: no thread waits
    [[nodiscard]] std::future<result<append_result>> append_async(append_request request);
    [[nodiscard]] result<append_result> append(append_request request);

    // Reads see committed (durable) events only and never block the writer.
    [[nodiscard]] result<std::vector<recorded_event>> read_stream(std::string_view stream,
                                                                  std::uint64_t from_version = 1,
                                                                  std::size_t max = 1000) const;
    [[nodiscard]] result<std::vector<recorded_event>> read_all(std::uint64_t from_position,
                                                               std::size_t max = 1000) const;
    // Visits events in [from, to] in position order until `visit` returns false; returns how many
    // it visited. The fast path for scans: no copies.
    [[nodiscard]] result<std::uint64_t> scan(std::uint64_t from, std::uint64_t to,
                                             const std::function<bool(const event_view&)>& visit) const;

    [[nodiscard]] std::uint64_t head_position() const noexcept;
    [[nodiscard]] sha256 head_hash() const;
    [[nodiscard]] log_stats stats() const noexcept;
    [[nodiscard]] result<std::uint64_t> stream_version(std::string_view stream) const;  // 0: no stream
    // The first result of a command id (flagged duplicate), or nothing. With the caller's
    // fingerprint, a command id used for another command is command_mismatch.
    [[nodiscard]] result<std::optional<append_result>> find_command(
        std::string_view command_id, std::optional<std::string_view> fingerprint = std::nullopt) const;

    // Blocks until the committed head passes `after` or the deadline comes; returns the head.
    std::uint64_t wait_for(std::uint64_t after, std::chrono::steady_clock::time_point deadline) const;

    // Recomputes the hash chain over [from, to] and checks the stream index against the events.
    [[nodiscard]] result<verify_report> verify(std::uint64_t from = 1, std::uint64_t to = to_end) const;

    // A consistent online copy of the log (RocksDB checkpoint) into `dir`, which must not exist.
    [[nodiscard]] result<void> backup(const std::filesystem::path& dir) const;

    // Snapshots are a cache beside the log: losing one costs a longer replay, never correctness.
    [[nodiscard]] result<void> put_snapshot(std::string_view stream, const snapshot&);
    [[nodiscard]] result<std::optional<snapshot>> get_snapshot(std::string_view stream) const;

    // Follow mode: sees what the writer (another process) has written since; returns the new head.
    [[nodiscard]] result<std::uint64_t> catch_up();

    // Why the log refuses appends until it is reopened (a write or sync failed: what reached the
    // disk is unknown), or nothing while it is healthy.
    [[nodiscard]] std::optional<std::string> failure() const;
    // The log's disk against its floor, checked now.
    [[nodiscard]] disk_space space() const;

    [[nodiscard]] bool read_only() const noexcept;
    [[nodiscard]] const std::filesystem::path& dir() const noexcept;

    struct impl;

private:
    explicit event_log(std::unique_ptr<impl>);
    [[nodiscard]] result<verify_report> verify_pass(std::uint64_t from, std::uint64_t to, bool look_up_each,
                                                    bool& index_differs) const;
    std::unique_ptr<impl> impl_;
};

}  // namespace dealerline::storage
