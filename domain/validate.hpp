// Field checks shared by the deciders. Each returns the rejection for the first bad field.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "domain/decider.hpp"

namespace dealerline::domain::check {

// Ids chosen by callers: 1..64 printable characters without spaces ("O-1001", "D-0042").
[[nodiscard]] std::optional<rejection> id(std::string_view field, std::string_view value);
// Free text that must be there: 1..max characters.
[[nodiscard]] std::optional<rejection> text(std::string_view field, std::string_view value, std::size_t max = 1000);
// Free text that may be empty: 0..max characters, the same characters as text().
[[nodiscard]] std::optional<rejection> optional_text(std::string_view field, std::string_view value, std::size_t max = 1000);
// Three upper-case letters.
[[nodiscard]] std::optional<rejection> currency(std::string_view field, std::string_view value);
// YYYY-MM-DD, a real calendar date.
[[nodiscard]] std::optional<rejection> date(std::string_view field, std::string_view value);

// The actor must have one of these roles (admin always may).
[[nodiscard]] std::optional<rejection> role_in(const actor&, std::initializer_list<role>, std::string_view what);
// The preamble of every command on an existing aggregate of a dealer: a well-formed id, the
// aggregate exists, the actor's role may do `what`, and a dealer acts only on its own.
// `noun` is "order", "claim", …; `owner` is the aggregate's dealer.
[[nodiscard]] std::optional<rejection> may_act_on(std::string_view noun, const std::string& id, bool exists,
                                                  std::string_view owner, const actor&, std::initializer_list<role>,
                                                  std::string_view what);
// A dealer may act only for itself.
[[nodiscard]] std::optional<rejection> own_dealer(const actor&, std::string_view dealer_id, std::string_view what);

}  // namespace dealerline::domain::check
