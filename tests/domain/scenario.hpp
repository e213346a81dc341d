// Given events / when command / then events, rejection or nothing — for any aggregate.
#pragma once

#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "domain/decider.hpp"
#include "tests/support/actors.hpp"

namespace dealerline::testing {

template <domain::aggregate A>
class scenario {
public:
    using event = typename A::event;
    using command = typename A::command;

    explicit scenario(std::vector<event> history = {}) : history_(std::move(history)) {
        ctx_.by = staff(domain::role::admin, "admin-1");
        ctx_.now_us = 1'795'000'000'000'000;  // 2026-11-17, fixed
    }
    scenario& as(domain::actor who) {
        ctx_.by = std::move(who);
        return *this;
    }
    scenario& knowing(domain::dealer_facts d) {
        ctx_.dealer = std::move(d);
        return *this;
    }
    scenario& knowing(domain::order_facts o) {
        ctx_.order = std::move(o);
        return *this;
    }
    scenario& knowing(domain::invoice_facts i) {
        ctx_.invoice = std::move(i);
        return *this;
    }
    scenario& at(std::int64_t now_us) {
        ctx_.now_us = now_us;
        return *this;
    }

    class outcome {
    public:
        explicit outcome(domain::result<std::vector<event>> r) : r_(std::move(r)) {}
        void then(const std::vector<event>& expected) const {
            ASSERT_TRUE(r_.has_value()) << "rejected: " << r_.error().code << ": " << r_.error().message;
            EXPECT_EQ(r_.value(), expected);
        }
        void then_rejected(std::string_view code) const {
            ASSERT_FALSE(r_.has_value()) << "accepted with " << r_.value().size() << " event(s)";
            EXPECT_EQ(r_.error().code, code) << r_.error().message;
            EXPECT_FALSE(r_.error().message.empty());
        }
        void then_nothing() const { then({}); }
        [[nodiscard]] const domain::result<std::vector<event>>& result() const& { return r_; }
        // On a temporary outcome, by value: a reference into it would dangle.
        [[nodiscard]] domain::result<std::vector<event>> result() && { return std::move(r_); }

    private:
        domain::result<std::vector<event>> r_;
    };

    [[nodiscard]] typename A::state state() const {
        typename A::state s{};
        for (const auto& e : history_) s = A::evolve(std::move(s), e);
        return s;
    }
    [[nodiscard]] outcome when(const command& c) const { return outcome(A::decide(c, state(), ctx_)); }

private:
    std::vector<event> history_;
    domain::context ctx_;
};

}  // namespace dealerline::testing
