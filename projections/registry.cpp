// The projections there are, how we connect, the migrations, and the checkpoints table.
#include <chrono>
#include <set>

#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"
#include "projections/projections.hpp"

namespace dealerline::projections {

const std::vector<std::unique_ptr<projector>>& all_projectors() {
    static const auto all = [] {
        std::vector<std::unique_ptr<projector>> list;
        list.push_back(make_portal_dealers());
        list.push_back(make_portal_orders());
        list.push_back(make_portal_claims());
        list.push_back(make_portal_finance());
        list.push_back(make_portal_stock());
        list.push_back(make_portal_subscriptions());
        list.push_back(make_analytics_events());
        list.push_back(make_analytics_orders());
        list.push_back(make_analytics_claims());
        list.push_back(make_analytics_finance());
        list.push_back(make_analytics_stock());
        list.push_back(make_analytics_subscriptions());
        return list;
    }();
    return all;
}

const projector* find_projector(std::string_view name) {
    for (const auto& p : all_projectors())
        if (p->name() == name) return p.get();
    return nullptr;
}

const std::vector<std::string>& names() {
    static const auto list = [] {
        std::vector<std::string> out;
        for (const auto& p : all_projectors()) out.emplace_back(p->name());
        return out;
    }();
    return list;
}

std::unique_ptr<pqxx::connection> connect(const std::string& conninfo, std::string_view application_name) {
    auto c = std::make_unique<pqxx::connection>(conninfo);
    pqxx::nontransaction setup(*c);
    // Literals are written with only the quote escaped (sql.cpp); times are UTC throughout.
    // synchronous_commit off is safe here: rows and checkpoint commit together, so a commit lost
    // in a PostgreSQL crash is simply applied again from the older checkpoint.
    std::string set = "SET standard_conforming_strings = on; SET application_name = ";
    sql::literal(set, application_name);
    setup.exec(set + "; SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'; SET client_min_messages = warning;"
               " SET synchronous_commit = off");
    setup.commit();
    return c;
}

result<std::vector<int>> migrate(const std::string& conninfo) {
    try {
        auto c = connect(conninfo, "dealerline-migrate");
        pqxx::work tx(*c);
        // One migrator at a time per database; the lock goes with the transaction.
        tx.exec("SELECT pg_advisory_xact_lock(7412036519)");
        tx.exec(
            "CREATE SCHEMA IF NOT EXISTS dealerline;"
            "CREATE TABLE IF NOT EXISTS dealerline.schema_migrations ("
            "  version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())");
        std::set<int> applied;
        for (const auto& row : tx.exec("SELECT version FROM dealerline.schema_migrations")) applied.insert(row[0].as<int>());
        std::vector<int> now;
        for (const auto& m : migrations()) {
            if (applied.contains(m.version)) continue;
            try {
                tx.exec(std::string(m.sql));
            } catch (const std::exception& e) {
                return tl::unexpected(error{"migration " + std::string(m.name) + " failed: " + e.what()});
            }
            std::string record = "INSERT INTO dealerline.schema_migrations (version, name) VALUES (" + std::to_string(m.version) + ", ";
            sql::literal(record, m.name);
            tx.exec(record + ")");
            now.push_back(m.version);
        }
        tx.commit();
        return now;
    } catch (const std::exception& e) {
        return tl::unexpected(error{std::string("cannot migrate the read-model schema: ") + e.what()});
    }
}

result<std::vector<status>> read_status(const std::string& conninfo, std::uint64_t head) {
    try {
        auto c = connect(conninfo, "dealerline-status");
        pqxx::work tx(*c);
        const auto rows = tx.exec(
            "SELECT projection, position, extract(epoch from now() - last_event_at)::float8, failed_position, error"
            " FROM dealerline.projection_checkpoints");
        std::vector<status> out;
        for (const auto& name : names()) {
            status s;
            s.name = name;
            s.head = head;
            s.state = "never run";
            for (const auto& r : rows) {
                if (r[0].as<std::string>() != name) continue;
                s.position = r[1].as<std::uint64_t>();
                if (!r[2].is_null()) s.newest_event_age_seconds = r[2].as<double>();
                if (!r[3].is_null()) s.failed_position = r[3].as<std::uint64_t>();
                if (!r[4].is_null()) s.error = r[4].as<std::string>();
                s.state = s.error.empty() ? "ok" : "failed";
            }
            s.lag_events = head > s.position ? head - s.position : 0;
            out.push_back(std::move(s));
        }
        return out;
    } catch (const std::exception& e) {
        return tl::unexpected(error{std::string("cannot read the projection checkpoints: ") + e.what()});
    }
}

}  // namespace dealerline::projections
