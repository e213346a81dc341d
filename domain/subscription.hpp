// Subscription — stream `subscription-<id>`: a telecom agreement (phone lines, PBX, internet)
// billed per period, in advance. BillSubscriptionPeriod bills the period that starts on the
// subscription's next billing date, exactly once (a second time is a no-op), at the price in
// effect on its first day, plus the difference a plan change made to the previous period,
// prorated by days.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "domain/decider.hpp"

namespace dealerline::domain {

// Commands
struct start_subscription {
    std::string subscription_id, dealer_id, plan;
    std::int64_t price = 0;  // minor units per period
    std::string period;      // monthly | quarterly | yearly
    std::string starts_on;   // YYYY-MM-DD
};
struct change_subscription_plan {
    std::string subscription_id, plan;
    std::int64_t price = 0;
    std::string effective_on;
};
struct pause_subscription {
    std::string subscription_id;
};
struct resume_subscription {
    std::string subscription_id;
};
struct cancel_subscription {
    std::string subscription_id, effective_on;
};
struct bill_subscription_period {
    std::string subscription_id, period_start;
};
using subscription_command = std::variant<start_subscription, change_subscription_plan, pause_subscription, resume_subscription,
                                          cancel_subscription, bill_subscription_period>;

// Events
struct subscription_started {
    std::string subscription_id, dealer_id, currency, plan;
    std::int64_t price = 0;
    std::string period, starts_on;
    bool operator==(const subscription_started&) const = default;
};
struct subscription_plan_changed {
    std::string subscription_id, plan;
    std::int64_t price = 0;
    std::string effective_on;
    bool operator==(const subscription_plan_changed&) const = default;
};
struct subscription_paused {
    std::string subscription_id, on;
    bool operator==(const subscription_paused&) const = default;
};
struct subscription_resumed {
    std::string subscription_id, on;
    bool operator==(const subscription_resumed&) const = default;
};
struct subscription_cancelled {
    std::string subscription_id, effective_on;
    bool operator==(const subscription_cancelled&) const = default;
};
struct billing_line {
    std::string description;
    std::int64_t amount = 0;
    bool operator==(const billing_line&) const = default;
};
struct subscription_period_billed {
    std::string subscription_id, dealer_id, currency, period_start, period_end;  // [start, end)
    std::int64_t amount = 0;
    std::vector<billing_line> lines;
    bool operator==(const subscription_period_billed&) const = default;
};
struct subscription_period_skipped {
    std::string subscription_id, period_start, period_end, reason;
    bool operator==(const subscription_period_skipped&) const = default;
};
using subscription_event = std::variant<subscription_started, subscription_plan_changed, subscription_paused, subscription_resumed,
                                        subscription_cancelled, subscription_period_billed, subscription_period_skipped>;

enum class subscription_status { none, active, paused, cancelled };
[[nodiscard]] std::string_view to_string(subscription_status) noexcept;

struct plan_segment {
    std::string effective_on, plan;
    std::int64_t price = 0;
    bool operator==(const plan_segment&) const = default;
};

struct subscription_state {
    subscription_status status = subscription_status::none;
    std::string dealer_id, currency, period, starts_on, cancel_on;
    std::string next_billing;           // the start of the next period to bill
    std::string last_start, last_end;   // the last period billed (empty: none yet)
    std::int64_t last_price = 0;        // the price that period was billed at
    std::vector<plan_segment> plans;    // in effect from each date on, in date order
    bool operator==(const subscription_state&) const = default;
};

// [start, end) of the period that starts on `start` (end: the same day of the month, clamped).
[[nodiscard]] std::string period_end(const std::string& start, const std::string& period, const std::string& anchor);

struct subscription_aggregate {
    using command = subscription_command;
    using event = subscription_event;
    using state = subscription_state;
    static constexpr std::string_view category = "subscription";
    [[nodiscard]] static std::string stream_id(const command&);
    [[nodiscard]] static result<std::vector<event>> decide(const command&, const state&, const context&);
    [[nodiscard]] static state evolve(state, const event&);
};
static_assert(aggregate<subscription_aggregate>);

}  // namespace dealerline::domain
