#include "api/detail/request_input.hpp"

#include <algorithm>
#include <array>
#include <cstdint>

namespace dealerline::api::detail {
namespace {

bool all_of(std::string_view text, bool (*allowed)(char)) { return std::all_of(text.begin(), text.end(), allowed); }

bool printable(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
}
bool status_char(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
bool type_char(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'; }
bool token_char(char c) { return type_char(c) || c == '-' || c == '.'; }

// Each item of a comma-separated list: 1 to `max` characters, each `allowed`.
bool list_of(std::string_view text, std::size_t max, bool (*allowed)(char)) {
    if (text.empty()) return false;
    for (;;) {
        const auto comma = text.find(',');
        const auto item = text.substr(0, comma);
        if (item.empty() || item.size() > max || !all_of(item, allowed)) return false;
        if (comma == std::string_view::npos) return true;
        text.remove_prefix(comma + 1);
    }
}

struct shape {
    std::string_view name;
    bool (*fits)(std::string_view);
    std::string_view expected;
};

// Every parameter any endpoint takes (docs/api.md "Input").
constexpr std::array shapes{
    shape{"dealer_id", is_id, "a dealer id (1 to 64 printable characters without spaces)"},
    shape{"order_id", is_id, "an order id (1 to 64 printable characters without spaces)"},
    shape{"warehouse", is_id, "a warehouse (1 to 64 printable characters without spaces)"},
    shape{"sku", is_id, "a SKU (1 to 64 printable characters without spaces)"},
    shape{"status", [](std::string_view v) { return !v.empty() && v.size() <= 32 && all_of(v, status_char); },
          "a status (a-z and _, at most 32 characters)"},
    shape{"limit", [](std::string_view v) { return unsigned_of(v).has_value(); }, "an integer"},
    shape{"min_position", [](std::string_view v) { return unsigned_of(v).has_value(); }, "a non-negative integer"},
    shape{"from_position", [](std::string_view v) { return unsigned_of(v).has_value(); }, "a non-negative integer"},
    shape{"from_version", [](std::string_view v) { return unsigned_of(v).has_value(); }, "a non-negative integer"},
    // A position, or for /api/stock a stock id (warehouse:sku): the endpoint checks which.
    shape{"cursor", [](std::string_view v) { return !v.empty() && v.size() <= 160 && all_of(v, printable); },
          "the next_cursor of a previous page"},
    shape{"type", [](std::string_view v) { return list_of(v, 128, type_char); }, "event types separated by commas"},
    shape{"types", [](std::string_view v) { return list_of(v, 32, status_char); }, "update types separated by commas"},
    shape{"access_token", [](std::string_view v) { return !v.empty() && v.size() <= 8192 && all_of(v, token_char); },
          "a bearer token"},
};

std::string quoted_name(std::string_view name) {
    // Only names that are themselves clean are repeated back.
    if (name.size() <= 64 && all_of(name, printable)) return std::string(name);
    return "a parameter";
}

}  // namespace

bool valid_utf8(std::string_view text) noexcept {
    std::size_t i = 0;
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    while (i < text.size()) {
        const unsigned char c = byte(i);
        if (c < 0x80) {
            ++i;
            continue;
        }
        std::size_t n = 0;
        std::uint32_t code = 0, min = 0;
        if ((c & 0xe0) == 0xc0) n = 1, code = c & 0x1fu, min = 0x80;
        else if ((c & 0xf0) == 0xe0) n = 2, code = c & 0x0fu, min = 0x800;
        else if ((c & 0xf8) == 0xf0) n = 3, code = c & 0x07u, min = 0x10000;
        else return false;
        if (n >= text.size() - i) return false;  // cut short
        for (std::size_t k = 1; k <= n; ++k) {
            const unsigned char cc = byte(i + k);
            if ((cc & 0xc0) != 0x80) return false;
            code = (code << 6) | (cc & 0x3fu);
        }
        // Overlong forms, UTF-16 surrogates and code points past Unicode's last are not UTF-8.
        if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

bool has_control_character(std::string_view text) noexcept {
    return std::any_of(text.begin(), text.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x20 || u == 0x7f;
    });
}

bool is_id(std::string_view text) noexcept { return !text.empty() && text.size() <= 64 && all_of(text, printable); }

std::optional<std::uint64_t> unsigned_of(std::string_view text) noexcept {
    if (text.empty() || text.size() > 20) return std::nullopt;
    std::uint64_t n = 0;
    for (const char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        const auto digit = static_cast<std::uint64_t>(c - '0');
        if (n > (UINT64_MAX - digit) / 10) return std::nullopt;
        n = n * 10 + digit;
    }
    return n;
}

std::optional<std::string> percent_decode(std::string_view in, bool plus_is_space) {
    const auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '+' && plus_is_space) out += ' ';
        else if (in[i] != '%') out += in[i];
        else {
            if (in.size() - i < 3) return std::nullopt;  // "%" needs two hex digits
            const int h = hex(in[i + 1]), l = hex(in[i + 2]);
            if (h < 0 || l < 0) return std::nullopt;
            out += static_cast<char>(h * 16 + l);
            i += 2;
        }
    }
    return out;
}

std::optional<std::string> check_parameter(std::string_view name, std::string_view value) {
    for (const auto& s : shapes)
        if (s.name == name) {
            if (s.fits(value)) return std::nullopt;
            return std::string(name) + ": expected " + std::string(s.expected);
        }
    return std::nullopt;
}

tl::expected<query_params, std::string> parse_query(std::string_view q) {
    query_params out;
    while (!q.empty()) {
        const auto amp = q.find('&');
        const auto part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        auto key = percent_decode(part.substr(0, eq), true);
        if (!key) return tl::unexpected(std::string("the query string is malformed (a % not followed by two hex digits)"));
        auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1), true);
        if (!value) return tl::unexpected(quoted_name(*key) + ": malformed percent escape");
        if (key->empty() || !valid_utf8(*key) || has_control_character(*key))
            return tl::unexpected(std::string("a parameter name is empty, not UTF-8 or holds control characters"));
        if (!valid_utf8(*value)) return tl::unexpected(quoted_name(*key) + ": not valid UTF-8");
        if (has_control_character(*value)) return tl::unexpected(quoted_name(*key) + ": holds control characters");
        if (out.contains(*key)) return tl::unexpected(quoted_name(*key) + ": given twice");
        if (auto wrong = check_parameter(*key, *value)) return tl::unexpected(std::move(*wrong));
        out.emplace(std::move(*key), std::move(*value));
    }
    return out;
}

tl::expected<std::string, std::string> path_id(std::string_view segment, std::string_view what) {
    auto id = percent_decode(segment, false);
    if (!id || !is_id(*id))
        return tl::unexpected(std::string(what) + ": expected 1 to 64 printable characters without spaces in the path");
    return std::move(*id);
}

tl::expected<std::string, std::string> path_stream(std::string_view segment) {
    auto stream = percent_decode(segment, false);
    if (!stream || stream->empty() || stream->size() > 256 || !all_of(*stream, printable))
        return tl::unexpected(std::string("stream: expected 1 to 256 printable characters without spaces in the path"));
    return std::move(*stream);
}

}  // namespace dealerline::api::detail
