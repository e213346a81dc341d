// The runner: one thread and one connection per projection. Each batch is one transaction that
// locks the projection's checkpoint row, applies the events and moves the checkpoint, so:
// - a crash anywhere leaves rows and checkpoint consistent (exactly-once effect);
// - redelivered events (position ≤ checkpoint) are dropped before they reach a projector;
// - a rebuild's swap, or a second runner, moves the checkpoint under the row lock, and this
//   runner notices and continues from there instead of applying anything twice.
#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"
#include "projections/projections.hpp"

namespace dealerline::projections {
namespace {

using clock = std::chrono::steady_clock;

// Errors that say "try again later", not "this batch is wrong": transaction rollbacks
// (serialization, deadlock), insufficient resources (disk full), and by SQLSTATE class the
// connection (08), operator intervention (57: shutdown, cancel) and lock_not_available (55P03).
// libpqxx 6.4 leaves sqlstate() empty for some of its specific exception types, hence the types.
bool transient(const pqxx::sql_error& e) {
    if (dynamic_cast<const pqxx::transaction_rollback*>(&e) || dynamic_cast<const pqxx::insufficient_resources*>(&e))
        return true;
    const std::string& state = e.sqlstate();
    if (state.size() != 5) return false;
    const auto cls = state.substr(0, 2);
    return cls == "08" || cls == "40" || cls == "53" || cls == "57" || state == "55P03";
}

std::string checkpoint_literal(const std::string& name) {
    std::string out;
    sql::literal(out, name);
    return out;
}

}  // namespace

struct runner::impl {
    struct worker {
        const projector* p = nullptr;
        std::thread thread;
        mutable std::mutex m;
        std::uint64_t position = 0;
        std::int64_t last_event_us = 0;
        std::string state = "starting", error;
        std::optional<std::uint64_t> failed_position;
    };

    std::string conninfo;
    storage::event_source& source;
    runner_options options;
    std::vector<std::unique_ptr<worker>> workers;

    std::mutex m;
    std::condition_variable changed;  // a checkpoint moved, or stop was asked
    bool stopping = false;

    impl(std::string c, storage::event_source& s, runner_options o) : conninfo(std::move(c)), source(s), options(std::move(o)) {}

    bool stop_requested() {
        std::lock_guard lock(m);
        return stopping;
    }
    // Sleeps up to `d`; false when stop was asked meanwhile.
    bool pause(std::chrono::milliseconds d) {
        std::unique_lock lock(m);
        return !changed.wait_for(lock, d, [&] { return stopping; });
    }
    void set(worker& w, std::string state, std::string error = {}, std::optional<std::uint64_t> failed = std::nullopt) {
        std::lock_guard lock(w.m);
        w.state = std::move(state);
        w.error = std::move(error);
        w.failed_position = failed;
    }
    void advanced(worker& w, std::uint64_t position, std::int64_t last_event_us) {
        {
            std::lock_guard lock(w.m);
            w.position = position;
            if (last_event_us) w.last_event_us = last_event_us;
            w.state = "running";
            w.error.clear();
            w.failed_position.reset();
        }
        std::lock_guard lock(m);
        changed.notify_all();
    }

    // Reads (and creates) the checkpoint row: position, and the error recorded by a failed run.
    static std::pair<std::uint64_t, std::optional<std::uint64_t>> read_checkpoint(pqxx::connection& c,
                                                                                  const std::string& name) {
        pqxx::work tx(c);
        const auto key = checkpoint_literal(name);
        tx.exec("INSERT INTO dealerline.projection_checkpoints (projection) VALUES (" + key + ") ON CONFLICT DO NOTHING");
        const auto r = tx.exec("SELECT position, failed_position FROM dealerline.projection_checkpoints WHERE projection = " + key);
        tx.commit();
        std::optional<std::uint64_t> failed;
        if (!r[0][1].is_null()) failed = r[0][1].as<std::uint64_t>();
        return {r[0][0].as<std::uint64_t>(), failed};
    }

