// GET /: the minimal dealer page (issue #5) until the full portal arrives.
#pragma once

#include <string_view>

namespace dealerline::api::detail {

extern const std::string_view portal_page;

}  // namespace dealerline::api::detail
