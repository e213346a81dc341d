// Dealer — stream `dealer-<id>`: who the plant sells to, in which currency, on which terms.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/decider.hpp"

namespace dealerline::domain {

// Commands
struct register_dealer {
    std::string dealer_id, name, currency;
    std::int64_t payment_terms_days = 0;
    std::int64_t credit_limit = 0;  // minor units
};
struct update_dealer_terms {
    std::string dealer_id;
    std::optional<std::int64_t> payment_terms_days, credit_limit;
};
struct set_opening_balance {
    std::string dealer_id;
    std::int64_t amount = 0;  // minor units; positive: the dealer owes
};
using dealer_command = std::variant<register_dealer, update_dealer_terms, set_opening_balance>;

// Events
struct dealer_registered {
    std::string dealer_id, name, currency;
    std::int64_t payment_terms_days = 0, credit_limit = 0;
    bool operator==(const dealer_registered&) const = default;
};
struct dealer_terms_updated {
    std::string dealer_id;
    std::optional<std::int64_t> payment_terms_days, credit_limit;
    bool operator==(const dealer_terms_updated&) const = default;
};
struct opening_balance_set {
    std::string dealer_id;
    std::int64_t amount = 0;
    std::string currency;
    bool operator==(const opening_balance_set&) const = default;
};
using dealer_event = std::variant<dealer_registered, dealer_terms_updated, opening_balance_set>;

struct dealer_state {
    bool registered = false;
    std::string currency;
    std::int64_t payment_terms_days = 0, credit_limit = 0;
    bool opening_balance_set = false;
    bool operator==(const dealer_state&) const = default;
};

struct dealer_aggregate {
    using command = dealer_command;
    using event = dealer_event;
    using state = dealer_state;
    static constexpr std::string_view category = "dealer";
    [[nodiscard]] static std::string stream_id(const command&);
    [[nodiscard]] static result<std::vector<event>> decide(const command&, const state&, const context&);
    [[nodiscard]] static state evolve(state, const event&);
};
static_assert(aggregate<dealer_aggregate>);

}  // namespace dealerline::domain
