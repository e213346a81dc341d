#include "storage/event_log.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <cstring>

#include <pthread.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <unordered_map>
#include <unordered_set>

#include <openssl/evp.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>

#include "storage/detail/json_check.hpp"
#include "storage/detail/record.hpp"
#include "storage/detail/rocksdb_logger.hpp"
#include "storage/detail/wal_files.hpp"

namespace dealerline::storage {

using namespace detail;

std::string_view to_string(error::kind k) noexcept {
    switch (k) {
        case error::kind::bad_request: return "bad_request";
        case error::kind::conflict: return "conflict";
        case error::kind::command_mismatch: return "command_mismatch";
        case error::kind::io: return "io";
        case error::kind::closed: return "closed";
        case error::kind::not_found: return "not_found";
        case error::kind::corrupt: return "corrupt";
        case error::kind::no_space: return "no_space";
    }
    return "unknown";
}

std::string to_hex(const sha256& h) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (auto b : h) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0xf]);
    }
    return out;
}

std::optional<sha256> sha256_from_hex(std::string_view hex) {
    if (hex.size() != 64) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    sha256 out{};
    for (std::size_t i = 0; i < 32; ++i) {
        const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<std::uint8_t>(hi * 16 + lo);
    }
    return out;
}

recorded_event recorded_event::from(const event_view& v) {
    return recorded_event{v.position,       v.version,          v.recorded_at_us,          v.schema_version,
                          std::string(v.stream), std::string(v.type), std::string(v.command_id),
                          std::string(v.actor),  std::string(v.correlation_id), std::string(v.data),
                          std::string(v.metadata), v.hash};
}

namespace {

error make_error(error::kind k, std::string message) { return error{k, std::move(message)}; }

error io_error(const rocksdb::Status& s, std::string_view what) {
    return make_error(error::kind::io, std::string(what) + ": " + s.ToString());
}

// SHA-256 through one reusable EVP context: the chain hash is computed once per event, so the
// per-call setup of the one-shot API would show in the writer's profile.
class hasher {
public:
    hasher() : ctx_(EVP_MD_CTX_new()), md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {}
    ~hasher() {
        EVP_MD_free(md_);
        EVP_MD_CTX_free(ctx_);
    }
    hasher(const hasher&) = delete;
    hasher& operator=(const hasher&) = delete;

