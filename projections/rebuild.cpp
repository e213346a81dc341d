// Rebuild without downtime: fill shadow tables (schema rebuild_<name>, same definitions) from
// position 0 while the live tables keep serving, then, in one transaction holding the live
// checkpoint's row lock, apply what is still missing and swap schema and checkpoint together.
//
// Several projections rebuild at once from one reader: each batch is read from the log once and
// handed to every projection's own thread and connection.
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"
#include "projections/projections.hpp"

namespace dealerline::projections {
namespace {

using clock = std::chrono::steady_clock;
using batch_ptr = std::shared_ptr<const std::vector<storage::recorded_event>>;

double seconds_since(clock::time_point t) { return std::chrono::duration<double>(clock::now() - t).count(); }

class rebuilder {
public:
    rebuilder(const projector& p, const std::string& conninfo, storage::event_source& source, const rebuild_options& options)
        : p_(p), name_(p.name()), live_(p.schema()), shadow_("rebuild_" + name_), source_(source), options_(options) {
        sql::literal(key_, name_);
        report_.name = name_;
        conn_ = connect(conninfo, "dealerline-rebuild/" + name_);
    }
    ~rebuilder() {
        if (swapped_) return;
        // Leave the live tables as they were; drop the half-built shadow.
        try {
            pqxx::nontransaction cleanup(*conn_);
            cleanup.exec("DROP SCHEMA IF EXISTS " + shadow_ + " CASCADE");
        } catch (const std::exception&) {
        }
    }

    // Creates the shadow tables. The live tables' indexes are recreated on them: primary keys of
    // upserted tables now (ON CONFLICT needs them), everything else after the bulk load, when
    // building an index in one sort is far cheaper than maintaining it row by row.
    void prepare() {
        pqxx::work tx(*conn_);
        tx.exec("INSERT INTO dealerline.projection_checkpoints (projection) VALUES (" + key_ + ") ON CONFLICT DO NOTHING");
        tx.exec("DROP SCHEMA IF EXISTS " + shadow_ + " CASCADE; CREATE SCHEMA " + shadow_);
        for (const auto& table : p_.tables()) {
            const std::string t(table.name), live_table = live_ + "." + t, shadow_table = shadow_ + "." + t;
            tx.exec("CREATE TABLE " + shadow_table + " (LIKE " + live_table + " INCLUDING ALL EXCLUDING INDEXES)");
            std::string lookup = "SELECT pg_get_indexdef(i.indexrelid), i.indisprimary, c.relname FROM pg_index i"
                                 " JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = ";
            sql::literal(lookup, live_table);
            for (const auto& index : tx.exec(lookup + "::regclass ORDER BY c.relname")) {
                std::string definition = index[0].as<std::string>();
                const auto on = definition.find(" ON " + live_table + " ");
                if (on == std::string::npos) throw std::runtime_error("unexpected index definition: " + definition);
                definition.replace(on, 4 + live_table.size(), " ON " + shadow_table);
                const bool primary = index[1].as<bool>();
                if (primary)
                    definition += "; ALTER TABLE " + shadow_table + " ADD CONSTRAINT " + index[2].as<std::string>() +
                                  " PRIMARY KEY USING INDEX " + index[2].as<std::string>();
                if (primary && table.upserted) tx.exec(definition);
                else later_.push_back(definition);
            }
        }
        tx.commit();
        held_ = p_.deferred_state(shadow_, options_.max_held_rows);
    }

    // The bulk: one transaction per batch; nobody reads these tables yet.
    void bulk(const std::vector<storage::recorded_event>& batch) {
        pqxx::work tx(*conn_);
        apply(tx, batch);
        tx.commit();
        progress(false);
    }