    // One batch, one transaction. Returns the checkpoint afterwards (which may have been moved
    // by someone else, in which case nothing was applied).
    std::uint64_t apply(pqxx::connection& c, const projector& p, std::uint64_t position,
                        std::span<const storage::recorded_event> events) {
        pqxx::work tx(c);
        const auto key = checkpoint_literal(std::string(p.name()));
        const auto r = tx.exec("SELECT position FROM dealerline.projection_checkpoints WHERE projection = " + key + " FOR UPDATE");
        const auto stored = r.empty() ? 0 : r[0][0].as<std::uint64_t>();
        if (stored != position) return stored;  // rolled back by tx's destructor
        p.apply(tx, std::string(p.schema()), events);
        const auto& last = events.back();
        std::string update = "UPDATE dealerline.projection_checkpoints SET position = " + std::to_string(last.position) +
                             ", last_event_at = ";
        sql::literal(update, sql::timestamp{last.recorded_at_us});
        update += ", updated_at = now(), failed_position = NULL, error = NULL WHERE projection = " + key;
        tx.exec(update);
        tx.commit();
        return last.position;
    }

    void record_failure(pqxx::connection& c, const std::string& name, std::uint64_t at, const std::string& why) {
        try {
            pqxx::work tx(c);
            std::string update = "UPDATE dealerline.projection_checkpoints SET failed_position = " + std::to_string(at) + ", error = ";
            sql::literal(update, why.find('\0') == std::string::npos ? why : std::string("(unprintable error)"));
            tx.exec(update + ", updated_at = now() WHERE projection = " + checkpoint_literal(name));
            tx.commit();
        } catch (const std::exception& e) {
            spdlog::warn("projection {}: cannot record its failure: {}", name, e.what());
        }
    }

    void run(worker& w) {
        const projector& p = *w.p;
        const std::string name(p.name());
        std::unique_ptr<pqxx::connection> conn;
        std::uint64_t position = 0;
        std::uint64_t isolate_until = 0;  // apply one event at a time up to here, to find a poison event
        std::chrono::milliseconds backoff{100};
        auto back_off = [&](const std::string& why) {
            set(w, "reconnecting", why);
            spdlog::warn("projection {}: {}; retrying in {} ms", name, why, backoff.count());
            conn.reset();
            pause(backoff);
            backoff = std::min(backoff * 2, options.max_backoff);
        };

        while (!stop_requested()) {
            if (!conn) {
                try {
                    conn = connect(conninfo, options.application_name + "/" + name);
                    position = read_checkpoint(*conn, name).first;
                } catch (const std::exception& e) {
                    back_off(std::string("cannot start: ") + e.what());
                    continue;
                }
                {
                    std::lock_guard lock(w.m);
                    w.position = position;
                }
                set(w, "running");
                backoff = std::chrono::milliseconds{100};
                spdlog::info("projection {}: running from position {}", name, position);
            }
            std::vector<storage::recorded_event> batch;
            try {
                const std::size_t max = isolate_until > position ? 1 : options.max_batch;
                auto read = source.read_after(position, max, options.max_wait);
                if (!read) {
                    back_off("cannot read the event source: " + read.error().message);
                    continue;
                }
                batch = std::move(*read);
                // Redelivery (a JetStream consumer may send events again) never reaches a projector.
                std::erase_if(batch, [&](const storage::recorded_event& e) { return e.position <= position; });
                if (batch.empty()) continue;
                if (batch.front().position != position + 1) {
                    back_off("the event source skipped from " + std::to_string(position) + " to " +
                             std::to_string(batch.front().position));
                    continue;
                }
                const auto after = apply(*conn, p, position, batch);
                if (after != batch.back().position) {
                    spdlog::info("projection {}: checkpoint moved from {} to {} elsewhere (a rebuild?); continuing from there",
                                 name, position, after);
                    position = after;
                    std::lock_guard lock(w.m);
                    w.position = position;
                    continue;
                }
                position = after;
                advanced(w, position, batch.back().recorded_at_us);
            } catch (const pqxx::broken_connection& e) {
                back_off(std::string("PostgreSQL connection lost: ") + e.what());
            } catch (const pqxx::in_doubt_error& e) {
                back_off(std::string("commit in doubt, re-reading the checkpoint: ") + e.what());
            } catch (const pqxx::sql_error& e) {
                if (transient(e)) back_off(std::string("PostgreSQL error ") + e.sqlstate() + ": " + e.what());
                else fail_or_isolate(w, conn, position, batch, isolate_until, e.what());
            } catch (const sql::poison& e) {
                fail_or_isolate(w, conn, position, batch, isolate_until, e.what(), e.position);
            } catch (const std::exception& e) {
                fail_or_isolate(w, conn, position, batch, isolate_until, e.what());
            }
        }
        std::lock_guard lock(w.m);
        if (w.state != "failed") w.state = "stopped";
    }

