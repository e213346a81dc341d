// What a client sends as JSON: the body of POST /api/commands and a live socket's messages,
// parsed strictly before anything reaches a handler. No Beast: cheap to include and to fuzz
// (tests/fuzz/).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>
#include <tl/expected.hpp>

#include "domain/codec.hpp"

namespace dealerline::api::detail {

// A 400's code and message (docs/api.md, "Errors").
struct bad_request {
    std::string code, message;
};

// The body of POST /api/commands, strictly: {"command_id", "type", "data", "expected_version"?}.
struct command_request {
    std::string command_id;
    domain::any_command command;
    std::optional<std::uint64_t> expected_version;
};

// JSON text with a depth limit; the error says which rule it broke. `what` names the text.
[[nodiscard]] tl::expected<boost::json::value, bad_request> parse_json(std::string_view text, std::size_t max_depth,
                                                                       std::string_view what);

[[nodiscard]] tl::expected<command_request, bad_request> parse_command_request(const boost::json::value& body);

// A live socket's message: {"command": {…the body of POST /api/commands…}}, nothing else.
// Returns the inner command, still to be parsed with parse_command_request.
[[nodiscard]] tl::expected<boost::json::value, bad_request> parse_live_message(std::string_view text, std::size_t max_depth);

}  // namespace dealerline::api::detail
