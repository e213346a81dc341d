#include "storage/detail/append_checks.hpp"

#include <algorithm>
#include <unordered_set>

#include "storage/detail/json_check.hpp"
#include "storage/detail/log_impl.hpp"

namespace dealerline::storage::detail {

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

}  // namespace dealerline::storage::detail
