#include "storage/detail/log_impl.hpp"

#include <array>

#include <rocksdb/utilities/checkpoint.h>

namespace dealerline::storage {

using namespace detail;

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

}  // namespace dealerline::storage