    // Indexes, then the swap: under the live checkpoint's lock (a live runner waits for it),
    // apply up to whichever is further, the log's head or the live checkpoint, then exchange
    // the tables.
    void finish() {
        {
            pqxx::work tx(*conn_);
            if (held_) held_->flush(tx);
            tx.commit();
        }
        bulk_seconds_ = seconds_since(started_);
        {
            pqxx::work tx(*conn_);
            for (const auto& definition : later_) tx.exec(definition);
            tx.commit();
        }
        index_seconds_ = seconds_since(started_) - bulk_seconds_;
        pqxx::work tx(*conn_);
        tx.exec("SET LOCAL lock_timeout = '30s'");
        const auto locked = tx.exec("SELECT position FROM dealerline.projection_checkpoints WHERE projection = " + key_ +
                                    " FOR UPDATE");
        const auto live_position = locked[0][0].as<std::uint64_t>();
        const auto give_up = clock::now() + std::chrono::seconds(30);
        for (;;) {
            const auto target = std::max(live_position, head());
            if (report_.position >= target) break;
            auto batch = read(std::chrono::milliseconds(100));
            if (!batch.empty()) apply(tx, batch);
            else if (clock::now() > give_up)
                throw std::runtime_error("the log here ends at " + std::to_string(report_.position) +
                                         " but the live projection is at " + std::to_string(live_position));
        }
        if (held_) held_->flush(tx);
        for (const auto& table : p_.tables()) {
            const std::string t(table.name);
            tx.exec("DROP TABLE " + live_ + "." + t + "; ALTER TABLE " + shadow_ + "." + t + " SET SCHEMA " + live_);
            if (live_ == "analytics") tx.exec("GRANT SELECT ON analytics." + t + " TO dealerline_analyst");
        }
        tx.exec("DROP SCHEMA " + shadow_);
        std::string update = "UPDATE dealerline.projection_checkpoints SET position = " + std::to_string(report_.position) +
                             ", last_event_at = ";
        if (last_event_us_) sql::literal(update, sql::timestamp{last_event_us_});
        else update += "NULL";
        update += ", updated_at = now(), failed_position = NULL, error = NULL WHERE projection = " + key_;
        tx.exec(update);
        tx.commit();
        swapped_ = true;
        report_.seconds = seconds_since(started_);
        progress(true);
        spdlog::info("projection {}: rebuilt to position {} ({} events in {:.1f} s: bulk {:.1f} s, indexes {:.1f} s, swap {:.1f} s)",
                     name_, report_.position, report_.events, report_.seconds, bulk_seconds_, index_seconds_,
                     report_.seconds - bulk_seconds_ - index_seconds_);
    }

    // Events after what this rebuild has, from the source (empty: none yet).
    std::vector<storage::recorded_event> read(std::chrono::milliseconds wait) {
        auto batch = source_.read_after(report_.position, options_.batch, wait);
        if (!batch) throw std::runtime_error("cannot read the event source: " + batch.error().message);
        return std::move(*batch);
    }
    std::uint64_t head() { return options_.catch_up ? options_.catch_up() : source_.head(); }
    [[nodiscard]] std::uint64_t position() const noexcept { return report_.position; }
    [[nodiscard]] const rebuild_report& report() const noexcept { return report_; }
    [[nodiscard]] const std::string& name() const noexcept { return name_; }

private:
    void apply(pqxx::transaction_base& tx, const std::vector<storage::recorded_event>& all) {
        // Skip what this rebuild already has (a shared batch may overlap); refuse gaps.
        auto first = std::find_if(all.begin(), all.end(), [&](const auto& e) { return e.position > report_.position; });
        if (first == all.end()) return;
        if (first->position != report_.position + 1)
            throw std::runtime_error("the event source skipped from " + std::to_string(report_.position));
        const std::span<const storage::recorded_event> events(&*first, static_cast<std::size_t>(all.end() - first));
        try {
            p_.apply(tx, shadow_, events, held_.get());
        } catch (const sql::poison& e) {
            throw std::runtime_error("event " + std::to_string(e.position) + ": " + e.what());
        } catch (const pqxx::sql_error& e) {
            throw std::runtime_error("events " + std::to_string(events.front().position) + ".." +
                                     std::to_string(events.back().position) + ": " + e.what());
        }
        report_.position = events.back().position;
        report_.events += events.size();
        last_event_us_ = events.back().recorded_at_us;
    }
    void progress(bool swapped) {
        if (!options_.progress) return;
        const double s = seconds_since(started_);
        options_.progress({name_, report_.position, std::max(source_.head(), report_.position),
                           s > 0 ? static_cast<double>(report_.events) / s : 0, swapped});
    }

