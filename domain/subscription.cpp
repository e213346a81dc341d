#include "domain/subscription.hpp"

#include <algorithm>
#include <chrono>

#include "domain/time.hpp"
#include "domain/validate.hpp"

namespace dealerline::domain {
namespace {

using events = std::vector<subscription_event>;

constexpr std::initializer_list<role> billing_roles{role::accountant, role::system};
constexpr std::int64_t max_price = 1'000'000'000'00;

int months_of(const std::string& period) { return period == "monthly" ? 1 : period == "quarterly" ? 3 : 12; }

std::int64_t days(const std::string& date) { return *parse_date(date); }

// The price in effect on `date` (segments are in date order; the first starts with the subscription).
std::int64_t price_on(const subscription_state& s, const std::string& date) {
    std::int64_t price = s.plans.empty() ? 0 : s.plans.front().price;
    for (const auto& p : s.plans)
        if (p.effective_on <= date) price = p.price;
    return price;
}

// a × b / c rounded half away from zero, without overflow for our ranges (prices ≤ 10^11, days ≤ 366).
std::int64_t prorate(std::int64_t amount, std::int64_t part, std::int64_t whole) {
    const auto n = amount * part;
    return n >= 0 ? (n + whole / 2) / whole : -((-n + whole / 2) / whole);
}

}  // namespace

std::string_view to_string(subscription_status s) noexcept {
    switch (s) {
        case subscription_status::none: return "none";
        case subscription_status::active: return "active";
        case subscription_status::paused: return "paused";
        case subscription_status::cancelled: return "cancelled";
    }
    return "unknown";
}

std::string period_end(const std::string& start, const std::string& period, const std::string& anchor) {
    using namespace std::chrono;
    const year_month_day from{sys_days{std::chrono::days{days(start)}}};
    const year_month_day anchored{sys_days{std::chrono::days{days(anchor)}}};
    const auto target = year_month{from.year(), from.month()} + months{months_of(period)};
    const auto last = year_month_day_last{target.year(), month_day_last{target.month()}}.day();
    const auto day = std::min(anchored.day(), last);
    return date_from_days(sys_days{year_month_day{target.year(), target.month(), day}}.time_since_epoch().count());
}

std::string subscription_aggregate::stream_id(const command& c) {
    return std::visit([](const auto& x) { return x.subscription_id; }, c);
}

result<std::vector<subscription_event>> subscription_aggregate::decide(const command& cmd, const state& s, const context& ctx) {
    using st = subscription_status;
    const auto today = date_of(ctx.now_us);
    auto existing = [&](const std::string& id, std::string_view what) {
        return check::may_act_on("subscription", id, s.status != st::none, s.dealer_id, ctx.by, billing_roles, what);
    };
    auto price_ok = [](std::int64_t p) -> std::optional<rejection> {
        if (p < 0 || p > max_price) return reject(codes::validation_failed, "price must be between 0 and " + std::to_string(max_price));
        return std::nullopt;
    };
    return std::visit(
        overloaded{
            [&](const start_subscription& c) -> result<events> {
                if (auto r = check::id("subscription_id", c.subscription_id)) return *r;
                if (auto r = check::id("dealer_id", c.dealer_id)) return *r;
                if (auto r = check::role_in(ctx.by, billing_roles, "start subscriptions")) return *r;
                if (s.status != st::none) return reject(codes::already_exists, "subscription " + c.subscription_id + " already exists");
                if (auto r = check::text("plan", c.plan, 200)) return *r;
                if (auto r = price_ok(c.price)) return *r;
                if (c.period != "monthly" && c.period != "quarterly" && c.period != "yearly")
                    return reject(codes::validation_failed, "period must be one of monthly, quarterly, yearly");
                if (auto r = check::date("starts_on", c.starts_on)) return *r;
                if (!ctx.dealer || !ctx.dealer->registered)
                    return reject(codes::dealer_not_registered, "dealer " + c.dealer_id + " is not registered");
                return events{subscription_started{c.subscription_id, c.dealer_id, ctx.dealer->currency, c.plan, c.price, c.period, c.starts_on}};
            },
            [&](const change_subscription_plan& c) -> result<events> {
                if (auto r = existing(c.subscription_id, "change the plan of")) return *r;
                if (auto r = check::text("plan", c.plan, 200)) return *r;
                if (auto r = price_ok(c.price)) return *r;
                if (auto r = check::date("effective_on", c.effective_on)) return *r;
                if (!s.cancel_on.empty() && c.effective_on >= s.cancel_on)
                    return reject(codes::invalid_transition, "subscription " + c.subscription_id + " ends on " + s.cancel_on);
                if (c.effective_on < s.starts_on || (!s.last_start.empty() && c.effective_on < s.last_start))
                    return reject(codes::invalid_transition,
                                  "a plan change cannot reach back before " + (s.last_start.empty() ? s.starts_on : s.last_start) +
                                      " (already billed)");
                return events{subscription_plan_changed{c.subscription_id, c.plan, c.price, c.effective_on}};
            },
            [&](const pause_subscription& c) -> result<events> {
                if (auto r = existing(c.subscription_id, "pause")) return *r;
                if (s.status == st::paused) return events{};
                if (s.status != st::active) return reject(codes::invalid_transition, "subscription " + c.subscription_id + " is " + std::string(to_string(s.status)));
                return events{subscription_paused{c.subscription_id, today}};
            },
            [&](const resume_subscription& c) -> result<events> {
                if (auto r = existing(c.subscription_id, "resume")) return *r;
                if (s.status == st::active) return events{};
                if (s.status != st::paused) return reject(codes::invalid_transition, "subscription " + c.subscription_id + " is " + std::string(to_string(s.status)));
                return events{subscription_resumed{c.subscription_id, today}};
            },
            [&](const cancel_subscription& c) -> result<events> {
                if (auto r = existing(c.subscription_id, "cancel")) return *r;
                if (auto r = check::date("effective_on", c.effective_on)) return *r;
                if (s.status == st::cancelled) {
                    if (c.effective_on == s.cancel_on) return events{};
                    return reject(codes::invalid_transition, "subscription " + c.subscription_id + " is cancelled from " + s.cancel_on);
                }
                if (c.effective_on < s.starts_on)
                    return reject(codes::validation_failed, "effective_on is before the subscription starts (" + s.starts_on + ")");
                return events{subscription_cancelled{c.subscription_id, c.effective_on}};
            },
            [&](const bill_subscription_period& c) -> result<events> {
                if (auto r = existing(c.subscription_id, "bill")) return *r;
                if (auto r = check::date("period_start", c.period_start)) return *r;
                if (c.period_start < s.next_billing) return events{};  // billed already: once per period
                if (c.period_start > s.next_billing)
                    return reject(codes::invalid_transition, "the next period of " + c.subscription_id + " to bill starts on " + s.next_billing);
                if (c.period_start > today) return reject(codes::invalid_transition, "the period starting " + c.period_start + " has not started");
                if (!s.cancel_on.empty() && c.period_start >= s.cancel_on)
                    return reject(codes::invalid_transition, "subscription " + c.subscription_id + " ended on " + s.cancel_on);
                const auto end = period_end(c.period_start, s.period, s.starts_on);
                if (s.status == st::paused) return events{subscription_period_skipped{c.subscription_id, c.period_start, end, "paused"}};
                std::vector<billing_line> lines;
                const auto price = price_on(s, c.period_start);
                std::string plan;
                for (const auto& p : s.plans)
                    if (p.effective_on <= c.period_start) plan = p.plan;
                lines.push_back({plan + ", " + c.period_start + " to " + end, price});
                // A plan change inside the period billed last: the difference, day by day.
                if (!s.last_start.empty()) {
                    const auto whole = days(s.last_end) - days(s.last_start);
                    std::int64_t delta_days = 0;  // Σ (price that day − price billed) over the days
                    for (auto d = days(s.last_start); d < days(s.last_end); ++d) delta_days += price_on(s, date_from_days(d)) - s.last_price;
                    if (delta_days != 0) {
                        lines.push_back({"plan change, " + s.last_start + " to " + s.last_end + ", prorated by days", prorate(delta_days, 1, whole)});
                    }
                }
                std::int64_t amount = 0;
                for (const auto& l : lines) amount += l.amount;
                return events{subscription_period_billed{c.subscription_id, s.dealer_id, s.currency, c.period_start, end, amount, lines}};
            },
        },
        cmd);
}

subscription_state subscription_aggregate::evolve(state s, const event& e) {
    std::visit(overloaded{
                   [&](const subscription_started& x) {
                       s.status = subscription_status::active;
                       s.dealer_id = x.dealer_id;
                       s.currency = x.currency;
                       s.period = x.period;
                       s.starts_on = x.starts_on;
                       s.next_billing = x.starts_on;
                       s.plans = {{x.starts_on, x.plan, x.price}};
                   },
                   [&](const subscription_plan_changed& x) {
                       std::erase_if(s.plans, [&](const auto& p) { return p.effective_on == x.effective_on; });
                       s.plans.push_back({x.effective_on, x.plan, x.price});
                       std::sort(s.plans.begin(), s.plans.end(), [](const auto& a, const auto& b) { return a.effective_on < b.effective_on; });
                   },
                   [&](const subscription_paused&) { s.status = subscription_status::paused; },
                   [&](const subscription_resumed&) { s.status = subscription_status::active; },
                   [&](const subscription_cancelled& x) {
                       s.status = subscription_status::cancelled;
                       s.cancel_on = x.effective_on;
                   },
                   [&](const subscription_period_billed& x) {
                       s.last_start = x.period_start;
                       s.last_end = x.period_end;
                       s.last_price = price_on(s, x.period_start);
                       s.next_billing = x.period_end;
                   },
                   [&](const subscription_period_skipped& x) {
                       s.last_start.clear();  // nothing was charged for it: nothing to prorate
                       s.last_end.clear();
                       s.last_price = 0;
                       s.next_billing = x.period_end;
                   },
               },
               e);
    return s;
}

}  // namespace dealerline::domain
