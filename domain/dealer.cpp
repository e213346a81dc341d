#include "domain/dealer.hpp"

#include "domain/validate.hpp"

namespace dealerline::domain {
namespace {

using events = std::vector<dealer_event>;

std::optional<rejection> terms(std::int64_t days) {
    if (days >= 0 && days <= 365) return std::nullopt;
    return reject(codes::validation_failed, "payment_terms_days must be between 0 and 365");
}
std::optional<rejection> limit(std::int64_t amount) {
    if (amount >= 0) return std::nullopt;
    return reject(codes::validation_failed, "credit_limit must not be negative");
}
std::optional<rejection> registered(const dealer_state& s, const std::string& dealer_id) {
    if (s.registered) return std::nullopt;
    return reject(codes::not_found, "dealer " + dealer_id + " is not registered");
}

}  // namespace

std::string dealer_aggregate::stream_id(const command& c) {
    return std::visit([](const auto& x) { return x.dealer_id; }, c);
}

result<std::vector<dealer_event>> dealer_aggregate::decide(const command& cmd, const state& s, const context& ctx) {
    return std::visit(
        overloaded{
            [&](const register_dealer& c) -> result<events> {
                if (auto r = check::id("dealer_id", c.dealer_id)) return *r;
                if (auto r = check::role_in(ctx.by, {}, "register dealers")) return *r;
                if (s.registered) return reject(codes::already_exists, "dealer " + c.dealer_id + " is already registered");
                if (auto r = check::text("name", c.name, 200)) return *r;
                if (auto r = check::currency("currency", c.currency)) return *r;
                if (auto r = terms(c.payment_terms_days)) return *r;
                if (auto r = limit(c.credit_limit)) return *r;
                return events{dealer_registered{c.dealer_id, c.name, c.currency, c.payment_terms_days, c.credit_limit}};
            },
            [&](const update_dealer_terms& c) -> result<events> {
                if (auto r = check::id("dealer_id", c.dealer_id)) return *r;
                if (auto r = check::role_in(ctx.by, {role::accountant}, "change a dealer's terms")) return *r;
                if (auto r = registered(s, c.dealer_id)) return *r;
                if (!c.payment_terms_days && !c.credit_limit)
                    return reject(codes::validation_failed, "give payment_terms_days, credit_limit or both");
                if (c.payment_terms_days)
                    if (auto r = terms(*c.payment_terms_days)) return *r;
                if (c.credit_limit)
                    if (auto r = limit(*c.credit_limit)) return *r;
                const bool same = (!c.payment_terms_days || *c.payment_terms_days == s.payment_terms_days) &&
                                  (!c.credit_limit || *c.credit_limit == s.credit_limit);
                if (same) return events{};  // the terms are already these
                return events{dealer_terms_updated{c.dealer_id, c.payment_terms_days, c.credit_limit}};
            },
            [&](const set_opening_balance& c) -> result<events> {
                if (auto r = check::id("dealer_id", c.dealer_id)) return *r;
                if (auto r = check::role_in(ctx.by, {role::accountant}, "set opening balances")) return *r;
                if (auto r = registered(s, c.dealer_id)) return *r;
                if (s.opening_balance_set)
                    return reject(codes::invalid_transition, "the opening balance of dealer " + c.dealer_id + " is already set");
                return events{opening_balance_set{c.dealer_id, c.amount, s.currency}};
            },
        },
        cmd);
}

dealer_state dealer_aggregate::evolve(state s, const event& e) {
    std::visit(overloaded{
                   [&](const dealer_registered& x) {
                       s.registered = true;
                       s.currency = x.currency;
                       s.payment_terms_days = x.payment_terms_days;
                       s.credit_limit = x.credit_limit;
                   },
                   [&](const dealer_terms_updated& x) {
                       if (x.payment_terms_days) s.payment_terms_days = *x.payment_terms_days;
                       if (x.credit_limit) s.credit_limit = *x.credit_limit;
                   },
                   [&](const opening_balance_set&) { s.opening_balance_set = true; },
               },
               e);
    return s;
}

}  // namespace dealerline::domain
