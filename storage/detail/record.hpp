// The stored byte format of the log (docs/storage.md). Internal to storage/ (and its tests).
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "storage/event_log.hpp"

namespace dealerline::storage::detail {

// Column families and their keys.
inline constexpr const char* cf_events = "events";        // be64 position -> event record
inline constexpr const char* cf_streams = "streams";      // stream \0 be64 version -> be64 position
inline constexpr const char* cf_heads = "heads";          // stream -> u64 version of its last event
inline constexpr const char* cf_commands = "commands";    // command id -> command record
inline constexpr const char* cf_snapshots = "snapshots";  // stream -> u64 version, state bytes
inline constexpr std::string_view meta_format_key = "format_version";  // in the default family

inline constexpr std::uint8_t event_record_format = 1;

inline void put_u8(std::string& out, std::uint8_t v) { out.push_back(static_cast<char>(v)); }

inline void put_le(std::string& out, std::uint64_t v, int bytes) {
    char buffer[8];
    for (int i = 0; i < bytes; ++i) buffer[i] = static_cast<char>((v >> (8 * i)) & 0xffu);
    out.append(buffer, static_cast<std::size_t>(bytes));
}
inline void put_u32(std::string& out, std::uint32_t v) { put_le(out, v, 4); }
inline void put_u64(std::string& out, std::uint64_t v) { put_le(out, v, 8); }
inline void put_str(std::string& out, std::string_view s) {
    put_u32(out, static_cast<std::uint32_t>(s.size()));
    out.append(s);
}

// Big-endian keys sort numerically under RocksDB's bytewise comparator.
inline void be64_into(char* out, std::uint64_t v) {
    for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xffu);
}
inline std::string be64(std::uint64_t v) {
    std::string out(8, '\0');
    be64_into(out.data(), v);
    return out;
}
inline std::uint64_t from_be64(std::string_view s) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8 && i < s.size(); ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
    return v;
}

inline std::string stream_key(std::string_view stream, std::uint64_t version) {
    std::string key;
    key.reserve(stream.size() + 9);
    key.append(stream);
    key.push_back('\0');
    key.append(be64(version));
    return key;
}

// Sequential little-endian reader; any overrun clears ok.
class reader {
public:
    explicit reader(std::string_view bytes) noexcept : p_(bytes.data()), end_(bytes.data() + bytes.size()) {}
    std::uint64_t le(int bytes) noexcept {
        if (end_ - p_ < bytes) return fail();
        std::uint64_t v = 0;
        for (int i = 0; i < bytes; ++i) v |= static_cast<std::uint64_t>(static_cast<unsigned char>(p_[i])) << (8 * i);
        p_ += bytes;
        return v;
    }
    std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(le(1)); }
    std::uint32_t u32() noexcept { return static_cast<std::uint32_t>(le(4)); }
    std::uint64_t u64() noexcept { return le(8); }
    std::string_view str() noexcept {
        const std::uint32_t n = u32();
        if (!ok_ || static_cast<std::size_t>(end_ - p_) < n) {
            fail();
            return {};
        }
        std::string_view s(p_, n);
        p_ += n;
        return s;
    }
    std::string_view bytes(std::size_t n) noexcept {
        if (static_cast<std::size_t>(end_ - p_) < n) {
            fail();
            return {};
        }
        std::string_view s(p_, n);
        p_ += n;
        return s;
    }
    [[nodiscard]] bool ok() const noexcept { return ok_; }
    [[nodiscard]] bool at_end() const noexcept { return p_ == end_; }

private:
    std::uint64_t fail() noexcept {
        ok_ = false;
        p_ = end_;
        return 0;
    }
    const char* p_;
    const char* end_;
    bool ok_ = true;
};

// The canonical bytes of an event: what its hash covers (after the previous event's hash).
inline void encode_canonical(std::string& out, std::uint64_t position, std::uint64_t version, std::int64_t stamp_us,
                             std::string_view stream, const event_data& e, std::string_view command_id,
                             std::string_view actor, std::string_view correlation_id) {
    put_u8(out, event_record_format);
    put_u64(out, position);
    put_u64(out, version);
    put_u64(out, static_cast<std::uint64_t>(stamp_us));
    put_u32(out, e.schema_version);
    put_str(out, stream);
    put_str(out, e.type);
    put_str(out, command_id);
    put_str(out, actor);
    put_str(out, correlation_id);
    put_str(out, e.data);
    put_str(out, e.metadata);
}

// The canonical bytes start with a fixed header (format, then position, version and stamp as
// 8 little-endian bytes each), so an appender can encode its events before the writer knows
// those three numbers (encode_canonical with zeros) and the writer fills them in place.
inline void stamp_canonical(std::string& record, std::uint64_t position, std::uint64_t version, std::int64_t stamp_us) {
    auto set = [&](std::size_t at, std::uint64_t v) {
        for (std::size_t i = 0; i < 8; ++i) record[at + i] = static_cast<char>((v >> (8 * i)) & 0xffu);
    };
    set(1, position);
    set(9, version);
    set(17, static_cast<std::uint64_t>(stamp_us));
}

// Splits a stored value into the event and its canonical bytes; false when it does not decode.
inline bool decode_event(std::string_view value, event_view& out, std::string_view& canonical) {
    if (value.size() < 32) return false;
    canonical = value.substr(0, value.size() - 32);
    reader r(canonical);
    if (r.u8() != event_record_format) return false;
    out.position = r.u64();
    out.version = r.u64();
    out.recorded_at_us = static_cast<std::int64_t>(r.u64());
    out.schema_version = r.u32();
    out.stream = r.str();
    out.type = r.str();
    out.command_id = r.str();
    out.actor = r.str();
    out.correlation_id = r.str();
    out.data = r.str();
    out.metadata = r.str();
    if (!r.ok() || !r.at_end()) return false;
    std::memcpy(out.hash.data(), value.data() + canonical.size(), 32);
    return true;
}

}  // namespace dealerline::storage::detail
