// What an append must satisfy before the writer sees it, and the command records that make a
// retried command id answer with its first result (storage/append_checks.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/event_log.hpp"

namespace dealerline::storage::detail {

// No control characters (names, ids, types).
bool printable(std::string_view s);
// Checks everything that can be checked without the log's state; returns the append's size.
result<std::size_t> validate(append_request& request);
// The digest that decides whether a reused command id means the same command.
sha256 caller_fingerprint(std::string_view fingerprint);
sha256 fingerprint_of(const append_request& request);
// A command record: its fingerprint and first result, stored under the command id.
void encode_command(std::string& out, const sha256& fingerprint, const append_result& r);
bool decode_command(std::string_view value, sha256& fingerprint, append_result& r);
// For messages: what an expected version asked for.
std::string_view expected_text(const expected_version& e, std::string& buffer);
bool holds(const expected_version& e, std::uint64_t current);

}  // namespace dealerline::storage::detail
