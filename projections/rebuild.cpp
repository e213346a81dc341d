// Rebuild without downtime: fill shadow tables (schema rebuild_<name>, same definitions) from
// position 0 while the live tables keep serving, then, in one transaction holding the live
// checkpoint's row lock, apply what is still missing and swap schema and checkpoint together.
#include <spdlog/spdlog.h>

#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"
#include "projections/projections.hpp"

namespace dealerline::projections {
namespace {

using clock = std::chrono::steady_clock;

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

}  // namespace

result<rebuild_report> rebuild(const std::string& conninfo, storage::event_source& source, const std::string& name,
                               const rebuild_options& options) {
    const projector* p = find_projector(name);
    if (!p) return tl::unexpected(error{"no projection named " + name});
    const std::string live(p->schema()), shadow = "rebuild_" + name;
    std::string key;
    sql::literal(key, name);
    auto head = [&] { return options.catch_up ? options.catch_up() : source.head(); };

    rebuild_report report{name, 0, 0, 0};
    const auto started = clock::now();
    std::int64_t last_event_us = 0;
    auto progress = [&](bool swapped) {
        if (!options.progress) return;
        const double s = seconds_since(started);
        options.progress({name, report.position, std::max(head(), report.position),
                          s > 0 ? static_cast<double>(report.events) / s : 0, swapped});
    };
    // Reads the next batch into the shadow tables inside `tx`; false when the source has none.
    auto step = [&](pqxx::transaction_base& tx, std::chrono::milliseconds wait) -> bool {
        auto batch = source.read_after(report.position, options.batch, wait);
        if (!batch) throw std::runtime_error("cannot read the event source: " + batch.error().message);
        std::erase_if(*batch, [&](const storage::recorded_event& e) { return e.position <= report.position; });
        if (batch->empty()) return false;
        if (batch->front().position != report.position + 1)
            throw std::runtime_error("the event source skipped from " + std::to_string(report.position));
        try {
            p->apply(tx, shadow, *batch);
        } catch (const sql::poison& e) {
            throw std::runtime_error("event " + std::to_string(e.position) + ": " + e.what());
        } catch (const pqxx::sql_error& e) {
            throw std::runtime_error("events " + std::to_string(batch->front().position) + ".." +
                                     std::to_string(batch->back().position) + ": " + e.what());
        }
        report.position = batch->back().position;
        report.events += batch->size();
        last_event_us = batch->back().recorded_at_us;
        return true;
    };

    std::unique_ptr<pqxx::connection> conn;
    try {
        conn = connect(conninfo, "dealerline-rebuild/" + name);
        {
            pqxx::work tx(*conn);
            tx.exec("INSERT INTO dealerline.projection_checkpoints (projection) VALUES (" + key + ") ON CONFLICT DO NOTHING");
            tx.exec("DROP SCHEMA IF EXISTS " + shadow + " CASCADE; CREATE SCHEMA " + shadow);
            for (auto table : p->tables())
                tx.exec("CREATE TABLE " + shadow + "." + std::string(table) + " (LIKE " + live + "." + std::string(table) +
                        " INCLUDING ALL)");
            tx.commit();
        }
        // The bulk: one transaction per batch, nobody else reads these tables yet.
        for (;;) {
            pqxx::work tx(*conn);
            const bool more = step(tx, std::chrono::milliseconds(0));
            tx.commit();
            if (!more && head() <= report.position) break;
            progress(false);
        }
        // The swap: under the live checkpoint's lock (a live runner waits for it), apply up to
        // whichever is further, the log's head or the live checkpoint, then exchange the tables.
        pqxx::work tx(*conn);
        tx.exec("SET LOCAL lock_timeout = '30s'");
        const auto locked = tx.exec("SELECT position FROM dealerline.projection_checkpoints WHERE projection = " + key +
                                    " FOR UPDATE");
        const auto live_position = locked[0][0].as<std::uint64_t>();
        const auto give_up = clock::now() + std::chrono::seconds(30);
        for (;;) {
            const auto target = std::max(live_position, head());
            if (report.position >= target) break;
            if (!step(tx, std::chrono::milliseconds(100)) && clock::now() > give_up)
                throw std::runtime_error("the log here ends at " + std::to_string(report.position) +
                                         " but the live projection is at " + std::to_string(live_position));
        }
        for (auto table : p->tables()) {
            const std::string t(table);
            tx.exec("DROP TABLE " + live + "." + t + "; ALTER TABLE " + shadow + "." + t + " SET SCHEMA " + live);
            if (live == "analytics") tx.exec("GRANT SELECT ON analytics." + t + " TO dealerline_analyst");
        }
        tx.exec("DROP SCHEMA " + shadow);
        std::string update = "UPDATE dealerline.projection_checkpoints SET position = " + std::to_string(report.position) +
                             ", last_event_at = ";
        if (last_event_us) sql::literal(update, sql::timestamp{last_event_us});
        else update += "NULL";
        update += ", updated_at = now(), failed_position = NULL, error = NULL WHERE projection = " + key;
        tx.exec(update);
        tx.commit();
    } catch (const std::exception& e) {
        // Leave the live tables as they were; the shadow is dropped now or by the next rebuild.
        try {
            if (conn) {
                pqxx::nontransaction cleanup(*conn);
                cleanup.exec("DROP SCHEMA IF EXISTS " + shadow + " CASCADE");
            }
        } catch (const std::exception&) {
        }
        return tl::unexpected(error{"rebuild of " + name + " failed: " + e.what()});
    }
    report.seconds = seconds_since(started);
    progress(true);
    spdlog::info("projection {}: rebuilt to position {} ({} events in {:.1f} s)", name, report.position, report.events,
                 report.seconds);
    return report;
}

}  // namespace dealerline::projections