    sha256 chain(const sha256& previous, std::string_view canonical) {
        sha256 out{};
        unsigned int n = 0;
        EVP_DigestInit_ex(ctx_, md_, nullptr);
        EVP_DigestUpdate(ctx_, previous.data(), previous.size());
        EVP_DigestUpdate(ctx_, canonical.data(), canonical.size());
        EVP_DigestFinal_ex(ctx_, out.data(), &n);
        return out;
    }
    sha256 digest(std::string_view bytes) {
        sha256 out{};
        unsigned int n = 0;
        EVP_DigestInit_ex(ctx_, md_, nullptr);
        EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
        EVP_DigestFinal_ex(ctx_, out.data(), &n);
        return out;
    }

private:
    EVP_MD_CTX* ctx_;
    EVP_MD* md_;
};

hasher& thread_hasher() {
    thread_local hasher h;
    return h;
}

bool printable(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

// Checks everything that can be checked without the log's state; returns the append's size.
result<std::size_t> validate(append_request& request) {
    auto bad = [](std::string message) { return tl::unexpected(make_error(error::kind::bad_request, std::move(message))); };
    if (request.command_id.empty()) return bad("command_id is required");
    if (request.command_id.size() > limits::max_id || !printable(request.command_id))
        return bad("command_id must be at most 256 printable characters");
    if (request.actor.size() > limits::max_id || !printable(request.actor))
        return bad("actor must be at most 256 printable characters");
    if (request.correlation_id.size() > limits::max_id || !printable(request.correlation_id))
        return bad("correlation_id must be at most 256 printable characters");
    if (request.writes.empty()) return bad("an append needs at least one stream write");

    std::size_t total = 0, events = 0;
    std::unordered_set<std::string_view> seen;  // only for appends to many streams
    constexpr std::size_t compare_pairwise_up_to = 8;
    for (std::size_t w = 0; w < request.writes.size(); ++w) {
        auto& write = request.writes[w];
        if (write.stream.empty()) return bad("stream name is empty");
        if (write.stream.size() > limits::max_stream_name)
            return bad("stream name is longer than 256 bytes: " + write.stream.substr(0, 64) + "…");
        if (!printable(write.stream)) return bad("stream name has control characters");
        const bool twice = request.writes.size() <= compare_pairwise_up_to
                               ? std::any_of(request.writes.begin(), request.writes.begin() + static_cast<std::ptrdiff_t>(w),
                                             [&](const stream_write& before) { return before.stream == write.stream; })
                               : !seen.insert(write.stream).second;
        if (twice) return bad("stream " + write.stream + " is written twice in one append");
        for (auto& e : write.events) {
            if (e.type.empty()) return bad("event type is empty in stream " + write.stream);
            if (e.type.size() > limits::max_type_name || !printable(e.type))
                return bad("event type must be at most 128 printable characters");
            if (e.schema_version == 0) return bad("schema_version starts at 1 (event " + e.type + ")");
            if (e.metadata.empty()) e.metadata = "{}";
            const std::size_t size = e.data.size() + e.metadata.size();
            if (size > limits::max_event_bytes)
                return bad("event " + e.type + " is " + std::to_string(size) + " bytes; the limit is 1 MiB");
            total += size + e.type.size() + write.stream.size();
            if (total > limits::max_append_bytes) return bad("the append is over the 16 MiB limit");
            if (!valid_json(e.data, limits::max_json_depth)) return bad("data of event " + e.type + " is not valid JSON");
            if (!valid_json(e.metadata, limits::max_json_depth)) return bad("metadata of event " + e.type + " is not valid JSON");
            ++events;
        }
    }
    if (events == 0) return bad("an append needs at least one event");
    return total;
}

sha256 caller_fingerprint(std::string_view fingerprint) {
    std::string bytes = "caller:";
    bytes += fingerprint;
    return thread_hasher().digest(bytes);
}

// The digest that decides whether a reused command id means the same command.
sha256 fingerprint_of(const append_request& request) {
    if (!request.fingerprint.empty()) return caller_fingerprint(request.fingerprint);
    // The bytes hashed are part of the stored format (command records keep the digest), so they
    // stay as they are; only the buffer is kept per thread, sparing an allocation per append.
    thread_local std::string bytes;
    bytes.assign("content:");
    for (const auto& write : request.writes) {
        put_str(bytes, write.stream);
        put_u8(bytes, static_cast<std::uint8_t>(write.expected.what));
        put_u64(bytes, write.expected.version);
        put_u32(bytes, static_cast<std::uint32_t>(write.events.size()));
        for (const auto& e : write.events) {
            put_str(bytes, e.type);
            put_u32(bytes, e.schema_version);
            put_str(bytes, e.data);
            put_str(bytes, e.metadata);
        }
    }
    put_str(bytes, request.actor);
    put_str(bytes, request.correlation_id);
    const sha256 digest = thread_hasher().digest(bytes);
    if (bytes.capacity() > (64u << 10)) std::string().swap(bytes);  // do not keep a big append's copy
    return digest;
}

void encode_command(std::string& out, const sha256& fingerprint, const append_result& r) {
    out.clear();
    out.append(reinterpret_cast<const char*>(fingerprint.data()), fingerprint.size());
    put_u64(out, r.first_position);
    put_u32(out, r.event_count);
    put_u32(out, static_cast<std::uint32_t>(r.streams.size()));
    for (const auto& s : r.streams) {
        put_str(out, s.stream);
        put_u64(out, s.version);
    }
}

bool decode_command(std::string_view value, sha256& fingerprint, append_result& r) {
    reader in(value);
    auto fp = in.bytes(32);
    if (!in.ok()) return false;
    std::memcpy(fingerprint.data(), fp.data(), 32);
    r.first_position = in.u64();
    r.event_count = in.u32();
    const auto n = in.u32();
    r.streams.clear();
    for (std::uint32_t i = 0; i < n && in.ok(); ++i) {
        auto stream = in.str();
        auto version = in.u64();
        r.streams.push_back({std::string(stream), version});
    }
    return in.ok() && in.at_end();
}

std::string_view expected_text(const expected_version& e, std::string& buffer) {
    switch (e.what) {
        case expected_version::kind::any: return "any";
        case expected_version::kind::no_stream: return "no stream";
        case expected_version::kind::exists: return "an existing stream";
        case expected_version::kind::exact: buffer = "version " + std::to_string(e.version); return buffer;
    }
    return "?";
}

bool holds(const expected_version& e, std::uint64_t current) {
    switch (e.what) {
        case expected_version::kind::any: return true;
        case expected_version::kind::no_stream: return current == 0;
        case expected_version::kind::exists: return current > 0;
        case expected_version::kind::exact: return current == e.version;
    }
    return false;
}

std::int64_t system_clock_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The stream index's keys are `stream \0 version`: its prefix is the stream (with the \0), so
// the memtable can hash by stream and SST files can carry per-stream bloom filters.
class stream_prefix final : public rocksdb::SliceTransform {
public:
    const char* Name() const override { return "dealerline.stream_prefix.v1"; }
    rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
        const auto* zero = static_cast<const char*>(std::memchr(key.data(), '\0', key.size()));
        return {key.data(), static_cast<std::size_t>(zero - key.data()) + 1};
    }
    bool InDomain(const rocksdb::Slice& key) const override {
        return std::memchr(key.data(), '\0', key.size()) != nullptr;
    }
};

struct pending {
    append_request request;
    // Each event's canonical bytes, encoded by the appender with position, version and stamp
    // still zero (the writer stamps them): the writer's per-event work is what bounds group commit.
    std::vector<std::string> records;
    sha256 fingerprint{};
    std::size_t bytes = 0;
    append_callback done;
};

// Everything of each event's stored record that the appender knows: the writer only stamps
// position, version and time, chains the hash and appends it. The event's data and metadata now
// live in the record, so the request lets go of them (a 16 MiB append is not held twice).
void encode_records(pending& p) {
    auto& rq = p.request;
    for (auto& write : rq.writes) {
        for (auto& e : write.events) {
            std::string record;
            record.reserve(64 + write.stream.size() + e.type.size() + rq.command_id.size() + rq.actor.size() +
                           rq.correlation_id.size() + e.data.size() + e.metadata.size() + 32);
            encode_canonical(record, 0, 0, 0, write.stream, e, rq.command_id, rq.actor, rq.correlation_id);
            p.records.push_back(std::move(record));
            std::string().swap(e.data);
            std::string().swap(e.metadata);
        }
    }
}

// A decided group: its batch is in RocksDB (not yet synced) unless every append in it was
// refused or a replay; its callers are answered once the WAL is synced past it.
struct written_group {
    std::vector<pending> group;
    std::vector<result<append_result>> outcomes;
    bool wrote = false;
    std::uint64_t last_position = 0;
    sha256 hash{};
};

}  // namespace

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

    void close() {
        if (writer.joinable()) {
            {
                std::lock_guard lock(queue_mutex);
                stopping = true;
            }
            queue_cv.notify_all();
            writer.join();
            syncer.join();
            completer.join();
        }
        if (db != nullptr) {
            // Snapshots are written unsynced; keep them if we can. Not after a failure: RocksDB's
            // WAL writer must not be used again once it has failed (an assertion in its build).
            if (!options.read_only && !failed.load()) (void)db->SyncWAL();
            for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);  // close-time: nothing to recover
            handles.clear();
            (void)db->Close();
            delete db;
            db = nullptr;
        }
        if (!secondary_dir.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(secondary_dir, ec);  // only our own scratch folder
        }
        tail_cv.notify_all();
    }

    std::int64_t now() const { return options.clock ? options.clock() : system_clock_us(); }

    std::uint64_t free_now() const {
        if (options.free_bytes) return options.free_bytes();
        struct statvfs st {};
        if (::statvfs(dir.c_str(), &st) != 0) return std::numeric_limits<std::uint64_t>::max();  // unknown: no refusal
        return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
    }
    // Writer thread only.
    bool space_low() {
        if (options.min_free_bytes == 0) return false;
        const auto t = std::chrono::steady_clock::now();
        if (t - space_checked_at >= std::chrono::milliseconds(100)) {
            free_seen.store(free_now());
            space_checked_at = t;
        }
        return free_seen.load() < options.min_free_bytes;
    }

    // The stream's version as of the published head (0: no such stream). The heads family may
    // already hold a version whose events are written but not yet synced; versions grow with
    // positions, so step back until the event is at or below the head (rarely more than once).
    result<std::uint64_t> published_version(std::string_view stream) const {
        const std::uint64_t head = committed.load();
        std::string value;
        auto s = db->Get(rocksdb::ReadOptions(), heads, stream, &value);
        if (s.IsNotFound()) return 0;
        if (!s.ok()) return tl::unexpected(io_error(s, "reading the stream heads"));
        reader in(value);
        std::uint64_t version = in.u64();
        if (!in.ok()) return tl::unexpected(make_error(error::kind::corrupt, "head of stream " + std::string(stream) + " is damaged"));
        for (; version > 0; --version) {
            s = db->Get(rocksdb::ReadOptions(), streams, stream_key(stream, version), &value);
            if (!s.ok()) return tl::unexpected(io_error(s, "reading the stream index"));
            if (from_be64(value) <= head) break;
        }
        return version;
    }

    void start_threads() {
        writer = std::thread([this] { run_writer(); });
        syncer = std::thread([this] { run_syncer(); });
        completer = std::thread([this] { run_completer(); });
    }

    void run_writer() {
        pthread_setname_np(pthread_self(), "dl-log-writer");
        std::vector<pending> group;
        for (;;) {
            {
                std::unique_lock lock(queue_mutex);
                while (!(stopping || queue.size() >= write_while_syncing_at || (!queue.empty() && !syncing.load()))) {
                    writer_waiting = true;
                    queue_cv.wait(lock);
                }
                writer_waiting = false;
                if (queue.empty()) break;  // stopping, and everything queued has been taken
                std::size_t bytes = 0;
                while (!queue.empty() && group.size() < options.max_group_appends &&
                       (group.empty() || bytes + queue.front().bytes <= options.max_group_bytes)) {
                    bytes += queue.front().bytes;
                    group.push_back(std::move(queue.front()));
                    queue.pop_front();
                }
            }
            std::unique_lock token(write_token);
            // A lone group with the pipeline idle: write it with sync = true ourselves, which is
            // exactly one synced RocksDB write, with no hand-off to the syncer. Only a small one:
            // a large group means many appenders, and the writer should be writing the next group
            // while the syncer syncs this one, not waiting in fsync itself.
            bool alone = false;
            if (group.size() <= write_alone_up_to) {
                std::scoped_lock lock(queue_mutex, sync_mutex);
                if (queue.empty() && !syncing && to_sync.empty()) {
                    syncing = true;
                    alone = true;
                }
            }
            auto written = write_group(std::move(group), alone && !options.unsafe_acknowledge_before_sync);
            group.clear();
            if (alone) {
                std::vector<written_group> one;
                one.push_back(std::move(written));
                publish(one);
                {
                    std::lock_guard lock(sync_mutex);
                    syncing = false;
                }
                token.unlock();  // callbacks may append again
                answer_all(one);
            } else {
                {
                    std::lock_guard lock(sync_mutex);
                    to_sync.push_back(std::move(written));
                }
                sync_cv.notify_one();
            }
        }
        {
            std::lock_guard lock(sync_mutex);
            writer_done = true;
        }
        sync_cv.notify_one();
    }

    void run_syncer() {
        pthread_setname_np(pthread_self(), "dl-log-sync");
        std::vector<written_group> groups;
        for (;;) {
            {
                std::unique_lock lock(sync_mutex);
                sync_cv.wait(lock, [&] { return (!syncing && !to_sync.empty()) || (writer_done && to_sync.empty() && !syncing); });
                if (to_sync.empty()) break;
                syncing = true;
                for (auto& g : to_sync) groups.push_back(std::move(g));
                to_sync.clear();
            }
            sync_and_answer(groups);
            groups.clear();
            {
                std::lock_guard lock(sync_mutex);
                syncing = false;
            }
            {
                std::lock_guard lock(queue_mutex);  // the writer may be waiting for this sync to end
            }
            queue_cv.notify_one();
        }
        {
            std::lock_guard lock(done_mutex);
            syncer_done = true;
        }
        done_cv.notify_one();
    }

    void run_completer() {
        pthread_setname_np(pthread_self(), "dl-log-answer");
        for (;;) {
            std::deque<written_group> ready;
            {
                std::unique_lock lock(done_mutex);
                done_cv.wait(lock, [&] { return syncer_done || !to_complete.empty(); });
                if (to_complete.empty()) return;
                ready.swap(to_complete);
            }
            for (auto& g : ready) answer(g);
        }
    }

    // Set while this thread runs append callbacks: an append made from a callback is queued, never
    // written on the spot (that would nest without bound, and the callback may run where a lock is
    // held).
    static inline thread_local int answering = 0;

    static void answer(written_group& g) {
        ++answering;
        for (std::size_t i = 0; i < g.group.size(); ++i) g.group[i].done(std::move(g.outcomes[i]));
        --answering;
    }

    void fail(std::string message) {
        std::call_once(failure_once, [&] {
            failure = std::move(message);
            failed.store(true);
        });
    }

    // Makes the groups durable with one fsync, then publishes and answers them.
    void sync_and_answer(std::vector<written_group>& groups) {
        const bool any_written = std::any_of(groups.begin(), groups.end(), [](const written_group& g) { return g.wrote; });
        if (any_written) {
            const auto status = failed.load()                           ? rocksdb::Status::Aborted(failure)
                                : options.unsafe_acknowledge_before_sync ? rocksdb::Status::OK()
                                                                         : db->SyncWAL();
            if (!status.ok()) {
                // What reached the disk is unknown: refuse further appends until reopened (recovery
                // then sees each batch whole or not at all), and acknowledge none of these.
                const auto e = io_error(status, "syncing the event log");
                fail(e.message);
                for (auto& g : groups) {
                    for (auto& o : g.outcomes) o = tl::unexpected(e);
                    g.wrote = false;
                }
            }
        }
        publish_and_answer(groups);
    }

    // The groups are durable (or failed): publish the new head, then answer their callers, large
    // cohorts through the completer. Groups are in write order.
    void publish_and_answer(std::vector<written_group>& groups) {
        publish(groups);
        answer_all(groups);
    }

    // The groups are durable (or failed): make them visible to readers and tail waiters. A
    // duplicate is answered as such only once its original is durable: the original may sit in
    // a group whose sync failed, and then it was never acknowledged.
    void publish(std::vector<written_group>& groups) {
        const written_group* last_written = nullptr;
        std::size_t appends = 0;
        for (const auto& g : groups) {
            appends += g.group.size();
            if (g.wrote) last_written = &g;
        }
        if (last_written != nullptr) {
            syncs.fetch_add(1, std::memory_order_relaxed);
            appends_synced.fetch_add(appends, std::memory_order_relaxed);
            {
                std::lock_guard lock(head_mutex);
                committed_hash = last_written->hash;
            }
            {
                std::lock_guard lock(tail_mutex);
                committed.store(last_written->last_position);
            }
            tail_cv.notify_all();
        }
        const std::uint64_t durable = committed.load();
        for (auto& g : groups) {
            for (auto& o : g.outcomes) {
                if (o && o->duplicate && o->last_position() > durable)
                    o = tl::unexpected(make_error(error::kind::closed, failed.load() ? "the log failed before this command's first "
                                                                                       "append was durable: " + failure
                                                                                     : "this command's first append is not durable"));
            }
        }
    }

    // Small cohorts are answered on this thread. Large ones on two at once: the completer takes
    // the first half and this thread (the syncer, which usually waits for the writer's next group
    // anyway) the rest. Waking a blocked appender or running a callback costs microseconds
    // apiece here, and the cohort's next appends reach the writer only as they are answered.
    void answer_all(std::vector<written_group>& groups) {
        std::size_t appends = 0;
        for (const auto& g : groups) appends += g.group.size();
        if (appends <= complete_inline_up_to) {
            for (auto& g : groups) answer(g);
            return;
        }
        std::vector<written_group> rest;
        {
            std::lock_guard lock(done_mutex);
            std::size_t given = 0;
            for (auto& g : groups) {
                const std::size_t take = std::min(g.group.size(), appends / 2 - given);
                given += take;
                if (take == g.group.size()) {
                    to_complete.push_back(std::move(g));
                    continue;
                }
                if (take > 0) to_complete.push_back(split_front(g, take));
                rest.push_back(std::move(g));
            }
        }
        done_cv.notify_one();
        for (auto& g : rest) answer(g);
    }

    // The first `n` appends of a group and their outcomes, moved out of it (for answering only).
    static written_group split_front(written_group& g, std::size_t n) {
        written_group front;
        const auto cut = static_cast<std::ptrdiff_t>(n);
        front.group.assign(std::make_move_iterator(g.group.begin()), std::make_move_iterator(g.group.begin() + cut));
        front.outcomes.assign(std::make_move_iterator(g.outcomes.begin()), std::make_move_iterator(g.outcomes.begin() + cut));
        g.group.erase(g.group.begin(), g.group.begin() + cut);
        g.outcomes.erase(g.outcomes.begin(), g.outcomes.begin() + cut);
        return front;
    }

    // Decides every append of the group against the log (which includes what this writer wrote
    // and has not yet synced) and the group's earlier appends, then writes the accepted ones as
    // one unsynced batch.
    written_group write_group(std::vector<pending> group, bool sync) {
        written_group out;
        out.group = std::move(group);
        groups_decided.fetch_add(1, std::memory_order_relaxed);
        if (failed.load()) {
            const result<append_result> refused = tl::unexpected(make_error(error::kind::closed, "the log failed earlier: " + failure));
            out.outcomes.assign(out.group.size(), refused);
            return out;
        }
        if (space_low()) {
            const result<append_result> refused = tl::unexpected(make_error(
                error::kind::no_space, "the event log's disk has " + std::to_string(free_seen.load()) +
                                           " bytes free, under the floor of " + std::to_string(options.min_free_bytes) +
                                           " (--min-free-bytes); nothing was written"));
            out.outcomes.assign(out.group.size(), refused);
            return out;
        }
        out.outcomes.reserve(out.group.size());

        rocksdb::WriteBatch batch;
        // The writer's cache of stream versions takes this group's versions as they are decided:
        // if the batch then fails to write, the log refuses everything until it is reopened.
        if (stream_heads.size() + out.group.size() > max_cached_streams) stream_heads.clear();
        std::unordered_map<std::string_view, std::size_t> group_commands;  // command id -> index in the group
        std::uint64_t position = next_position;
        sha256 hash = chain_hash;
        const std::int64_t stamp = std::max(now(), last_stamp);
        std::vector<std::uint64_t> current;
        std::vector<std::uint64_t*> cached;  // each written stream's entry in stream_heads
        std::string key, value;
        char position_key[8], head_value[8];

        for (std::size_t i = 0; i < out.group.size(); ++i) {
            auto& p = out.group[i];
            auto& rq = p.request;
            out.outcomes.push_back(decide_one(p, out, group_commands, current, cached));
            if (!out.outcomes.back() || out.outcomes.back()->duplicate) continue;

            append_result r;
            r.first_position = position;
            std::size_t k = 0;  // index into p.records
            for (std::size_t w = 0; w < rq.writes.size(); ++w) {
                const auto& write = rq.writes[w];
                std::uint64_t version = current[w];
                for (std::size_t e = 0; e < write.events.size(); ++e) {
                    ++version;
                    auto& record = p.records[k++];
                    stamp_canonical(record, position, version, stamp);
                    hash = thread_hasher().chain(hash, record);
                    record.append(reinterpret_cast<const char*>(hash.data()), hash.size());
                    be64_into(position_key, position);
                    const rocksdb::Slice position_slice(position_key, sizeof position_key);
                    key.assign(write.stream);
                    key.push_back('\0');
                    key.append(8, '\0');
                    be64_into(key.data() + write.stream.size() + 1, version);
                    // WriteBatch::Put fails only past its 4 GiB size limit, far above max_group_bytes.
                    (void)batch.Put(events, position_slice, record);
                    (void)batch.Put(streams, key, position_slice);
                    ++position;
                    ++r.event_count;
                }
                if (version != current[w]) {
                    for (std::size_t b = 0; b < 8; ++b) head_value[b] = static_cast<char>((version >> (8 * b)) & 0xffu);
                    (void)batch.Put(heads, write.stream, rocksdb::Slice(head_value, sizeof head_value));
                    *cached[w] = version;
                }
                r.streams.push_back({write.stream, version});
            }
            encode_command(value, p.fingerprint, r);
            (void)batch.Put(commands, rq.command_id, value);
            group_commands.emplace(rq.command_id, i);
            out.outcomes.back() = std::move(r);
            out.wrote = true;
        }
        if (!out.wrote) return out;

        rocksdb::WriteOptions wo;
        wo.sync = sync;  // usually false: the syncer's SyncWAL makes many groups durable at once
        const auto status = db->Write(wo, &batch);
        if (!status.ok()) {
            const auto e = io_error(status, "writing to the event log");
            fail(e.message);
            for (auto& o : out.outcomes) o = tl::unexpected(e);
            out.wrote = false;
            return out;
        }
        next_position = position;
        chain_hash = hash;
        last_stamp = stamp;
        out.last_position = position - 1;
        out.hash = hash;
        return out;
    }

    // The stream's version as the writer sees it: the log (including unsynced writes and the
    // group's earlier appends, which write_group puts into the cache as it decides them).
    // Returns its entry in the cache (stable: the map's nodes do not move), for the caller to
    // update without hashing the name again.
    result<std::uint64_t*> writer_version(const std::string& stream) {
        if (auto c = stream_heads.find(stream); c != stream_heads.end()) return &c->second;
        std::string stored;
        const auto s = db->Get(rocksdb::ReadOptions(), heads, stream, &stored);
        std::uint64_t version = 0;
        if (s.ok()) {
            reader in(stored);
            version = in.u64();
            if (!in.ok()) return tl::unexpected(make_error(error::kind::corrupt, "head of stream " + stream + " is damaged"));
        } else if (!s.IsNotFound()) {
            return tl::unexpected(io_error(s, "reading the stream heads"));
        }
        return &stream_heads.emplace(stream, version).first->second;
    }

    // Idempotency and expected versions for one append; fills `current` with each written
    // stream's version before the append and `cached` with its entry in the writer's cache. A
    // duplicate comes back with duplicate = true.
    result<append_result> decide_one(const pending& p, const written_group& group,
                                     const std::unordered_map<std::string_view, std::size_t>& group_commands,
                                     std::vector<std::uint64_t>& current, std::vector<std::uint64_t*>& cached) {
        const auto& rq = p.request;
        auto replay = [&](const sha256& stored_fp, append_result stored) -> result<append_result> {
            if (stored_fp != p.fingerprint)
                return tl::unexpected(make_error(error::kind::command_mismatch,
                                                 "command id " + rq.command_id +
                                                     " was already used for a different command"));
            stored.duplicate = true;
            return stored;
        };
        if (auto it = group_commands.find(rq.command_id); it != group_commands.end())
            return replay(group.group[it->second].fingerprint, *group.outcomes[it->second]);
        std::string stored;
        const auto s = db->Get(rocksdb::ReadOptions(), commands, rq.command_id, &stored);
        if (s.ok()) {
            sha256 fp{};
            append_result r;
            if (!decode_command(stored, fp, r))
                return tl::unexpected(make_error(error::kind::corrupt, "command record of " + rq.command_id + " is damaged"));
            return replay(fp, std::move(r));
        }
        if (!s.IsNotFound()) return tl::unexpected(io_error(s, "reading the command index"));

        current.assign(rq.writes.size(), 0);
        cached.assign(rq.writes.size(), nullptr);
        for (std::size_t w = 0; w < rq.writes.size(); ++w) {
            const auto& write = rq.writes[w];
            auto entry = writer_version(write.stream);
            if (!entry) return tl::unexpected(entry.error());
            const std::uint64_t version = **entry;
            if (!holds(write.expected, version)) {
                std::string buffer;
                return tl::unexpected(make_error(
                    error::kind::conflict, "stream " + write.stream + " is at version " + std::to_string(version) +
                                               ", expected " + std::string(expected_text(write.expected, buffer))));
            }
            current[w] = version;
            cached[w] = *entry;
        }
        return append_result{};
    }

    result<void> recover_head() {
        rocksdb::ReadOptions ro;
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, events));
        it->SeekToLast();
        if (!it->status().ok()) return tl::unexpected(io_error(it->status(), "reading the log's head"));
        if (!it->Valid()) return {};
        event_view head;
        std::string_view canonical;
        if (!decode_event(it->value().ToStringView(), head, canonical) ||
            head.position != from_be64(it->key().ToStringView()))
            return tl::unexpected(make_error(error::kind::corrupt, "the newest event of the log does not decode"));
        committed.store(head.position);
        committed_hash = head.hash;
        next_position = head.position + 1;
        chain_hash = head.hash;
        last_stamp = head.recorded_at_us;
        return {};
    }
};

