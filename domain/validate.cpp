#include "domain/validate.hpp"

#include <algorithm>
#include <chrono>
#include <cctype>

namespace dealerline::domain::check {

std::optional<rejection> id(std::string_view field, std::string_view value) {
    const bool ok = !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u > 0x20 && u < 0x7f;
    });
    if (ok) return std::nullopt;
    return reject(codes::validation_failed,
                  std::string(field) + " must be 1 to 64 printable characters without spaces");
}

std::optional<rejection> text(std::string_view field, std::string_view value, std::size_t max) {
    if (value.empty() || value.size() > max)
        return reject(codes::validation_failed, std::string(field) + " must be 1 to " + std::to_string(max) + " characters");
    return optional_text(field, value, max);
}

std::optional<rejection> optional_text(std::string_view field, std::string_view value, std::size_t max) {
    if (value.size() > max)
        return reject(codes::validation_failed, std::string(field) + " is over " + std::to_string(max) + " characters");
    // Control characters other than tab and line breaks have no business in a description, and
    // NUL cannot even be stored in the read models' text columns.
    const bool clean = std::none_of(value.begin(), value.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7f;
    });
    if (clean) return std::nullopt;
    return reject(codes::validation_failed, std::string(field) + " must not contain control characters");
}

std::optional<rejection> currency(std::string_view field, std::string_view value) {
    const bool ok = value.size() == 3 && std::all_of(value.begin(), value.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (ok) return std::nullopt;
    return reject(codes::validation_failed, std::string(field) + " must be a 3-letter currency code such as EUR");
}

std::optional<rejection> date(std::string_view field, std::string_view value) {
    auto bad = [&] { return reject(codes::validation_failed, std::string(field) + " must be a date as YYYY-MM-DD"); };
    if (value.size() != 10 || value[4] != '-' || value[7] != '-') return bad();
    auto number = [&](std::size_t from, std::size_t n) {
        int v = 0;
        for (std::size_t i = from; i < from + n; ++i) {
            if (!std::isdigit(static_cast<unsigned char>(value[i]))) return -1;
            v = v * 10 + (value[i] - '0');
        }
        return v;
    };
    const int y = number(0, 4), m = number(5, 2), d = number(8, 2);
    if (y < 0 || m < 0 || d < 0) return bad();
    const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(m)},
                                          std::chrono::day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return bad();
    return std::nullopt;
}

std::optional<rejection> role_in(const actor& by, std::initializer_list<role> allowed, std::string_view what) {
    if (by.is(role::admin) || std::find(allowed.begin(), allowed.end(), by.role) != allowed.end()) return std::nullopt;
    return reject(codes::forbidden, "a " + std::string(to_string(by.role)) + " may not " + std::string(what));
}

std::optional<rejection> may_act_on(std::string_view noun, const std::string& id, bool exists, std::string_view owner,
                                    const actor& by, std::initializer_list<role> roles, std::string_view what) {
    if (auto r = check::id(std::string(noun) + "_id", id)) return r;
    if (!exists) return reject(codes::not_found, std::string(noun) + " " + id + " does not exist");
    if (auto r = role_in(by, roles, what)) return r;
    const auto article = noun.find_first_of("aeiou") == 0 ? " an " : " a ";
    return own_dealer(by, owner, std::string(what) + article + std::string(noun));
}

std::optional<rejection> own_dealer(const actor& by, std::string_view dealer_id, std::string_view what) {
    if (!by.is(role::dealer) || by.dealer_id == dealer_id) return std::nullopt;
    return reject(codes::forbidden, "dealer " + by.dealer_id + " may not " + std::string(what) + " of another dealer");
}

}  // namespace dealerline::domain::check
