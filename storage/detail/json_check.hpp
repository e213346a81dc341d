// Internal to storage/ (and its benchmark): is a text one complete JSON value?
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json/basic_parser_impl.hpp>

namespace dealerline::storage::detail {

// Accepts every value and builds nothing: Boost.JSON's parser still checks the syntax, UTF-8 and
// the depth, at about a third of the cost of building a DOM (bench_log measures both), and every
// event of every append passes through here on the caller's thread.
struct json_checker {
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);
    using code = boost::system::error_code;
    using text = boost::json::string_view;
    bool on_document_begin(code&) { return true; }
    bool on_document_end(code&) { return true; }
    bool on_array_begin(code&) { return true; }
    bool on_array_end(std::size_t, code&) { return true; }
    bool on_object_begin(code&) { return true; }
    bool on_object_end(std::size_t, code&) { return true; }
    bool on_string_part(text, std::size_t, code&) { return true; }
    bool on_string(text, std::size_t, code&) { return true; }
    bool on_key_part(text, std::size_t, code&) { return true; }
    bool on_key(text, std::size_t, code&) { return true; }
    bool on_number_part(text, code&) { return true; }
    bool on_int64(std::int64_t, text, code&) { return true; }
    bool on_uint64(std::uint64_t, text, code&) { return true; }
    bool on_double(double, text, code&) { return true; }
    bool on_bool(bool, code&) { return true; }
    bool on_null(code&) { return true; }
    bool on_comment_part(text, code&) { return true; }
    bool on_comment(text, code&) { return true; }
};

inline bool valid_json(std::string_view text, std::size_t max_depth) {
    boost::json::parse_options options;
    options.max_depth = max_depth;
    boost::json::basic_parser<json_checker> parser(options);
    boost::system::error_code ec;
    const auto used = parser.write_some(false, text.data(), text.size(), ec);
    return !ec && used == text.size();  // a complete value and nothing after it
}

}  // namespace dealerline::storage::detail
