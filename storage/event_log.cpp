#include "storage/event_log.hpp"

#include "storage/detail/record.hpp"
#include "storage/detail/sha256.hpp"

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

sha256 chain_hash(const sha256& previous, const event_view& e) {
    std::string canonical;
    const event_data body{std::string(e.type), e.schema_version, std::string(e.data), std::string(e.metadata)};
    encode_canonical(canonical, e.position, e.version, e.recorded_at_us, e.stream, body, e.command_id, e.actor,
                     e.correlation_id);
    return thread_hasher().chain(previous, canonical);
}

}  // namespace dealerline::storage
