#include "tools/format.hpp"

#include <chrono>
#include <cstdio>

namespace dealerline::tools {

std::string iso8601_us(std::int64_t micros) {
    using namespace std::chrono;
    const sys_time<microseconds> t{microseconds{micros}};
    const auto day = floor<days>(t);
    const year_month_day ymd{day};
    const hh_mm_ss hms{t - day};
    char out[40];
    std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()), static_cast<long long>(hms.subseconds().count()));
    return out;
}

}  // namespace dealerline::tools
