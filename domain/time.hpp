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

// Calendar dates ("YYYY-MM-DD") as days since 1970-01-01, and back.
[[nodiscard]] std::optional<std::int64_t> parse_date(std::string_view);
[[nodiscard]] std::string date_from_days(std::int64_t days);
// The UTC date of a moment.
[[nodiscard]] std::string date_of(std::int64_t micros_since_epoch);
// The first day of the month after a date's ("2026-11-23" → "2026-12-01"); the date is valid.
[[nodiscard]] std::string first_of_next_month(std::string_view date);

}  // namespace dealerline::domain
