// `dealerline projections (migrate|status|rebuild NAME|all|run)`: the operator's handle on the
// read models. The log is opened as a read-only follower, so all of it is safe beside `serve`.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <thread>

#include <unistd.h>

#include <CLI/CLI.hpp>

#include "projections/projections.hpp"
#include "storage/event_log.hpp"
#include "storage/event_source.hpp"
#include "tools/cli.hpp"

namespace dealerline::tools {
namespace {

std::atomic<bool> interrupted{false};
extern "C" void on_signal(int) { interrupted = true; }

struct projection_options {
    std::string data, postgres, name;
    std::size_t batch = 20000;    // rebuild
    std::size_t run_batch = 1000;  // run
};

storage::result<std::unique_ptr<storage::event_log>> open_follower(const std::string& data) {
    storage::log_options options;
    options.read_only = true;
    options.follow = true;
    options.create_if_missing = false;
    return storage::event_log::open(data, options);
}

int fail(const std::string& what, const std::string& why) {
    std::cerr << "dealerline projections " << what << ": " << why << '\n';
    return exit_failed;
}

int run_migrate(const projection_options& o) {
    auto applied = projections::migrate(o.postgres);
    if (!applied) return fail("migrate", applied.error().message);
    if (applied->empty()) std::cout << "schema is up to date\n";
    for (int v : *applied) std::cout << "applied migration " << v << '\n';
    return exit_ok;
}

int run_status(const projection_options& o) {
    auto log = open_follower(o.data);
    if (!log) return fail("status", log.error().message);
    auto statuses = projections::read_status(o.postgres, (*log)->head_position());
    if (!statuses) return fail("status", statuses.error().message);
    std::printf("%-18s %10s %10s %12s  %s\n", "projection", "position", "lag", "newest age", "state");
    bool failed = false;
    for (const auto& s : *statuses) {
        const std::string age = s.newest_event_age_seconds ? std::to_string(static_cast<long long>(*s.newest_event_age_seconds)) + " s" : "-";
        std::printf("%-18s %10llu %10llu %12s  %s", s.name.c_str(), static_cast<unsigned long long>(s.position),
                    static_cast<unsigned long long>(s.lag_events), age.c_str(), s.state.c_str());
        if (s.failed_position) std::printf(" at event %llu: %s", static_cast<unsigned long long>(*s.failed_position), s.error.c_str());
        std::printf("\n");
        failed = failed || s.state == "failed";
    }
    return failed ? exit_failed : exit_ok;
}

int run_rebuild(const projection_options& o) {
    std::vector<std::string> which;
    if (o.name == "all") which = projections::names();
    else if (std::find(projections::names().begin(), projections::names().end(), o.name) != projections::names().end())
        which = {o.name};
    else {
        std::string known;
        for (const auto& n : projections::names()) known += " " + n;
        std::cerr << "dealerline projections rebuild: no projection named " << o.name << " (known: all" << known << ")\n";
        return exit_usage;
    }
    if (auto m = projections::migrate(o.postgres); !m) return fail("rebuild", m.error().message);
    auto log = open_follower(o.data);
    if (!log) return fail("rebuild", log.error().message);
    storage::following_event_source source(**log);

    // All of them rebuild at once; the line shows the one furthest behind.
    const bool terminal = ::isatty(STDERR_FILENO) != 0;
    auto last_line = std::chrono::steady_clock::now();
    std::map<std::string, projections::rebuild_progress> where;
    projections::rebuild_options options;
    options.batch = o.batch;
    options.catch_up = [&] { return source.catch_up().value_or((*log)->head_position()); };
    options.progress = [&](const projections::rebuild_progress& p) {  // called under a lock
        where[p.name] = p;
        if (p.swapped) {
            std::fprintf(stderr, "%s%-18s swapped in at position %llu (%.0f events/s)\n", terminal ? "\r\033[K" : "",
                         p.name.c_str(), static_cast<unsigned long long>(p.position), p.events_per_second);
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        if (now - last_line < (terminal ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000))) return;
        last_line = now;
        const projections::rebuild_progress* slowest = &p;
        for (const auto& [_, q] : where)
            if (!q.swapped && q.position < slowest->position) slowest = &q;
        const double pct = slowest->head ? 100.0 * static_cast<double>(slowest->position) / static_cast<double>(slowest->head) : 100.0;
        std::fprintf(stderr, "%srebuilding %zu: slowest %s at %llu / %llu events (%.1f%%)%s", terminal ? "\r\033[K" : "",
                     which.size(), slowest->name.c_str(), static_cast<unsigned long long>(slowest->position),
                     static_cast<unsigned long long>(slowest->head), pct, terminal ? "" : "\n");
        std::fflush(stderr);
    };
    auto reports = projections::rebuild_all(o.postgres, source, which, options);
    if (!reports) return fail("rebuild", reports.error().message);
    for (const auto& r : *reports)
        std::printf("%s rebuilt: position %llu, %llu events in %.2f s\n", r.name.c_str(), static_cast<unsigned long long>(r.position),
                    static_cast<unsigned long long>(r.events), r.seconds);
    return exit_ok;
}

int run_runner(const projection_options& o) {
    if (auto m = projections::migrate(o.postgres); !m) return fail("run", m.error().message);
    auto log = open_follower(o.data);
    if (!log) return fail("run", log.error().message);
    storage::following_event_source source(**log);
    projections::runner_options options;
    options.max_batch = o.run_batch;
    if (!o.name.empty() && o.name != "all") {
        if (std::find(projections::names().begin(), projections::names().end(), o.name) == projections::names().end()) {
            std::cerr << "dealerline projections run: no projection named " << o.name << '\n';
            return exit_usage;
        }
        options.only = {o.name};
    }
    projections::runner runner(o.postgres, source, options);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    runner.start();
    std::cerr << "dealerline projections run: applying the log to PostgreSQL (Ctrl-C stops)\n";
    while (!interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    runner.stop();  // every projection stops at a committed checkpoint
    return exit_ok;
}

}  // namespace

void add_projections(CLI::App& app, int& status) {
    auto* cmd = app.add_subcommand("projections", "PostgreSQL read models: migrate, status, rebuild, run");
    cmd->require_subcommand(1);
    auto o = std::make_shared<projection_options>();
    auto postgres = [&](CLI::App* sub) {
        sub->add_option("--postgres", o->postgres, "PostgreSQL connection string (libpq conninfo or URI)")
            ->envname("DEALERLINE_POSTGRES")
            ->required();
    };
    auto data = [&](CLI::App* sub) {
        sub->add_option("--data", o->data, "The event log's folder")->envname("DEALERLINE_DATA")->required();
    };

    auto* migrate = cmd->add_subcommand("migrate", "Apply the schema migrations that are not applied yet");
    postgres(migrate);
    migrate->callback([o, &status] { status = run_migrate(*o); });

    auto* st = cmd->add_subcommand("status", "Checkpoint, lag and state of every projection (exit 1 if one failed)");
    data(st);
    postgres(st);
    st->callback([o, &status] { status = run_status(*o); });

    auto* rebuild = cmd->add_subcommand("rebuild", "Rebuild a projection (or all) into shadow tables and swap them in");
    rebuild->add_option("name", o->name, "A projection's name, or all")->required();
    data(rebuild);
    postgres(rebuild);
    rebuild->add_option("--batch", o->batch, "Events per transaction (default 20000)")
        ->envname("DEALERLINE_REBUILD_BATCH")
        ->check(CLI::Range(1, 100000));
    rebuild->callback([o, &status] { status = run_rebuild(*o); });

    auto* run = cmd->add_subcommand("run", "Keep the projections current until stopped (a projector process)");
    run->add_option("name", o->name, "Only this projection (default: all)");
    data(run);
    postgres(run);
    run->add_option("--batch", o->run_batch, "Most events per transaction")
        ->envname("DEALERLINE_PROJECTION_BATCH")
        ->check(CLI::Range(1, 100000));
    run->callback([o, &status] { status = run_runner(*o); });
}

}  // namespace dealerline::tools
