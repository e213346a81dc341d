// Claim — stream `claim-<id>`: a dealer's complaint about an order, and what the plant did about it.
//   open ─► in_review ─► resolved ─► closed
//                ▲           │
//                └─ reopened ◄┘ (the dealer, within 30 days of the resolution)
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "domain/decider.hpp"

namespace dealerline::domain {

inline constexpr std::int64_t claim_reopen_window_days = 30;

// Commands
struct file_claim {
    std::string claim_id, order_id;
    std::string kind;  // defect | damage | missing_part | delay | other
    std::string description;
};
struct assign_claim {
    std::string claim_id, manager;
};
struct comment_on_claim {
    std::string claim_id, text;
};
struct resolve_claim {
    std::string claim_id;
    std::string resolution;  // repair | replace | refund | rejected
    std::int64_t compensation = 0;  // minor units of the order's currency
    std::string note;
};
struct reopen_claim {
    std::string claim_id, reason;
};
struct close_claim {
    std::string claim_id;
};
using claim_command = std::variant<file_claim, assign_claim, comment_on_claim, resolve_claim, reopen_claim, close_claim>;

// Events
struct claim_filed {
    std::string claim_id, order_id, dealer_id, kind, description;
    bool operator==(const claim_filed&) const = default;
};
struct claim_assigned {
    std::string claim_id, manager;
    bool operator==(const claim_assigned&) const = default;
};
struct claim_commented {
    std::string claim_id, text, author;  // author: the actor's label
    bool operator==(const claim_commented&) const = default;
};
struct claim_resolved {
    std::string claim_id, resolution;
    std::int64_t compensation = 0;
    std::string note;
    std::string resolved_at;  // ISO-8601: the reopening window counts from here
    bool operator==(const claim_resolved&) const = default;
};
struct claim_reopened {
    std::string claim_id, reason;
    bool operator==(const claim_reopened&) const = default;
};
struct claim_closed {
    std::string claim_id;
    bool operator==(const claim_closed&) const = default;
};
using claim_event = std::variant<claim_filed, claim_assigned, claim_commented, claim_resolved, claim_reopened, claim_closed>;

enum class claim_status { none, open, in_review, resolved, reopened, closed };
[[nodiscard]] std::string_view to_string(claim_status) noexcept;

struct claim_state {
    claim_status status = claim_status::none;
    std::string dealer_id, order_id;
    std::int64_t resolved_at_us = 0;
    bool operator==(const claim_state&) const = default;
};

struct claim_aggregate {
    using command = claim_command;
    using event = claim_event;
    using state = claim_state;
    static constexpr std::string_view category = "claim";
    [[nodiscard]] static std::string stream_id(const command&);
    [[nodiscard]] static result<std::vector<event>> decide(const command&, const state&, const context&);
    [[nodiscard]] static state evolve(state, const event&);
};
static_assert(aggregate<claim_aggregate>);

}  // namespace dealerline::domain
