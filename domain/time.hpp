// Times in JSON are ISO-8601 UTC (DOMAIN.md). The domain never reads a clock: `now` comes in the
// context, and these only convert.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dealerline::domain {

inline constexpr std::int64_t micros_per_day = 86'400'000'000;

// "2026-11-23T10:15:00Z" (whole seconds) or with ".123456" when there are microseconds.
[[nodiscard]] std::string iso8601(std::int64_t micros_since_epoch);
// Accepts "YYYY-MM-DDTHH:MM:SS[.ffffff]Z"; nullopt for anything else.
[[nodiscard]] std::optional<std::int64_t> parse_iso8601(std::string_view);

}  // namespace dealerline::domain