namespace {

std::string missing_events_advice(const std::filesystem::path& dir, bool unchanged = true) {
    return std::string(unchanged ? "; nothing was changed" : "") + ". Check the log with `dealerline audit verify --data " + dir.string() +
           "`, then restore it from a backup or a follower (docs/operations.md, \"Recovery refuses to open\")";
}

// Before the writer opens an existing log (which replays its WAL and makes what it replayed
// permanent): the newest event in the tables, and whether the WAL continues from it. A WAL whose
// first events do not follow the tables lost events that may have been acknowledged (a WAL file
// vanished, or its synced pages did), and the open is refused with nothing changed. Nothing is
// known (std::nullopt) when the log cannot be opened read-only; the real open then says why.
result<std::optional<position_gap_filter::link>> judge_recovery(const std::filesystem::path& dir, rocksdb::DBOptions options,
                                                                const std::vector<rocksdb::ColumnFamilyDescriptor>& families) {
    position_gap_filter recorder(cf_events, std::nullopt, /*record_only=*/true);
    options.wal_filter = &recorder;
    options.create_if_missing = false;
    options.create_missing_column_families = false;
    options.env = rocksdb::Env::Default();
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    if (!rocksdb::DB::OpenForReadOnly(options, dir.string(), families, &handles, &raw).ok())
        return std::optional<position_gap_filter::link>{};
    std::unique_ptr<rocksdb::DB> db(raw);
    auto release = [&] {
        for (auto* h : handles) (void)db->DestroyColumnFamilyHandle(h);
        handles.clear();
    };
    position_gap_filter::link start;
    {
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[1]));
        it->SeekToLast();
        if (!it->status().ok()) {
            auto e = io_error(it->status(), "reading the log's tables");
            it.reset();
            release();
            return tl::unexpected(e);
        }
        if (it->Valid()) {
            event_view view;
            std::string_view canonical;
            if (!decode_event(it->value().ToStringView(), view, canonical) || view.position != from_be64(it->key().ToStringView())) {
                it.reset();
                release();
                return tl::unexpected(make_error(error::kind::corrupt, "the newest event in the log's tables does not decode" +
                                                                           missing_events_advice(dir)));
            }
            start = {view.position, view.hash};
        }
    }
    release();
    const std::uint64_t first = recorder.first_position();
    if (first == 0) return std::optional(start);
    if (first != start.position + 1) {
        const std::string what = first > start.position + 1
                                     ? "positions " + std::to_string(start.position + 1) + ".." + std::to_string(first - 1) + " are missing"
                                     : "it repeats position " + std::to_string(first);
        return tl::unexpected(make_error(error::kind::corrupt, "the event log at " + dir.string() + " cannot be recovered: its tables end at position " +
                                                                   std::to_string(start.position) + " and its write-ahead log continues at " +
                                                                   std::to_string(first) + " (" + what + ")" + missing_events_advice(dir)));
    }
    event_view view;
    std::string_view canonical;
    if (!decode_event(recorder.first_record(), view, canonical) || chain_hash(start.hash, view) != view.hash)
        return tl::unexpected(make_error(error::kind::corrupt, "the event log at " + dir.string() + " cannot be recovered: event " +
                                                                   std::to_string(first) + " in the write-ahead log does not chain to event " +
                                                                   std::to_string(start.position) + " in the tables" +
                                                                   missing_events_advice(dir)));
    if (const auto& stop = recorder.stopped(); stop && stop->broken_link)
        return tl::unexpected(make_error(error::kind::corrupt, "the event log at " + dir.string() + " cannot be recovered: event " +
                                                                   std::to_string(stop->found) +
                                                                   " in the write-ahead log does not chain to the event before it" +
                                                                   missing_events_advice(dir)));
    return std::optional(start);
}

}  // namespace

