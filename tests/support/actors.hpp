// Who acts in a test: a staff member in a role, or a dealer (its own id as subject and dealer).
#pragma once

#include <string>
#include <utility>

#include "domain/decider.hpp"

namespace dealerline::testing {

inline domain::actor staff(domain::role r, std::string id = "staff-1") { return {r, std::move(id), {}}; }
inline domain::actor dealer(std::string dealer_id) { return {domain::role::dealer, dealer_id, dealer_id}; }

}  // namespace dealerline::testing
