#include "projections/detail/sql.hpp"

#include <chrono>
#include <cstdio>

namespace dealerline::projections::sql {

void literal(std::string& out, std::string_view text) {
    // standard_conforming_strings = on (set on every connection): only the quote is special.
    // A NUL cannot be stored in a text column at all; the domain refuses it in commands.
    out += '\'';
    for (char c : text) {
        if (c == '\'') out += "''";
        else if (c == '\0') throw std::invalid_argument("text contains a NUL character");
        else out += c;
    }
    out += '\'';
}

void literal(std::string& out, std::int64_t v) { out += std::to_string(v); }

void literal(std::string& out, bool v) { out += v ? "true" : "false"; }

std::string text_of(timestamp t) {
    using namespace std::chrono;
    const sys_time<microseconds> tp{microseconds{t.us}};
    const auto day = floor<days>(tp);
    const year_month_day ymd{day};
    const hh_mm_ss<microseconds> tod{tp - day};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld:%02lld.%06lld+00", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<long long>(tod.hours().count()), static_cast<long long>(tod.minutes().count()),
                  static_cast<long long>(tod.seconds().count()), static_cast<long long>(tod.subseconds().count()));
    return buf;
}

void literal(std::string& out, timestamp t) {
    out += '\'';
    out += text_of(t);
    out += '\'';
}

void literal(std::string& out, const date& d) { literal(out, std::string_view(d.text)); }

void literal(std::string& out, const json& j) { literal(out, std::string_view(j.text)); }

std::string text_of(interval i) {
    // Whole days, then seconds: PostgreSQL reads the number before a unit as a 32-bit integer
    // (too small for a month in microseconds), and intervals read as days add up as days.
    constexpr std::int64_t per_day = 86'400'000'000;
    const std::int64_t magnitude = i.us < 0 ? -i.us : i.us;
    const std::int64_t rest = magnitude % per_day;
    char buf[80];
    std::snprintf(buf, sizeof buf, "%s%lld days %s%lld.%06lld seconds", i.us < 0 ? "-" : "",
                  static_cast<long long>(magnitude / per_day), i.us < 0 ? "-" : "",
                  static_cast<long long>(rest / 1'000'000), static_cast<long long>(rest % 1'000'000));
    return buf;
}

void literal(std::string& out, interval i) {
    out += '\'';
    out += text_of(i);
    out += '\'';
}

void set_field(copy_field& f, const std::string& v) {
    if (v.find('\0') != std::string::npos) throw std::invalid_argument("text contains a NUL character");
    f.text = v;
    f.null = false;
}

date day_of(std::int64_t us) {
    using namespace std::chrono;
    const year_month_day ymd{floor<days>(sys_time<microseconds>{microseconds{us}})};
    char buf[16];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()));
    return date{buf};
}

date month_of(std::int64_t us) {
    auto d = day_of(us);
    d.text.replace(8, 2, "01");
    return d;
}

}  // namespace dealerline::projections::sql
