// A fresh PostgreSQL database per test, in the throwaway server the test command started
// (DEALERLINE_TEST_POSTGRES), dropped afterwards. Tests run in parallel without meeting.
#pragma once

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include "projections/projections.hpp"
#include "tests/support/eventually.hpp"

namespace dealerline::testing {

inline std::string test_postgres() {
    const char* c = std::getenv("DEALERLINE_TEST_POSTGRES");
    return c ? c : "";
}

class pg_database {
public:
    pg_database() {
        std::random_device rd;
        name_ = "dl_test_" + std::to_string(rd()) + std::to_string(rd() % 1000);
        pqxx::connection admin(test_postgres());
        pqxx::nontransaction(admin).exec("CREATE DATABASE " + name_);
        conninfo_ = test_postgres() + " dbname=" + name_;
    }
    ~pg_database() {
        try {
            pqxx::connection admin(test_postgres());
            pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
        } catch (const std::exception&) {
        }
    }
    pg_database(const pg_database&) = delete;
    pg_database& operator=(const pg_database&) = delete;

    [[nodiscard]] const std::string& conninfo() const { return conninfo_; }

    // The first column of the first row, as text ("" for NULL or no row).
    [[nodiscard]] std::string scalar(const std::string& sql) const {
        pqxx::connection c(conninfo_);
        pqxx::nontransaction tx(c);
        auto r = tx.exec(sql);
        if (r.empty() || r[0][0].is_null()) return "";
        return r[0][0].as<std::string>();
    }
    // Every row as "a|b|c" lines, in the query's order.
    [[nodiscard]] std::string rows(const std::string& sql) const {
        pqxx::connection c(conninfo_);
        pqxx::nontransaction tx(c);
        std::string out;
        for (const auto& row : tx.exec(sql)) {
            for (int i = 0; i < static_cast<int>(row.size()); ++i) {
                if (i) out += '|';
                out += row[i].is_null() ? "∅" : row[i].as<std::string>();
            }
            out += '\n';
        }
        return out;
    }
    void exec(const std::string& sql) const {
        pqxx::connection c(conninfo_);
        pqxx::nontransaction tx(c);
        tx.exec(sql);
    }

    // A digest of every read-model table, each in a stable row order: equal digests, equal rows.
    [[nodiscard]] std::string digest() const {
        // Every table of the read-model schemas, so a new read model is covered without a list.
        pqxx::connection c(conninfo_);
        pqxx::nontransaction tx(c);
        std::vector<std::string> tables;
        for (const auto& r : tx.exec("SELECT schemaname || '.' || tablename FROM pg_tables"
                                     " WHERE schemaname IN ('portal', 'analytics') ORDER BY 1"))
            tables.push_back(r[0].as<std::string>());
        if (tables.empty()) throw std::runtime_error("no read-model tables: migrate first");
        std::string out;
        for (const auto& t : tables)
            out += t + " " +
                   scalar("SELECT count(*) || ' ' || md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM " +
                          t + " t") +
                   "\n";
        return out;
    }

private:
    std::string name_, conninfo_;
};

}  // namespace dealerline::testing
