// What a request brings in besides its body: the query string and the ids in the path. Checked
// here once, before anything reaches a handler, PostgreSQL or the log: every value is valid
// UTF-8 without control characters and has its documented shape (docs/api.md "Input"), or the
// request is a 400 that names the parameter. No Beast, no JSON: cheap to include and to fuzz.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace dealerline::api::detail {

using query_params = std::map<std::string, std::string, std::less<>>;

// "a=1&b=x%20y" → {a: "1", b: "x y"}, each parameter checked by check_parameter(); the error
// says, in plain words, which parameter is wrong and how.
[[nodiscard]] tl::expected<query_params, std::string> parse_query(std::string_view query);

// A known parameter's shape (ids, statuses, numbers, lists, cursors, tokens); nullopt when it
// fits. Unknown names pass here: each endpoint says which names it takes.
[[nodiscard]] std::optional<std::string> check_parameter(std::string_view name, std::string_view value);

// One path segment holding an id (/api/orders/{id}): percent-decoded, then checked as an id of
// the domain (1 to 64 printable characters without spaces). `what` names it in the error.
[[nodiscard]] tl::expected<std::string, std::string> path_id(std::string_view segment, std::string_view what);
// A stream name (/api/streams/{stream}): percent-decoded, 1 to 256 printable characters.
[[nodiscard]] tl::expected<std::string, std::string> path_stream(std::string_view segment);

// "%41+b" → "A b" (with `plus_is_space`); nullopt for a malformed escape.
[[nodiscard]] std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);
[[nodiscard]] bool valid_utf8(std::string_view text) noexcept;
[[nodiscard]] bool has_control_character(std::string_view text) noexcept;
// The domain's id shape: 1 to 64 characters from '!' to '~'.
[[nodiscard]] bool is_id(std::string_view text) noexcept;
// A decimal number without sign that fits in 64 bits.
[[nodiscard]] std::optional<std::uint64_t> unsigned_of(std::string_view text) noexcept;

}  // namespace dealerline::api::detail
