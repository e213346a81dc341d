// `dealerline serve`: the embedded default — event log, command handler, process managers,
// projections and the HTTP API in one process (API.md "Command line"). Fails fast on bad configuration; SIGINT or
// SIGTERM stops it gracefully: no new connections, in-flight commands answered (acknowledged
// ones are durable), projections stopped at a committed checkpoint.
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>
#include <iostream>
#include <string>
#include <vector>

#include <pthread.h>

#include <CLI/CLI.hpp>

#include "api/auth.hpp"
#include "api/server.hpp"
#include "commands/handler.hpp"
#include "commands/process_managers.hpp"
#include "commands/schedulers.hpp"
#include "domain/time.hpp"
#include "projections/projections.hpp"
#include "projections/queries.hpp"
#include "storage/event_log.hpp"
#include "storage/event_source.hpp"
#include "tools/cli.hpp"

namespace dealerline::tools {
namespace {

// For `--demo` only: a known secret, so the demo can print tokens. Never for real use.
constexpr std::string_view demo_secret = "dealerline-demo-secret-do-not-use-in-production";

struct serve_options {
    std::string data, postgres, listen = "127.0.0.1:8080", secret;
    bool demo = false;
    std::size_t io_threads = 0;
    std::vector<std::string> allowed_origins;
    double rate_limit = 200;
    std::size_t max_connections = 10'000, max_live_per_dealer = 50;
    std::size_t billing_interval = 3600;  // seconds between scheduler runs; 0: never
    std::uint64_t min_free_bytes = 1ull << 30;
};

int run_serve(serve_options o) {
    auto fail = [](const std::string& why) {
        std::cerr << "dealerline serve: " << why << '\n';
        return exit_failed;
    };
    if (o.secret.empty()) {
        if (!o.demo) {
            std::cerr << "dealerline serve: --jwt-secret (or DEALERLINE_JWT_SECRET) is required; --demo runs with a known, insecure one\n";
            return exit_usage;
        }
        o.secret = demo_secret;
        std::cerr << "dealerline serve: DEMO MODE, tokens are signed with a publicly known secret\n";
    }
    if (o.secret.size() < api::min_secret_bytes) {
        std::cerr << "dealerline serve: the JWT secret must be at least " << api::min_secret_bytes << " bytes\n";
        return exit_usage;
    }
    const auto colon = o.listen.rfind(':');
    api::server_options options;
    try {
        if (colon == std::string::npos) throw std::invalid_argument("no port");
        options.host = o.listen.substr(0, colon);
        const auto port = std::stoul(o.listen.substr(colon + 1));
        if (port > 65535) throw std::out_of_range("port");
        options.port = static_cast<std::uint16_t>(port);
    } catch (const std::exception&) {
        std::cerr << "dealerline serve: --listen must be HOST:PORT, e.g. 127.0.0.1:8080\n";
        return exit_usage;
    }
    options.jwt_secret = o.secret;
    options.postgres = o.postgres;
    if (o.io_threads) options.io_threads = o.io_threads;
    options.allowed_origins = o.allowed_origins;
    options.rate_limit = o.rate_limit;
    options.rate_burst = 2 * o.rate_limit;
    options.max_connections = o.max_connections;
    options.max_live_per_dealer = o.max_live_per_dealer;

    // Signals are taken by sigwait below, so every thread started from here on blocks them.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    if (auto m = projections::migrate(o.postgres); !m) return fail(m.error().message);
    storage::log_options log_options;
    log_options.min_free_bytes = o.min_free_bytes;
    auto log = storage::event_log::open(o.data, std::move(log_options));
    if (!log) return fail(log.error().message);
    commands::handler handler(**log);
    // Every consumer of committed events reads them from one source: here the log's own tail
    // (a NATS JetStream source takes its place when the writer runs elsewhere: DESIGN.md).
    storage::local_event_source source(**log);
    commands::manager_runner managers(**log, handler, {}, &source);  // fulfilment, claim compensation, payment allocation
    managers.start();
    projections::runner runner(o.postgres, source);
    runner.start();
    projections::queries reads(o.postgres);
    // The schedulers' thread reports here; /readyz and /metrics show it beside the managers.
    std::mutex scheduler_health_m;
    api::component_health scheduler_health;
    options.background.push_back({"process_managers", [&managers] {
                                      const auto h = managers.health();
                                      return api::component_health{h.problem, h.errors};
                                  }});
    options.background.push_back({"schedulers", [&] {
                                      std::lock_guard lock(scheduler_health_m);
                                      return scheduler_health;
                                  }});
    api::server server(options, **log, handler, &runner, &reads, &source);
    try {
        server.start();
    } catch (const std::exception& e) {
        return fail(e.what());
    }
    std::cerr << "dealerline serve: listening on http://" << options.host << ":" << server.port() << " (log " << o.data
              << ", head " << (*log)->head_position() << ")\n";
    // The schedulers: subscription billing and overdue invoices, now and then every interval.
    std::mutex scheduler_m;
    std::condition_variable scheduler_cv;
    bool stopping = false;
    std::thread scheduler([&] {
        if (o.billing_interval == 0) return;
        std::unique_lock lock(scheduler_m);
        while (!stopping) {
            lock.unlock();
            // The thread's last resort: a run that fails or throws is logged, counted, shown in
            // /readyz, and tried again at the next interval (billing and overdue runs repeat
            // nothing they did before).
            std::string problem;
            try {
                const auto today = domain::date_of(std::chrono::duration_cast<std::chrono::microseconds>(
                                                       std::chrono::system_clock::now().time_since_epoch())
                                                       .count());
                auto b = commands::run_billing(**log, handler, today);
                if (!b) problem = "billing: " + b.error().message;
                else if (b->billed || b->refused)
                    std::cerr << "dealerline serve: billing: " << b->billed << " periods billed, " << b->refused << " refused\n";
                auto d = commands::run_overdue(**log, handler, today);
                if (!d) problem = "overdue invoices: " + d.error().message;
                else if (d->marked) std::cerr << "dealerline serve: " << d->marked << " invoices overdue\n";
            } catch (const std::exception& e) {
                problem = std::string("the schedulers failed: ") + e.what();
            }
            {
                std::lock_guard health(scheduler_health_m);
                if (!problem.empty()) {
                    ++scheduler_health.errors;
                    std::cerr << "dealerline serve: " << problem << "; trying again in " << o.billing_interval << " s\n";
                }
                scheduler_health.problem = problem;
            }
            lock.lock();
            scheduler_cv.wait_for(lock, std::chrono::seconds(o.billing_interval), [&] { return stopping; });
        }
    });
    int signal = 0;
    sigwait(&stop_signals, &signal);
    {
        std::lock_guard lock(scheduler_m);
        stopping = true;
    }
    scheduler_cv.notify_all();
    scheduler.join();
    std::cerr << "dealerline serve: " << (signal == SIGTERM ? "SIGTERM" : "SIGINT") << ", stopping\n";
    server.stop();
    managers.stop();
    runner.stop();
    return exit_ok;
}

}  // namespace

void add_serve(CLI::App& app, int& status) {
    auto* cmd = app.add_subcommand("serve", "Run the server: event log, commands, projections and the HTTP API in one process");
    auto o = std::make_shared<serve_options>();
    cmd->add_option("--data", o->data, "The event log's folder (created if missing)")->envname("DEALERLINE_DATA")->required();
    cmd->add_option("--postgres", o->postgres, "PostgreSQL connection string for the read models")
        ->envname("DEALERLINE_POSTGRES")
        ->required();
    cmd->add_option("--listen", o->listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0: any free one)")
        ->envname("DEALERLINE_LISTEN");
    cmd->add_option("--jwt-secret", o->secret, "Secret that signs bearer tokens (at least 32 bytes)")->envname("DEALERLINE_JWT_SECRET");
    cmd->add_flag("--demo", o->demo, "Allow running without a secret (a publicly known one is used): demos only")
        ->envname("DEALERLINE_DEMO");
    cmd->add_option("--io-threads", o->io_threads, "Threads for network I/O (default: the number of cores)")
        ->envname("DEALERLINE_IO_THREADS")
        ->check(CLI::Range(1, 256));
    cmd->add_option("--allowed-origin", o->allowed_origins,
                    "A web origin allowed to open the live feed besides our own page (repeatable), e.g. https://portal.example.com")
        ->envname("DEALERLINE_ALLOWED_ORIGINS")
        ->delimiter(',');
    cmd->add_option("--rate-limit", o->rate_limit, "Requests per second per token (twice that as a burst); 0: no limit")
        ->envname("DEALERLINE_RATE_LIMIT")
        ->check(CLI::Range(0.0, 1e9));
    cmd->add_option("--max-connections", o->max_connections,
                    "Open connections at most (default 10000; lowered to what the process's file limit allows)")
        ->envname("DEALERLINE_MAX_CONNECTIONS")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1'000'000}));
    cmd->add_option("--min-free-bytes", o->min_free_bytes,
                    "Refuse appends (503) while the log's disk has less free space than this (default 1 GiB; 0: no floor)")
        ->envname("DEALERLINE_MIN_FREE_BYTES");
    cmd->add_option("--max-live-per-dealer", o->max_live_per_dealer, "Live-feed sockets one dealer may hold open (default 50)")
        ->envname("DEALERLINE_MAX_LIVE_PER_DEALER")
        ->check(CLI::Range(std::size_t{1}, std::size_t{100'000}));
    cmd->add_option("--billing-interval", o->billing_interval,
                    "Seconds between runs of subscription billing and overdue marking (default 3600; 0: never)")
        ->envname("DEALERLINE_BILLING_INTERVAL");
    cmd->callback([o, &status] { status = run_serve(*o); });
}

}  // namespace dealerline::tools
