#include "domain/time.hpp"

#include <chrono>
#include <cstdio>

namespace dealerline::domain {

std::string iso8601(std::int64_t micros) {
    using namespace std::chrono;
    const sys_time<microseconds> t{microseconds{micros}};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    char out[40];
    const auto fraction = hms.subseconds().count();
    if (fraction == 0)
        std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                      static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                      static_cast<int>(hms.seconds().count()));
    else
        std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<int>(ymd.year()),
                      static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                      static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                      static_cast<int>(hms.seconds().count()), static_cast<long long>(fraction));
    return out;
}

std::optional<std::int64_t> parse_iso8601(std::string_view s) {
    using namespace std::chrono;
    if (s.size() < 20 || s.back() != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return std::nullopt;
    auto digits = [&](std::size_t from, std::size_t n) -> long long {
        long long v = 0;
        for (std::size_t i = from; i < from + n; ++i) {
            if (s[i] < '0' || s[i] > '9') return -1;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    };
    const auto y = digits(0, 4), mo = digits(5, 2), d = digits(8, 2), h = digits(11, 2), mi = digits(14, 2), se = digits(17, 2);
    if (y < 0 || mo < 0 || d < 0 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59) return std::nullopt;
    long long fraction = 0;
    if (s.size() != 20) {
        if (s[19] != '.' || s.size() < 22 || s.size() > 27) return std::nullopt;
        const std::size_t n = s.size() - 21;
        fraction = digits(20, n);
        if (fraction < 0) return std::nullopt;
        for (std::size_t i = n; i < 6; ++i) fraction *= 10;
    } else if (s[19] != 'Z') {
        return std::nullopt;
    }
    const year_month_day ymd{year{static_cast<int>(y)}, month{static_cast<unsigned>(mo)}, day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) return std::nullopt;
    const auto t = sys_days{ymd} + hours{h} + minutes{mi} + seconds{se} + microseconds{fraction};
    return duration_cast<microseconds>(t.time_since_epoch()).count();
}

std::optional<std::int64_t> parse_date(std::string_view s) {
    using namespace std::chrono;
    if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
    int parts[3] = {0, 0, 0};
    const std::size_t at[3] = {0, 5, 8}, len[3] = {4, 2, 2};
    for (int p = 0; p < 3; ++p)
        for (std::size_t i = at[p]; i < at[p] + len[p]; ++i) {
            if (s[i] < '0' || s[i] > '9') return std::nullopt;
            parts[p] = parts[p] * 10 + (s[i] - '0');
        }
    const year_month_day ymd{year{parts[0]}, month{static_cast<unsigned>(parts[1])}, day{static_cast<unsigned>(parts[2])}};
    if (!ymd.ok()) return std::nullopt;
    return sys_days{ymd}.time_since_epoch().count();
}

std::string date_from_days(std::int64_t n) {
    using namespace std::chrono;
    const year_month_day ymd{sys_days{days{n}}};
    char out[16];
    std::snprintf(out, sizeof out, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()));
    return out;
}

std::string date_of(std::int64_t micros) {
    const std::int64_t per_day = micros_per_day;
    return date_from_days(micros >= 0 ? micros / per_day : (micros - per_day + 1) / per_day);
}

std::string first_of_next_month(std::string_view date) {
    using namespace std::chrono;
    const auto days_since = parse_date(date).value_or(0);
    const year_month_day ymd{sys_days{days{days_since}}};
    const auto next = year_month{ymd.year(), ymd.month()} + months{1};
    return date_from_days(sys_days{next / 1}.time_since_epoch().count());
}

}  // namespace dealerline::domain
