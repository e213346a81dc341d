#include "domain/decider.hpp"

#include <array>

namespace dealerline::domain {
namespace {
constexpr std::array<std::pair<role, std::string_view>, 10> role_names{{
    {role::dealer, "dealer"},
    {role::engineer, "engineer"},
    {role::production, "production"},
    {role::logistics, "logistics"},
    {role::claims_manager, "claims_manager"},
    {role::accountant, "accountant"},
    {role::storekeeper, "storekeeper"},
    {role::auditor, "auditor"},
    {role::admin, "admin"},
    {role::system, "system"},
}};
}  // namespace

std::string_view to_string(role r) noexcept {
    for (const auto& [value, name] : role_names)
        if (value == r) return name;
    return "unknown";
}

std::optional<role> role_from_string(std::string_view name) noexcept {
    for (const auto& [value, text] : role_names)
        if (text == name) return value;
    return std::nullopt;
}

std::string actor::label() const {
    switch (role) {
        case domain::role::dealer: return "dealer:" + dealer_id;
        case domain::role::system: return "system:" + id;
        default: return "staff:" + id;
    }
}

}  // namespace dealerline::domain