event_log::event_log(std::unique_ptr<impl> i) : impl_(std::move(i)) {}
event_log::~event_log() = default;

result<std::unique_ptr<event_log>> event_log::open(const std::filesystem::path& dir, log_options options) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const bool existed = fs::exists(dir / "CURRENT", ec);
    if (!existed) {
        if (options.read_only || !options.create_if_missing)
            return tl::unexpected(make_error(error::kind::not_found, "no event log at " + dir.string()));
        if (fs::exists(dir, ec) && !fs::is_empty(dir, ec))
            return tl::unexpected(make_error(error::kind::bad_request,
                                             dir.string() + " is not empty and holds no event log; refusing to use it"));
        fs::create_directories(dir, ec);  // RocksDB creates only the last level
        if (ec) return tl::unexpected(make_error(error::kind::io, "cannot create " + dir.string() + ": " + ec.message()));
    }

    rocksdb::DBOptions db_options;
    db_options.create_if_missing = !options.read_only;
    db_options.create_missing_column_families = !options.read_only;
    db_options.info_log = detail::make_rocksdb_logger(dir.string());  // not a LOG file: see rocksdb_logger.hpp
    db_options.IncreaseParallelism(2);

    // Memtable shapes chosen for the writer, whose per-event CPU bounds group-commit throughput:
    // - events: keys only ever grow, so each insert starts from the previous one (a hint);
    // - heads, commands, snapshots: point lookups only (mostly of keys that do not exist yet: a
    //   new command, a new order), so a hash table instead of a skip list, and bloom filters;
    // - streams: read in order within one stream only, so hashed by stream with a skip list per
    //   stream (a sorted linked list per stream was measured slower once streams hold tens of
    //   events: 261-267 vs 203-229 us p50 for a lone 10-event append).
    db_options.allow_concurrent_memtable_write = false;  // hash memtables need it; we have one writer
    rocksdb::ColumnFamilyOptions events_options;
    events_options.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(0));
    auto point_lookups = [] {
        rocksdb::ColumnFamilyOptions cf;
        rocksdb::BlockBasedTableOptions table;
        table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
        table.whole_key_filtering = true;
        cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
        cf.prefix_extractor.reset(rocksdb::NewNoopTransform());
        cf.memtable_factory.reset(rocksdb::NewHashLinkListRepFactory(1u << 18));
        return cf;
    };
    auto stream_index_options = [] {
        rocksdb::ColumnFamilyOptions cf;
        rocksdb::BlockBasedTableOptions table;
        table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
        cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
        cf.prefix_extractor = std::make_shared<stream_prefix>();
        cf.memtable_factory.reset(rocksdb::NewHashSkipListRepFactory(1u << 18));
        return cf;
    };
    std::vector<rocksdb::ColumnFamilyDescriptor> families{
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {cf_events, events_options},
        {cf_streams, stream_index_options()},
        {cf_heads, point_lookups()},
        {cf_commands, point_lookups()},
        {cf_snapshots, point_lookups()},
    };

    auto i = std::make_unique<impl>();
    i->dir = dir;
    i->options = std::move(options);
    // Recovery stops at the first gap in positions: with zeroed WAL files a crash can leave a
    // zero page before one that reached the disk, and RocksDB's reader skips zero blocks.
    std::optional<position_gap_filter::link> start;
    if (existed && !i->options.read_only) {
        auto judged = judge_recovery(dir, db_options, families);
        if (!judged) return tl::unexpected(judged.error());
        start = *judged;
    }
    i->gap_filter = std::make_unique<detail::position_gap_filter>(cf_events, start);
    db_options.wal_filter = i->gap_filter.get();
    if (i->options.read_only && i->options.follow) {
        i->fs = detail::follower_fs(rocksdb::FileSystem::Default(), dir);
    } else if (!i->options.read_only && i->options.wal_zeroed_ahead > 0) {
        i->fs = detail::writer_fs(rocksdb::FileSystem::Default(), dir, i->options.wal_zeroed_ahead);
    } else if (!i->options.read_only) {
        fs::remove(dir / detail::synced_wal_file, ec);  // no zeroed WAL now: followers read to the end
    }
    if (i->fs) {
        i->env = rocksdb::NewCompositeEnv(i->fs);
        db_options.env = i->env.get();
    }
    rocksdb::Status s;
    if (i->options.read_only && i->options.follow) {
        // A secondary instance can catch up with the writer later (--follow); it keeps its own
        // small info log in a folder of its own.
        std::error_code tmp_ec;
        auto secondary = fs::temp_directory_path(tmp_ec) / ("dealerline-follow-" + std::to_string(::getpid()) + "-" +
                                                            std::to_string(reinterpret_cast<std::uintptr_t>(i.get())));
        fs::create_directories(secondary, tmp_ec);
        i->secondary_dir = secondary;
        db_options.max_open_files = -1;  // required of secondary instances
        s = rocksdb::DB::OpenAsSecondary(db_options, dir.string(), secondary.string(), families, &i->handles, &i->db);
    } else if (i->options.read_only) {
        s = rocksdb::DB::OpenForReadOnly(db_options, dir.string(), families, &i->handles, &i->db);
    } else
        s = rocksdb::DB::Open(db_options, dir.string(), families, &i->handles, &i->db);
    if (!s.ok()) {
        if (existed && s.IsInvalidArgument())
            return tl::unexpected(make_error(error::kind::bad_request,
                                             dir.string() + " is a RocksDB database but not a dealerline event log (" +
                                                 s.ToString() + ")"));
        return tl::unexpected(io_error(s, "opening the event log at " + dir.string()));
    }
    i->meta = i->handles[0];
    i->events = i->handles[1];
    i->streams = i->handles[2];
    i->heads = i->handles[3];
    i->commands = i->handles[4];
    i->snapshots = i->handles[5];

    std::string stored_format;
    s = i->db->Get(rocksdb::ReadOptions(), i->meta, meta_format_key, &stored_format);
    if (i->options.follow) {
        // A writer that is opening (flushing what it recovered, deleting old WAL files) can leave
        // a just-opened secondary with a view that misses data; catching up with the writer's
        // newest MANIFEST settles it, so try a few times before believing what we see.
        for (int attempt = 0; attempt < 50; ++attempt) {
            const auto caught = i->db->TryCatchUpWithPrimary();
            s = i->db->Get(rocksdb::ReadOptions(), i->meta, meta_format_key, &stored_format);
            if (caught.ok() && s.ok()) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the writer's recovery is under way
        }
    }
    if (s.IsNotFound()) {
        if (existed)
            return tl::unexpected(make_error(error::kind::bad_request,
                                             dir.string() + " holds a RocksDB database that is not a dealerline event log"));
        rocksdb::WriteOptions wo;
        wo.sync = true;
        s = i->db->Put(wo, i->meta, meta_format_key, std::to_string(format_version));
        if (!s.ok()) return tl::unexpected(io_error(s, "writing the log's format version"));
    } else if (!s.ok()) {
        return tl::unexpected(io_error(s, "reading the log's format version"));
    } else if (stored_format != std::to_string(format_version)) {
        return tl::unexpected(make_error(error::kind::bad_request, "the log at " + dir.string() + " has format version " +
                                                                       stored_format + "; this build reads version " +
                                                                       std::to_string(format_version)));
    }

    if (auto r = i->recover_head(); !r) return tl::unexpected(r.error());
    std::unique_ptr<event_log> log(new event_log(std::move(i)));
    // What the WAL replayed, checked as stored: positions without a gap and the hash chain from
    // the newest event that was in the tables to the head (the filter judged the same records
    // on their way in; this checks what RocksDB made of them).
    if (start && log->head_position() > start->position) {
        auto report = log->verify(start->position + 1, to_end);
        if (!report) return tl::unexpected(report.error());
        if (!report->ok())
            return tl::unexpected(make_error(error::kind::corrupt, "the event log at " + dir.string() +
                                                                       " does not verify after recovery: position " +
                                                                       std::to_string(*report->first_bad) + ": " + report->problem +
                                                                       missing_events_advice(dir, false)));
    }
    if (!log->impl_->options.read_only) log->impl_->start_threads();
    return log;
}

