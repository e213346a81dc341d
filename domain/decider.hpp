// What every aggregate's decider shares: who acts, when, what a rejection looks like, and the
// concept that the command handler is generic over.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace dealerline::domain {

enum class role { dealer, engineer, production, logistics, claims_manager, accountant, storekeeper, auditor, admin, system };

[[nodiscard]] std::string_view to_string(role) noexcept;
[[nodiscard]] std::optional<role> role_from_string(std::string_view) noexcept;

struct actor {
    domain::role role = role::auditor;
    std::string id;         // staff member's id, "D-0042" for a dealer, "billing" for the system
    std::string dealer_id;  // set for role::dealer only

    // "dealer:D-0042", "staff:eng-7", "system:billing" (DOMAIN.md)
    [[nodiscard]] std::string label() const;
    [[nodiscard]] bool is(domain::role r) const noexcept { return role == r; }
};

// Facts about other aggregates that a decision needs, looked up by the command handler.
struct dealer_facts {
    bool registered = false;
    std::string currency;
    std::int64_t payment_terms_days = 0;
};
struct order_facts {
    bool exists = false;
    std::string dealer_id;
    std::string status;  // order status name, e.g. "accepted"
};

struct invoice_facts {
    bool exists = false, voided = false;
    std::string dealer_id, currency;
    std::int64_t open_amount = 0;
};

struct context {
    actor by;
    std::int64_t now_us = 0;               // the injected clock
    std::optional<dealer_facts> dealer;    // PlaceOrder, IssueInvoice, RecordPayment, IssueCreditNote
    std::optional<order_facts> order;      // FileClaim
    std::optional<invoice_facts> invoice;  // AllocatePayment
};

// Stable rejection codes: clients and tests rely on them.
namespace codes {
inline constexpr std::string_view invalid_transition = "invalid_transition";
inline constexpr std::string_view not_found = "not_found";
inline constexpr std::string_view forbidden = "forbidden";
inline constexpr std::string_view validation_failed = "validation_failed";
inline constexpr std::string_view already_exists = "already_exists";
inline constexpr std::string_view duplicate_external_ref = "duplicate_external_ref";
inline constexpr std::string_view currency_mismatch = "currency_mismatch";
inline constexpr std::string_view dealer_not_registered = "dealer_not_registered";
inline constexpr std::string_view insufficient_stock = "insufficient_stock";
inline constexpr std::string_view over_allocation = "over_allocation";
}  // namespace codes

struct rejection {
    std::string code;
    std::string message;
    bool operator==(const rejection&) const = default;
};

[[nodiscard]] inline rejection reject(std::string_view code, std::string message) {
    return rejection{std::string(code), std::move(message)};
}

// A decision: the events to append (empty: nothing to do), or why not. std::expected is C++23;
// this is the small part of it that deciders need.
template <class T>
class result {
public:
    result(T value) : v_(std::move(value)) {}               // NOLINT: implicit, like expected
    result(rejection why) : v_(std::move(why)) {}           // NOLINT
    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    [[nodiscard]] const T& value() const& { return std::get<0>(v_); }
    [[nodiscard]] T& value() & { return std::get<0>(v_); }
    [[nodiscard]] const rejection& error() const& { return std::get<1>(v_); }
    const T& operator*() const& { return value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<T, rejection> v_;
};

// `overloaded{…}` for std::visit: one lambda per alternative, no catch-all.
template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

// The parts each aggregate provides; commands/ is written once against this.
template <class A>
concept aggregate = requires(const typename A::command& c, const typename A::state& s, const typename A::event& e,
                             const context& ctx) {
    { A::category } -> std::convertible_to<std::string_view>;
    { A::stream_id(c) } -> std::convertible_to<std::string>;
    { A::decide(c, s, ctx) } -> std::same_as<result<std::vector<typename A::event>>>;
    { A::evolve(s, e) } -> std::same_as<typename A::state>;
};

}  // namespace dealerline::domain
