#include "domain/claim.hpp"

#include <algorithm>
#include <array>

#include "domain/time.hpp"
#include "domain/validate.hpp"

namespace dealerline::domain {
namespace {

using events = std::vector<claim_event>;

constexpr std::array<std::string_view, 5> kinds{"defect", "damage", "missing_part", "delay", "other"};
constexpr std::array<std::string_view, 4> resolutions{"repair", "replace", "refund", "rejected"};
// Order statuses a claim can be filed against: accepted, and not cancelled or rejected.
constexpr std::array<std::string_view, 5> claimable{"accepted", "in_production", "produced", "shipped", "delivered"};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& set, std::string_view value) {
    return std::find(set.begin(), set.end(), value) != set.end();
}

rejection transition(const claim_state& s, std::string_view what) {
    return reject(codes::invalid_transition, "cannot " + std::string(what) + " a claim that is " + std::string(to_string(s.status)));
}

std::optional<rejection> existing(const claim_state& s, const context& ctx, std::initializer_list<role> roles,
                                  std::string_view what, const std::string& claim_id) {
    return check::may_act_on("claim", claim_id, s.status != claim_status::none, s.dealer_id, ctx.by, roles, what);
}

result<events> decide_file(const file_claim& c, const claim_state& s, const context& ctx) {
    if (auto r = check::id("claim_id", c.claim_id)) return *r;
    if (auto r = check::id("order_id", c.order_id)) return *r;
    if (auto r = check::role_in(ctx.by, {role::dealer, role::claims_manager}, "file claims")) return *r;
    if (s.status != claim_status::none) return reject(codes::already_exists, "claim " + c.claim_id + " already exists");
    if (!one_of(kinds, c.kind))
        return reject(codes::validation_failed, "kind must be one of defect, damage, missing_part, delay, other");
    if (auto r = check::text("description", c.description, 5000)) return *r;
    if (!ctx.order || !ctx.order->exists) return reject(codes::not_found, "order " + c.order_id + " does not exist");
    if (auto r = check::own_dealer(ctx.by, ctx.order->dealer_id, "file a claim on an order")) return *r;
    if (!one_of(claimable, ctx.order->status))
        return reject(codes::invalid_transition, "cannot file a claim on an order that is " + ctx.order->status);
    return events{claim_filed{c.claim_id, c.order_id, ctx.order->dealer_id, c.kind, c.description}};
}

}  // namespace

std::string_view to_string(claim_status s) noexcept {
    switch (s) {
        case claim_status::none: return "none";
        case claim_status::open: return "open";
        case claim_status::in_review: return "in_review";
        case claim_status::resolved: return "resolved";
        case claim_status::reopened: return "reopened";
        case claim_status::closed: return "closed";
    }
    return "unknown";
}

std::string claim_aggregate::stream_id(const command& c) {
    return std::visit([](const auto& x) { return x.claim_id; }, c);
}

result<std::vector<claim_event>> claim_aggregate::decide(const command& cmd, const state& s, const context& ctx) {
    using st = claim_status;
    return std::visit(
        overloaded{
            [&](const file_claim& c) -> result<events> { return decide_file(c, s, ctx); },
            [&](const assign_claim& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::claims_manager}, "assign", c.claim_id)) return *r;
                if (auto r = check::id("manager", c.manager)) return *r;
                if (s.status != st::open && s.status != st::in_review && s.status != st::reopened)
                    return transition(s, "assign");
                return events{claim_assigned{c.claim_id, c.manager}};
            },
            [&](const comment_on_claim& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::dealer, role::claims_manager}, "comment on", c.claim_id)) return *r;
                if (auto r = check::text("text", c.text, 5000)) return *r;
                if (s.status == st::closed) return transition(s, "comment on");
                return events{claim_commented{c.claim_id, c.text, ctx.by.label()}};
            },
            [&](const resolve_claim& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::claims_manager}, "resolve", c.claim_id)) return *r;
                if (!one_of(resolutions, c.resolution))
                    return reject(codes::validation_failed, "resolution must be one of repair, replace, refund, rejected");
                if (c.compensation < 0) return reject(codes::validation_failed, "compensation must not be negative");
                if (c.resolution == "rejected" && c.compensation != 0)
                    return reject(codes::validation_failed, "a rejected claim carries no compensation");
                if (auto r = check::optional_text("note", c.note, 5000)) return *r;
                if (s.status != st::in_review) return transition(s, "resolve");
                return events{claim_resolved{c.claim_id, c.resolution, c.compensation, c.note, iso8601(ctx.now_us)}};
            },
            [&](const reopen_claim& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::dealer}, "reopen", c.claim_id)) return *r;
                if (auto r = check::text("reason", c.reason)) return *r;
                if (s.status != st::resolved) return transition(s, "reopen");
                if (ctx.now_us - s.resolved_at_us > claim_reopen_window_days * micros_per_day)
                    return reject(codes::invalid_transition, "a claim can be reopened within 30 days of its resolution");
                return events{claim_reopened{c.claim_id, c.reason}};
            },
            [&](const close_claim& c) -> result<events> {
                if (auto r = existing(s, ctx, {role::claims_manager}, "close", c.claim_id)) return *r;
                if (s.status != st::resolved) return transition(s, "close");
                return events{claim_closed{c.claim_id}};
            },
        },
        cmd);
}

claim_state claim_aggregate::evolve(state s, const event& e) {
    std::visit(overloaded{
                   [&](const claim_filed& x) {
                       s.status = claim_status::open;
                       s.dealer_id = x.dealer_id;
                       s.order_id = x.order_id;
                   },
                   [&](const claim_assigned&) { s.status = claim_status::in_review; },
                   [&](const claim_commented&) {},
                   [&](const claim_resolved& x) {
                       s.status = claim_status::resolved;
                       s.resolved_at_us = parse_iso8601(x.resolved_at).value_or(0);
                   },
                   [&](const claim_reopened&) { s.status = claim_status::reopened; },
                   [&](const claim_closed&) { s.status = claim_status::closed; },
               },
               e);
    return s;
}

}  // namespace dealerline::domain