void event_log::append(append_request request, append_callback on_done) {
    auto refuse = [&](error e) { on_done(tl::unexpected(std::move(e))); };
    if (impl_->options.read_only) return refuse(make_error(error::kind::closed, "the log is open read-only"));
    auto size = validate(request);
    if (!size) return refuse(size.error());
    pending p;
    p.bytes = *size;
    p.fingerprint = fingerprint_of(request);
    p.request = std::move(request);
    encode_records(p);
    p.done = std::move(on_done);
    bool wake = false;
    {
        std::unique_lock lock(impl_->queue_mutex);
        if (impl_->stopping) {
            lock.unlock();
            return p.done(tl::unexpected(make_error(error::kind::closed, "the log is closing")));
        }
        if (impl::answering == 0 && impl_->queue.empty() && impl_->write_token.try_lock()) {
            std::unique_lock token(impl_->write_token, std::adopt_lock);
            bool idle = false;
            {
                std::lock_guard sync(impl_->sync_mutex);
                idle = !impl_->syncing && impl_->to_sync.empty();
                if (idle) impl_->syncing = true;
            }
            if (idle) {
                // Nothing queued, written or syncing: this caller writes its own append, durably.
                lock.unlock();
                std::vector<pending> group;
                group.push_back(std::move(p));
                std::vector<written_group> one;
                one.push_back(impl_->write_group(std::move(group), /*sync=*/!impl_->options.unsafe_acknowledge_before_sync));
                impl_->publish(one);
                {
                    std::lock_guard sync(impl_->sync_mutex);
                    impl_->syncing = false;
                }
                token.unlock();
                {
                    std::lock_guard queued(impl_->queue_mutex);  // what arrived meanwhile waits for this
                }
                impl_->queue_cv.notify_one();
                impl_->answer_all(one);  // one append: answered here, on this thread
                return;
            }
        }
        impl_->queue.push_back(std::move(p));
        // While a sync runs the writer waits for a pile; waking it for each append would cost a
        // futile context switch apiece, and once it is woken, further signals are wasted syscalls.
        wake = impl_->writer_waiting &&
               (!impl_->syncing.load() || impl_->queue.size() >= impl::write_while_syncing_at);
        if (wake) impl_->writer_waiting = false;
    }
    if (wake) impl_->queue_cv.notify_one();
}

