// Small text helpers shared by the subcommands.
#pragma once

#include <cstdint>
#include <string>

namespace dealerline::tools {

// "2026-11-23T10:15:00.123456Z"
[[nodiscard]] std::string iso8601_us(std::int64_t micros_since_epoch);

}  // namespace dealerline::tools
