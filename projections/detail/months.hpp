// Months for the analytics read models: month arithmetic on ISO dates, and `monthly_series`, the
// rows keyed by (month, currency) that analytics_finance (DSO) and analytics_subscriptions (MRR)
// carry from month to month.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "domain/time.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {

// "2026-11-23" → "2026-11-01"
inline std::string month_of_date(std::string_view date) { return std::string(date.substr(0, 8)) + "01"; }

inline std::int64_t days_since_epoch(const std::string& date) {
    const auto d = domain::parse_date(date);
    if (!d) throw std::invalid_argument("not a date: " + date);
    return *d;
}

inline std::string last_day_of(const std::string& month) { return domain::date_from_days(days_since_epoch(domain::first_of_next_month(month)) - 1); }

inline std::int64_t days_in(const std::string& month) { return days_since_epoch(domain::first_of_next_month(month)) - days_since_epoch(month); }

// Rows keyed by (month, currency) whose level columns carry from one month to the next: every
// month between a currency's first and last row has a row, so a level (receivables, MRR) can be
// read off any month. All rows of the currencies a batch touches are loaded (a few per year),
// changed in memory and the changed ones written back in one upsert. `Row::carry(prev)` makes
// the row of the month after `prev`: levels kept, flows zero.
template <class Row>
class monthly_series {
public:
    explicit monthly_series(std::string table) : table_(std::move(table)) {}

    void want(const std::string& currency) { wanted_.insert(currency); }

    void load(pqxx::transaction_base& tx) {
        if (wanted_.empty()) return;
        std::string select = "SELECT " + sql::select_list<Row>() + " FROM " + table_ + " WHERE currency IN ";
        sql::literal_list(select, wanted_);
        for (const auto& r : tx.exec(select)) {
            auto row = sql::parse_row<Row>(r);
            auto key = std::pair{row.currency, row.month.text};
            rows_.emplace(std::move(key), std::move(row));
        }
    }

    // The row of `month`, made (with every missing month between it and the currency's other
    // rows) if it is not there.
    Row& at(const std::string& currency, const std::string& month) {
        const auto key = std::pair{currency, month};
        if (auto it = rows_.find(key); it != rows_.end()) {
            dirty_.insert(key);
            return it->second;
        }
        const auto first = rows_.lower_bound({currency, ""});
        const bool none = first == rows_.end() || first->first.first != currency;
        if (none || month < first->first.second) {
            // Before every row (or the first): nothing happened earlier, levels start at zero.
            const std::string until = none ? domain::first_of_next_month(month) : first->first.second;
            for (auto m = month; m < until; m = domain::first_of_next_month(m)) make(currency, m, Row::first(currency, m));
        } else {
            // After the last row (rows are contiguous): each new month carries the one before.
            const Row* before = &std::prev(rows_.lower_bound(key))->second;
            for (auto m = domain::first_of_next_month(before->month.text); m <= month; m = domain::first_of_next_month(m)) {
                make(currency, m, Row::carry(*before));
                before = &rows_.at({currency, m});
            }
        }
        return rows_.at(key);
    }

    // Applies `change` to the row of `month` and every later row of the currency (a level moved).
    template <class F>
    void from(const std::string& currency, const std::string& month, F change) {
        (void)at(currency, month);
        for (auto it = rows_.find({currency, month}); it != rows_.end() && it->first.first == currency; ++it) {
            change(it->second);
            dirty_.insert(it->first);
        }
    }

    void write(pqxx::transaction_base& tx) {
        if (dirty_.empty()) return;
        std::vector<Row> changed;  // a few rows: months × currencies
        changed.reserve(dirty_.size());
        for (const auto& key : dirty_) changed.push_back(rows_.at(key));
        std::string statement;
        sql::append_insert<Row>(statement, table_, changed,
                                "\nON CONFLICT (month, currency) DO UPDATE SET " + sql::set_all_excluded<Row>(2));
        tx.exec(statement);
        dirty_.clear();
    }

private:
    void make(const std::string& currency, const std::string& month, Row row) {
        rows_.emplace(std::pair{currency, month}, std::move(row));
        dirty_.insert({currency, month});
    }

    std::string table_;
    std::set<std::string> wanted_;
    std::map<std::pair<std::string, std::string>, Row> rows_;  // (currency, month)
    std::set<std::pair<std::string, std::string>> dirty_;
};

}  // namespace dealerline::projections