std::future<result<append_result>> event_log::append_async(append_request request) {
    auto promise = std::make_shared<std::promise<result<append_result>>>();
    auto future = promise->get_future();
    append(std::move(request), [promise](result<append_result> r) { promise->set_value(std::move(r)); });
    return future;
}

result<append_result> event_log::append(append_request request) {
    // One allocation and one futex (a promise and its future cost two allocations and a mutex).
    // The callback shares the waiter, so it may still be notifying when the caller has woken
    // and returned.
    struct waiter {
        std::atomic<std::uint32_t> done{0};
        std::optional<result<append_result>> outcome;
    };
    auto w = std::make_shared<waiter>();
    append(std::move(request), [w](result<append_result> r) {
        w->outcome.emplace(std::move(r));
        w->done.store(1, std::memory_order_release);
        w->done.notify_one();
    });
    w->done.wait(0, std::memory_order_acquire);
    return std::move(*w->outcome);
}

result<std::uint64_t> event_log::scan(std::uint64_t from, std::uint64_t to,
                                      const std::function<bool(const event_view&)>& visit) const {
    to = std::min(to, head_position());
    from = std::max<std::uint64_t>(from, 1);
    if (from > to) return 0;
    const std::string lower = be64(from), upper = be64(to + 1);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    ro.readahead_size = 2u << 20;
    ro.fill_cache = false;  // a scan would evict what the point reads need
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->events));
    std::uint64_t visited = 0;
    event_view view;
    std::string_view canonical;
    for (it->Seek(lower); it->Valid(); it->Next()) {
        if (!decode_event(it->value().ToStringView(), view, canonical))
            return tl::unexpected(make_error(error::kind::corrupt, "event at position " +
                                                                       std::to_string(from_be64(it->key().ToStringView())) +
                                                                       " does not decode"));
        ++visited;
        if (!visit(view)) break;
    }
    if (!it->status().ok()) return tl::unexpected(io_error(it->status(), "scanning the log"));
    return visited;
}

