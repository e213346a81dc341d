// Stream names: "<category>-<id>" (DOMAIN.md), e.g. "order-O-1001", "stock-W1:SKU-7".
#pragma once

#include <string>
#include <string_view>

namespace dealerline::domain {

[[nodiscard]] std::string stream_name(std::string_view category, std::string_view id);
// The category is everything before the first '-': ids may contain dashes, categories never do.
[[nodiscard]] std::string_view category_of(std::string_view stream) noexcept;

}  // namespace dealerline::domain
