#include "storage/detail/log_impl.hpp"

#include <algorithm>

namespace dealerline::storage {

using namespace detail;

result<std::uint64_t> event_log::impl::published_version(std::string_view stream) const {
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

std::optional<std::string> event_log::failure() const {
    if (!impl_->failed.load()) return std::nullopt;
    return impl_->failure;  // written once, before `failed` was set
}

bool event_log::read_only() const noexcept { return impl_->options.read_only; }
const std::filesystem::path& event_log::dir() const noexcept { return impl_->dir; }

}  // namespace dealerline::storage