result<std::vector<recorded_event>> event_log::read_all(std::uint64_t from_position, std::size_t max) const {
    std::vector<recorded_event> out;
    if (max == 0) return out;
    out.reserve(std::min<std::size_t>(max, 4096));
    auto r = scan(from_position, to_end, [&](const event_view& v) {
        out.push_back(recorded_event::from(v));
        return out.size() < max;
    });
    if (!r) return tl::unexpected(r.error());
    return out;
}

result<std::vector<recorded_event>> event_log::read_stream(std::string_view stream, std::uint64_t from_version,
                                                           std::size_t max) const {
    std::vector<recorded_event> out;
    const std::uint64_t head = head_position();
    const std::string lower = stream_key(stream, std::max<std::uint64_t>(from_version, 1));
    std::string upper(stream);
    upper.push_back('\x01');
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    ro.prefix_same_as_start = true;
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->streams));
    std::string value;
    event_view view;
    std::string_view canonical;
    for (it->Seek(lower); it->Valid() && out.size() < max; it->Next()) {
        const auto position = from_be64(it->value().ToStringView());
        if (position > head) break;  // written but not yet acknowledged: not ours to show
        const auto s = impl_->db->Get(ro, impl_->events, be64(position), &value);
        if (!s.ok())
            return tl::unexpected(io_error(s, "reading event " + std::to_string(position) + " of stream " + std::string(stream)));
        if (!decode_event(value, view, canonical))
            return tl::unexpected(make_error(error::kind::corrupt, "event at position " + std::to_string(position) + " does not decode"));
        out.push_back(recorded_event::from(view));
    }
    if (!it->status().ok()) return tl::unexpected(io_error(it->status(), "reading stream " + std::string(stream)));
    return out;
}

std::uint64_t event_log::head_position() const noexcept { return impl_->committed.load(); }

log_stats event_log::stats() const noexcept {
    return {impl_->syncs.load(std::memory_order_relaxed), impl_->appends_synced.load(std::memory_order_relaxed),
            impl_->groups_decided.load(std::memory_order_relaxed)};
}

disk_space event_log::space() const {
    const std::uint64_t free = impl_->free_now();
    impl_->free_seen.store(free);  // the writer sees a change within its next check anyway
    return {free, impl_->options.min_free_bytes};
}

sha256 event_log::head_hash() const {
    std::lock_guard lock(impl_->head_mutex);
    return impl_->committed_hash;
}

result<std::uint64_t> event_log::stream_version(std::string_view stream) const {
    return impl_->published_version(stream);
}

result<std::optional<append_result>> event_log::find_command(std::string_view command_id,
                                                             std::optional<std::string_view> fingerprint) const {
    std::string stored;
    const auto s = impl_->db->Get(rocksdb::ReadOptions(), impl_->commands, command_id, &stored);
    if (s.IsNotFound()) return std::optional<append_result>{};
    if (!s.ok()) return tl::unexpected(io_error(s, "reading the command index"));
    sha256 fp{};
    append_result r;
    if (!decode_command(stored, fp, r))
        return tl::unexpected(make_error(error::kind::corrupt, "command record of " + std::string(command_id) + " is damaged"));
    if (r.last_position() > head_position()) return std::optional<append_result>{};  // written, not yet synced
    if (fingerprint && caller_fingerprint(*fingerprint) != fp)
        return tl::unexpected(make_error(error::kind::command_mismatch,
                                         "command id " + std::string(command_id) + " was already used for a different command"));
    r.duplicate = true;
    return std::optional<append_result>(std::move(r));
}

std::uint64_t event_log::wait_for(std::uint64_t after, std::chrono::steady_clock::time_point deadline) const {
    std::unique_lock lock(impl_->tail_mutex);
    impl_->tail_cv.wait_until(lock, deadline, [&] { return impl_->committed.load() > after; });
    return impl_->committed.load();
}

namespace {
// 256-bit addition: the sum of entry digests is a fingerprint of a set that does not depend on
// the order the entries are visited in (the events by position, the index by stream).
void add_digest(std::array<std::uint64_t, 4>& sum, const sha256& d) {
    unsigned carry = 0;
    for (std::size_t lane = 0; lane < 4; ++lane) {
        std::uint64_t word = 0;
        for (std::size_t b = 0; b < 8; ++b) word = (word << 8) | d[lane * 8 + b];
        const std::uint64_t before = sum[lane];
        sum[lane] += word + carry;
        carry = (sum[lane] < before || (carry && sum[lane] == before)) ? 1u : 0u;
    }
}
sha256 index_entry_digest(std::string_view key, std::uint64_t position) {
    std::string bytes(key);
    bytes.append(be64(position));
    return thread_hasher().digest(bytes);
}
}  // namespace

result<verify_report> event_log::verify(std::uint64_t from, std::uint64_t to) const {
    // Over the whole log the stream index is checked by comparing set fingerprints (one
    // sequential pass over each); only when they differ, or for a range, is every entry looked
    // up, which also names the first bad position.
    bool index_differs = false;
    auto first = verify_pass(from, to, /*look_up_each=*/false, index_differs);
    if (!first || !first->ok() || !index_differs) return first;
    return verify_pass(from, to, /*look_up_each=*/true, index_differs);
}