    const projector& p_;
    const std::string name_, live_, shadow_;
    storage::event_source& source_;
    const rebuild_options& options_;
    std::string key_;
    std::unique_ptr<pqxx::connection> conn_;
    std::unique_ptr<projector::state> held_;  // rows not written yet
    std::vector<std::string> later_;
    rebuild_report report_;
    const clock::time_point started_ = clock::now();
    std::int64_t last_event_us_ = 0;
    double bulk_seconds_ = 0, index_seconds_ = 0;
    bool swapped_ = false;
};

// A small bounded queue of shared batches, from the one reader to one rebuilder's thread.
class batch_queue {
public:
    void push(batch_ptr b) {
        std::unique_lock lock(m_);
        room_.wait(lock, [&] { return q_.size() < 2 || failed_; });
        if (failed_) return;
        q_.push_back(std::move(b));
        ready_.notify_one();
    }
    batch_ptr pop() {  // nullptr: the reader is done
        std::unique_lock lock(m_);
        ready_.wait(lock, [&] { return !q_.empty(); });
        auto b = std::move(q_.front());
        q_.pop_front();
        room_.notify_one();
        return b;
    }
    void fail() {  // the consumer gave up: never block the reader again
        std::lock_guard lock(m_);
        failed_ = true;
        q_.clear();
        room_.notify_all();
    }

private:
    std::mutex m_;
    std::condition_variable ready_, room_;
    std::deque<batch_ptr> q_;
    bool failed_ = false;
};

}  // namespace

result<rebuild_report> rebuild(const std::string& conninfo, storage::event_source& source, const std::string& name,
                               const rebuild_options& options) {
    auto all = rebuild_all(conninfo, source, {name}, options);
    if (!all) return tl::unexpected(all.error());
    return all->front();
}

result<std::vector<rebuild_report>> rebuild_all(const std::string& conninfo, storage::event_source& source,
                                               const std::vector<std::string>& which, const rebuild_options& options) {
    for (const auto& name : which)
        if (!find_projector(name)) return tl::unexpected(error{"no projection named " + name});
    std::mutex progress_lock;
    rebuild_options each = options;
    if (options.progress)
        each.progress = [&](const rebuild_progress& p) {
            std::lock_guard lock(progress_lock);
            options.progress(p);
        };

    std::vector<std::unique_ptr<rebuilder>> rebuilders;
    try {
        for (const auto& name : which) {
            rebuilders.push_back(std::make_unique<rebuilder>(*find_projector(name), conninfo, source, each));
            rebuilders.back()->prepare();
        }
    } catch (const std::exception& e) {
        return tl::unexpected(error{"rebuild of " + (rebuilders.empty() ? which.front() : rebuilders.back()->name()) +
                                    " failed: " + e.what()});
    }

    std::vector<batch_queue> queues(rebuilders.size());
    std::vector<std::string> errors(rebuilders.size());
    {
        std::vector<std::jthread> workers;
        for (std::size_t i = 0; i < rebuilders.size(); ++i)
            workers.emplace_back([&, i] {
                try {
                    while (auto batch = queues[i].pop()) rebuilders[i]->bulk(*batch);
                    rebuilders[i]->finish();
                } catch (const std::exception& e) {
                    errors[i] = "rebuild of " + rebuilders[i]->name() + " failed: " + e.what();
                    queues[i].fail();
                }
            });
        // The one reader: each batch read once, shared by every rebuilder.
        std::uint64_t position = 0;
        std::string read_error;
        for (;;) {
            auto batch = source.read_after(position, each.batch, std::chrono::milliseconds(0));
            if (!batch) {
                read_error = "cannot read the event source: " + batch.error().message;
                break;
            }
            if (batch->empty()) {
                if ((each.catch_up ? each.catch_up() : source.head()) <= position) break;
                continue;
            }
            position = batch->back().position;
            auto shared = std::make_shared<const std::vector<storage::recorded_event>>(std::move(*batch));
            for (auto& q : queues) q.push(shared);
        }
        for (auto& q : queues) q.push(nullptr);
        if (!read_error.empty()) return tl::unexpected(error{read_error});
    }
    std::vector<rebuild_report> reports;
    for (std::size_t i = 0; i < rebuilders.size(); ++i) {
        if (!errors[i].empty()) return tl::unexpected(error{errors[i]});
        reports.push_back(rebuilders[i]->report());
    }
    return reports;
}

}  // namespace dealerline::projections
