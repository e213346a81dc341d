// Billing and payment import at scale, each beside a plain command path in the same run
// (docs/benchmarks.md):
//  - a billing run over N subscriptions (one period each) with the process managers issuing the
//    invoices: periods billed per second and invoices per second — then a second run, which must
//    append nothing — vs the same number of plain commands (StartSubscription) through the
//    handler on as many threads;
//  - `dealerline payments import` of an N-line CSV (payments allocated to the dealers' invoices
//    before it exits) — then the same file again, which must record nothing.
//
//   build/release/tools/bench/bench_billing [--subscriptions 100000] [--payments 100000] [--dir /var/tmp]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "commands/handler.hpp"
#include "commands/process_managers.hpp"
#include "commands/schedulers.hpp"
#include "domain/time.hpp"

namespace {

using namespace dealerline;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(clock_type::time_point t0) { return std::chrono::duration<double>(clock_type::now() - t0).count(); }

// Sends `count` commands made by `make(i)` on `threads` threads; returns the seconds it took.
template <class Make>
double in_parallel(commands::handler& h, std::size_t count, std::size_t threads, const domain::actor& who, Make make) {
    std::atomic<std::size_t> next{0}, failed{0};
    const auto t0 = clock_type::now();
    std::vector<std::thread> pool;
    for (std::size_t t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (std::size_t i; (i = next++) < count;)
                if (!h.handle({"setup-" + std::to_string(i), make(i), who, std::nullopt, ""})) ++failed;
        });
    for (auto& t : pool) t.join();
    if (failed) std::fprintf(stderr, "%zu commands failed\n", failed.load());
    return seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
    spdlog::set_level(spdlog::level::warn);
    CLI::App app{"dealerline billing and payment import at scale"};
    std::size_t subscriptions = 100'000, payments = 100'000, threads = 16;
    std::string dir = "/var/tmp", bin = DEALERLINE_BIN;
    app.add_option("--subscriptions", subscriptions);
    app.add_option("--payments", payments);
    app.add_option("--threads", threads, "Billing threads, and the threads of the plain-command comparison");
    app.add_option("--dir", dir);
    CLI11_PARSE(app, argc, argv);

    const fs::path data = fs::path(dir) / ("dealerline-bench-billing-" + std::to_string(::getpid()));
    fs::remove_all(data);
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const auto today = domain::date_of(now_us);
    const auto start = domain::date_from_days(*domain::parse_date(today) - 10);  // one period has started for each
    const domain::actor admin{domain::role::admin, "bench", {}}, accountant{domain::role::accountant, "acc", {}};
    constexpr int dealers = 100;
    {
        auto log = storage::event_log::open(data / "log");
        if (!log) return std::fprintf(stderr, "%s\n", log.error().message.c_str()), 1;
        commands::handler h(**log);
        for (int d = 0; d < dealers; ++d)
            (void)h.handle({"d-" + std::to_string(d), domain::dealer_command{domain::register_dealer{"D-" + std::to_string(d), "Dealer", "EUR", 30, 0}},
                            admin, std::nullopt, ""});
        // The comparison: plain commands, one event each, on as many threads.
        const double plain = in_parallel(h, subscriptions, threads, accountant, [&](std::size_t i) {
            return domain::any_command{domain::subscription_command{domain::start_subscription{
                "S-" + std::to_string(i), "D-" + std::to_string(i % dealers), "PBX", 3000 + static_cast<std::int64_t>(i % 7) * 100, "monthly", start}}};
        });
        std::printf("setup: %zu StartSubscription commands on %zu threads: %.1f s = %.0f commands/s (the plain path)\n", subscriptions, threads,
                    plain, static_cast<double>(subscriptions) / plain);

        commands::manager_runner managers(**log, h);
        managers.start();
        const auto head0 = (*log)->head_position();
        (void)managers.wait_for(head0, clock_type::now() + std::chrono::minutes(10));  // the managers' fold of the setup
        auto t0 = clock_type::now();
        auto first = commands::run_billing(**log, h, today, threads);
        const double billed_s = seconds_since(t0);
        (void)managers.wait_until_idle(clock_type::now() + std::chrono::minutes(10));
        const double invoiced_s = seconds_since(t0);
        const auto head1 = (*log)->head_position();
        t0 = clock_type::now();
        auto second = commands::run_billing(**log, h, today, threads);
        const double second_s = seconds_since(t0);
        const auto head2 = (*log)->head_position();
        managers.stop();
        if (!first || !second) return std::fprintf(stderr, "billing failed\n"), 1;
        std::printf("billing run 1: %llu periods billed in %.1f s = %.0f periods/s; with the invoices issued by the process managers: %.1f s = %.0f "
                    "invoices/s (%llu events appended)\n",
                    static_cast<unsigned long long>(first->billed), billed_s, static_cast<double>(first->billed) / billed_s, invoiced_s,
                    static_cast<double>(first->billed) / invoiced_s, static_cast<unsigned long long>(head1 - head0));
        std::printf("billing run 2: %llu billed, %llu events appended, %.1f s (folding %llu subscriptions)\n",
                    static_cast<unsigned long long>(second->billed), static_cast<unsigned long long>(head2 - head1), second_s,
                    static_cast<unsigned long long>(second->subscriptions));
    }
    // The import, through the real command line, on the same log (every dealer has invoices now).
    const auto csv = (data / "bank.csv").string();
    {
        std::ofstream out(csv);
        out << "dealer_id,amount,method,received_at,external_ref\n";
        for (std::size_t i = 0; i < payments; ++i) out << "D-" << i % dealers << ",12.34,bank," << today << ",BANK-" << i << "\n";
    }
    for (int run = 1; run <= 2; ++run) {
        const auto t0 = clock_type::now();
        const std::string command = bin + " payments import " + csv + " --data " + (data / "log").string() + " 2>&1";
        const int status = std::system(command.c_str());
        const double s = seconds_since(t0);
        std::printf("payments import run %d (%zu lines, exit %d): %.1f s = %.0f lines/s\n", run, payments, WEXITSTATUS(status), s,
                    static_cast<double>(payments) / s);
    }
    fs::remove_all(data);
    return 0;
}