result<verify_report> event_log::verify_pass(std::uint64_t from, std::uint64_t to, bool look_up_each,
                                             bool& index_differs) const {
    verify_report report;
    report.head_position = head_position();
    report.from = std::max<std::uint64_t>(from, 1);
    report.to = std::min(to, report.head_position);
    if (report.from > report.to) return report;
    const bool whole_log = report.from == 1 && report.to == report.head_position;
    look_up_each = look_up_each || !whole_log;
    std::array<std::uint64_t, 4> event_sum{}, index_sum{};
    auto bad = [&](std::uint64_t position, std::string problem) {
        report.first_bad = position;
        report.problem = std::move(problem);
        return report;
    };

    hasher h;
    sha256 previous{};
    std::string value;
    rocksdb::ReadOptions point;
    if (report.from > 1) {
        const auto s = impl_->db->Get(point, impl_->events, be64(report.from - 1), &value);
        event_view v;
        std::string_view canonical;
        if (!s.ok() || !decode_event(value, v, canonical))
            return bad(report.from - 1, "the event before the range is missing or does not decode");
        previous = v.hash;
    }

    const std::string lower = be64(report.from), upper = be64(report.to + 1);
    rocksdb::Slice upper_slice(upper);
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    ro.readahead_size = 2u << 20;
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->events));
    std::unordered_map<std::string, std::uint64_t> stream_versions;

    // The stream index is checked in batches (MultiGet): one lookup per event was most of the
    // cost. A batch holds only positions before the one being read, so flushing it before
    // reporting any other problem keeps "first bad position" exact.
    struct index_check {
        std::string key;
        std::uint64_t position;
    };
    constexpr std::size_t batch = 1024;
    std::vector<index_check> pending;
    pending.reserve(batch);
    std::vector<rocksdb::Slice> keys;
    keys.reserve(batch);
    std::vector<rocksdb::PinnableSlice> found(batch);
    std::vector<rocksdb::Status> statuses(batch);
    auto check_index = [&]() -> bool {
        if (pending.empty()) return true;
        keys.clear();
        for (const auto& p : pending) keys.emplace_back(p.key);
        impl_->db->MultiGet(point, impl_->streams, keys.size(), keys.data(), found.data(), statuses.data());
        bool ok = true;
        for (std::size_t i = 0; i < pending.size() && ok; ++i) {
            if (!statuses[i].ok() || from_be64(found[i].ToStringView()) != pending[i].position) {
                const auto& k = pending[i].key;
                bad(pending[i].position, "stream index has no entry for " + k.substr(0, k.size() - 9) + " version " +
                                             std::to_string(from_be64(std::string_view(k).substr(k.size() - 8))) + " pointing here");
                ok = false;
            }
        }
        for (std::size_t i = 0; i < pending.size(); ++i) found[i].Reset();
        pending.clear();
        return ok;
    };
    auto fail = [&](std::uint64_t position, std::string problem) {
        if (!check_index()) return report;
        return bad(position, std::move(problem));
    };

    std::uint64_t expected = report.from;
    event_view view;
    std::string_view canonical;
    std::string stream_buffer;
    for (it->Seek(lower); it->Valid(); it->Next(), ++expected) {
        const auto key = from_be64(it->key().ToStringView());
        if (key != expected)
            return fail(expected, "event is missing (the next stored position is " + std::to_string(key) + ")");
        if (!decode_event(it->value().ToStringView(), view, canonical)) return fail(expected, "event does not decode");
        if (view.position != expected)
            return fail(expected, "event records position " + std::to_string(view.position) + " but is stored at " +
                                      std::to_string(expected));
        if (h.chain(previous, canonical) != view.hash) return fail(expected, "hash does not match the event's content and chain");
        previous = view.hash;
        ++report.checked;

        if (look_up_each) {
            pending.push_back({stream_key(view.stream, view.version), expected});
            if (pending.size() == batch && !check_index()) return report;
        } else {
            add_digest(event_sum, index_entry_digest(stream_key(view.stream, view.version), expected));
        }
        stream_buffer.assign(view.stream);
        if (auto slot = stream_versions.find(stream_buffer); slot != stream_versions.end()) {
            if (view.version != slot->second + 1)
                return fail(expected, "stream " + stream_buffer + " jumps from version " + std::to_string(slot->second) + " to " +
                                          std::to_string(view.version));
            slot->second = view.version;
        } else {
            if (view.version > 1 && report.from == 1)
                return fail(expected, "stream " + stream_buffer + " starts at version " + std::to_string(view.version));
            stream_versions.emplace(stream_buffer, view.version);
        }
    }
    if (!it->status().ok()) return tl::unexpected(io_error(it->status(), "reading the log for verify"));
    if (expected != report.to + 1) return fail(expected, "event is missing (the log ends early)");
    if (!check_index()) return report;
    report.head_hash = previous;

    // The writer decides expected versions from the heads family: over the whole log, each
    // stream's head must be its last event's version.
    if (report.from == 1 && report.to == report.head_position) {
        for (const auto& [stream, version] : stream_versions) {
            const auto s = impl_->db->Get(point, impl_->heads, stream, &value);
            reader in(value);
            if (!s.ok() || in.u64() != version || !in.ok())
                return bad(report.to, "the recorded head of stream " + stream + " is not its last version " +
                                          std::to_string(version));
        }
    }

    // Over the whole log, the index must hold exactly one entry per event: every event's entry was
    // found above, so counting is enough to rule out extra (forged) entries.
    if (report.from == 1 && report.to == report.head_position) {
        rocksdb::ReadOptions all;
        all.total_order_seek = true;  // across streams: the whole index, not one prefix
        std::unique_ptr<rocksdb::Iterator> idx(impl_->db->NewIterator(all, impl_->streams));
        std::uint64_t entries = 0;
        for (idx->SeekToFirst(); idx->Valid(); idx->Next()) {
            // Entries past `to` were appended while we were verifying.
            const auto position = from_be64(idx->value().ToStringView());
            if (position > report.to) continue;
            ++entries;
            if (!look_up_each) add_digest(index_sum, index_entry_digest(idx->key().ToStringView(), position));
        }
        if (!idx->status().ok()) return tl::unexpected(io_error(idx->status(), "reading the stream index for verify"));
        if (!look_up_each && (entries != report.checked || event_sum != index_sum)) {
            index_differs = true;  // the caller looks every entry up to name the position
            return report;
        }
        if (entries != report.checked) {
            // Name the entry that points at an event which does not claim it.
            for (idx->SeekToFirst(); idx->Valid(); idx->Next()) {
                const auto position = from_be64(idx->value().ToStringView());
                if (position > report.to) continue;
                const auto key = idx->key().ToStringView();
                const auto s = impl_->db->Get(point, impl_->events, be64(position), &value);
                if (!s.ok() || !decode_event(value, view, canonical) || stream_key(view.stream, view.version) != key)
                    return bad(position, "stream index has an entry for " + std::string(key.substr(0, key.size() - 9)) +
                                             " version " + std::to_string(from_be64(key.substr(key.size() - 8))) +
                                             " that the event here does not claim");
            }
            return bad(report.to, "stream index holds " + std::to_string(entries) + " entries for " +
                                      std::to_string(report.checked) + " events");
        }
    }
    return report;
}

result<void> event_log::backup(const std::filesystem::path& dir) const {
    rocksdb::Checkpoint* raw = nullptr;
    auto s = rocksdb::Checkpoint::Create(impl_->db, &raw);
    if (!s.ok()) return tl::unexpected(io_error(s, "preparing a backup"));
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // The checkpoint may also carry events written but not yet synced: they are whole batches in
    // log order, so the copy is still a consistent prefix of the log.
    s = checkpoint->CreateCheckpoint(dir.string());
    if (!s.ok()) return tl::unexpected(io_error(s, "writing a backup to " + dir.string()));
    return {};
}

result<void> event_log::put_snapshot(std::string_view stream, const snapshot& snap) {
    if (impl_->options.read_only) return tl::unexpected(make_error(error::kind::closed, "the log is open read-only"));
    std::string value;
    put_u64(value, snap.version);
    value.append(snap.state);
    const auto s = impl_->db->Put(rocksdb::WriteOptions(), impl_->snapshots, stream, value);
    if (!s.ok()) return tl::unexpected(io_error(s, "writing a snapshot of " + std::string(stream)));
    return {};
}

result<std::optional<snapshot>> event_log::get_snapshot(std::string_view stream) const {
    std::string value;
    const auto s = impl_->db->Get(rocksdb::ReadOptions(), impl_->snapshots, stream, &value);
    if (s.IsNotFound()) return std::optional<snapshot>{};
    if (!s.ok()) return tl::unexpected(io_error(s, "reading a snapshot of " + std::string(stream)));
    reader in(value);
    snapshot snap;
    snap.version = in.u64();
    if (!in.ok()) return tl::unexpected(make_error(error::kind::corrupt, "snapshot of " + std::string(stream) + " is damaged"));
    snap.state = value.substr(8);
    return std::optional<snapshot>(std::move(snap));
}

result<std::uint64_t> event_log::catch_up() {
    if (!impl_->options.follow) return head_position();
    const auto s = impl_->db->TryCatchUpWithPrimary();
    if (!s.ok()) return tl::unexpected(io_error(s, "catching up with the writer"));
    if (auto r = impl_->recover_head(); !r) return tl::unexpected(r.error());
    impl_->tail_cv.notify_all();
    return head_position();
}

sha256 chain_hash(const sha256& previous, const event_view& e) {
    std::string canonical;
    const event_data body{std::string(e.type), e.schema_version, std::string(e.data), std::string(e.metadata)};
    encode_canonical(canonical, e.position, e.version, e.recorded_at_us, e.stream, body, e.command_id, e.actor,
                     e.correlation_id);
    return thread_hasher().chain(previous, canonical);
}

std::optional<std::string> event_log::failure() const {
    if (!impl_->failed.load()) return std::nullopt;
    return impl_->failure;  // written once, before `failed` was set
}

bool event_log::read_only() const noexcept { return impl_->options.read_only; }
const std::filesystem::path& event_log::dir() const noexcept { return impl_->dir; }

}  // namespace dealerline::storage
