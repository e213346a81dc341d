#include "storage/detail/log_impl.hpp"

#include <pthread.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <future>

namespace dealerline::storage {

using namespace detail;

namespace {

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

}  // namespace

std::uint64_t event_log::impl::free_now() const {
    if (options.free_bytes) return options.free_bytes();
    struct statvfs st {};
    if (::statvfs(dir.c_str(), &st) != 0) return std::numeric_limits<std::uint64_t>::max();  // unknown: no refusal
    return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

bool event_log::impl::space_low() {
    if (options.min_free_bytes == 0) return false;
    const auto t = std::chrono::steady_clock::now();
    if (t - space_checked_at >= std::chrono::milliseconds(100)) {
        free_seen.store(free_now());
        space_checked_at = t;
    }
    return free_seen.load() < options.min_free_bytes;
}

void event_log::impl::start_threads() {
    writer = std::thread([this] { run_writer(); });
    syncer = std::thread([this] { run_syncer(); });
    completer = std::thread([this] { run_completer(); });
}

void event_log::impl::run_writer() {
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

void event_log::impl::run_syncer() {
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

void event_log::impl::run_completer() {
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

void event_log::impl::answer(written_group& g) {
    ++answering;
    for (std::size_t i = 0; i < g.group.size(); ++i) g.group[i].done(std::move(g.outcomes[i]));
    --answering;
}

void event_log::impl::fail(std::string message) {
    std::call_once(failure_once, [&] {
        failure = std::move(message);
        failed.store(true);
    });
}

void event_log::impl::sync_and_answer(std::vector<written_group>& groups) {
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

void event_log::impl::publish_and_answer(std::vector<written_group>& groups) {
    publish(groups);
    answer_all(groups);
}

void event_log::impl::publish(std::vector<written_group>& groups) {
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

void event_log::impl::answer_all(std::vector<written_group>& groups) {
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

written_group event_log::impl::split_front(written_group& g, std::size_t n) {
    written_group front;
    const auto cut = static_cast<std::ptrdiff_t>(n);
    front.group.assign(std::make_move_iterator(g.group.begin()), std::make_move_iterator(g.group.begin() + cut));
    front.outcomes.assign(std::make_move_iterator(g.outcomes.begin()), std::make_move_iterator(g.outcomes.begin() + cut));
    g.group.erase(g.group.begin(), g.group.begin() + cut);
    g.outcomes.erase(g.outcomes.begin(), g.outcomes.begin() + cut);
    return front;
}

written_group event_log::impl::write_group(std::vector<pending> group, bool sync) {
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

result<std::uint64_t*> event_log::impl::writer_version(const std::string& stream) {
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

result<append_result> event_log::impl::decide_one(const pending& p, const written_group& group,
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

result<void> event_log::put_snapshot(std::string_view stream, const snapshot& snap) {
    if (impl_->options.read_only) return tl::unexpected(make_error(error::kind::closed, "the log is open read-only"));
    std::string value;
    put_u64(value, snap.version);
    value.append(snap.state);
    const auto s = impl_->db->Put(rocksdb::WriteOptions(), impl_->snapshots, stream, value);
    if (!s.ok()) return tl::unexpected(io_error(s, "writing a snapshot of " + std::string(stream)));
    return {};
}

}  // namespace dealerline::storage
