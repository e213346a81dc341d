#include "storage/detail/log_impl.hpp"

#include <cstring>

#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>

#include "storage/detail/rocksdb_logger.hpp"

namespace dealerline::storage {

using namespace detail;

namespace {

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

}  // namespace

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
        // A secondary instance can catch up with the writer later (--follow); RocksDB wants a
        // folder of its own for it (its diagnostics go to our log like everyone's).
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

void event_log::impl::close() {
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

result<void> event_log::impl::recover_head() {
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


}  // namespace dealerline::storage