    // A batch failed for a reason that retrying will not fix. With more than one event, find
    // which: apply them one at a time. With one, it is a poison event: stop this projection (the
    // others go on), say where and why, and wait for a rebuild or a restart with fixed code.
    void fail_or_isolate(worker& w, std::unique_ptr<pqxx::connection>& conn, std::uint64_t& position,
                         const std::vector<storage::recorded_event>& batch, std::uint64_t& isolate_until,
                         const std::string& why, std::optional<std::uint64_t> at = std::nullopt) {
        const std::string name(w.p->name());
        if (batch.size() > 1) {
            isolate_until = batch.back().position;
            spdlog::warn("projection {}: batch {}..{} failed ({}); applying its events one by one", name,
                         batch.front().position, batch.back().position, why);
            return;
        }
        const std::uint64_t poison = at.value_or(batch.empty() ? position + 1 : batch.front().position);
        spdlog::error("projection {}: stopped at event {}: {}", name, poison, why);
        set(w, "failed", why, poison);
        if (conn) record_failure(*conn, name, poison, why);
        // Wait until the checkpoint moves (a rebuild swapped in fixed tables) or stop.
        while (pause(std::chrono::seconds(2))) {
            try {
                if (!conn) conn = connect(conninfo, options.application_name + "/" + name);
                const auto [now, failed] = read_checkpoint(*conn, name);
                if (now != position || !failed) {
                    spdlog::info("projection {}: checkpoint is now {}; resuming", name, now);
                    position = now;
                    isolate_until = 0;
                    {
                        std::lock_guard lock(w.m);
                        w.position = position;
                    }
                    set(w, "running");
                    return;
                }
            } catch (const std::exception&) {
                conn.reset();
            }
        }
    }
};

runner::runner(std::string conninfo, storage::event_source& source, runner_options options)
    : impl_(std::make_unique<impl>(std::move(conninfo), source, std::move(options))) {
    for (const auto& p : all_projectors()) {
        const auto& only = impl_->options.only;
        if (!only.empty() && std::find(only.begin(), only.end(), p->name()) == only.end()) continue;
        auto w = std::make_unique<impl::worker>();
        w->p = p.get();
        impl_->workers.push_back(std::move(w));
    }
}

runner::~runner() { stop(); }

void runner::start() {
    for (auto& w : impl_->workers)
        if (!w->thread.joinable()) w->thread = std::thread([this, &w = *w] { impl_->run(w); });
}

void runner::stop() {
    {
        std::lock_guard lock(impl_->m);
        impl_->stopping = true;
        impl_->changed.notify_all();
    }
    for (auto& w : impl_->workers)
        if (w->thread.joinable()) w->thread.join();
}

std::vector<status> runner::statuses() const {
    const auto head = impl_->source.head();
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    std::vector<status> out;
    for (const auto& w : impl_->workers) {
        std::lock_guard lock(w->m);
        status s;
        s.name = std::string(w->p->name());
        s.position = w->position;
        s.head = head;
        s.lag_events = head > w->position ? head - w->position : 0;
        if (w->last_event_us) s.newest_event_age_seconds = static_cast<double>(now_us - w->last_event_us) / 1e6;
        s.state = w->state;
        s.error = w->error;
        s.failed_position = w->failed_position;
        out.push_back(std::move(s));
    }
    return out;
}

bool runner::wait_for(std::uint64_t position, clock::time_point deadline) const {
    auto reached = [&] {
        for (const auto& w : impl_->workers) {
            std::lock_guard lock(w->m);
            if (w->state != "failed" && w->position < position) return false;
        }
        return true;
    };
    std::unique_lock lock(impl_->m);
    while (!reached()) {
        if (impl_->changed.wait_until(lock, std::min(deadline, clock::now() + std::chrono::milliseconds(50))) ==
                std::cv_status::timeout &&
            clock::now() >= deadline)
            return reached();
    }
    return true;
}

}  // namespace dealerline::projections
