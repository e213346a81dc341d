// `dealerline billing run --data DIR [--until YYYY-MM-DD]`: the schedulers as a one-shot run on a
// log no server holds: bills every subscription period that has started by `until` (default
// today), marks unpaid invoices past due overdue, and lets the process managers turn the billed
// periods into invoices before it exits. Safe to repeat: each period is billed once.
#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands/handler.hpp"
#include "commands/process_managers.hpp"
#include "commands/schedulers.hpp"
#include "domain/time.hpp"
#include "storage/event_log.hpp"
#include "tools/cli.hpp"

namespace dealerline::tools {
namespace {

struct billing_options {
    std::string data, until;
    std::size_t threads = 16;
};

int run_billing(const billing_options& o) {
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    const auto today = domain::date_of(now_us);
    const auto until = o.until.empty() ? today : o.until;
    if (!domain::parse_date(until)) {
        std::cerr << "dealerline billing run: --until must be a date as YYYY-MM-DD\n";
        return exit_usage;
    }
    if (until > today) {
        std::cerr << "dealerline billing run: --until " << until << " is after today (" << today
                  << "): periods are billed once they have started\n";
        return exit_usage;
    }
    auto log = storage::event_log::open(o.data, {.create_if_missing = false});
    if (!log) {
        std::cerr << "dealerline billing run: " << log.error().message << " (a running server bills by itself)\n";
        return exit_failed;
    }
    commands::handler handler(**log);
    commands::manager_runner managers(**log, handler);
    managers.start();
    auto billed = commands::run_billing(**log, handler, until, o.threads);
    auto overdue = commands::run_overdue(**log, handler, until);
    // The invoices of what was billed: the managers catch up with everything appended.
    (void)managers.wait_until_idle(std::chrono::steady_clock::now() + std::chrono::minutes(10));
    managers.stop();
    if (!billed || !overdue) {
        std::cerr << "dealerline billing run: " << (!billed ? billed.error().message : overdue.error().message) << '\n';
        return exit_failed;
    }
    std::cout << "billing until " << until << ": " << billed->subscriptions << " subscriptions, " << billed->billed << " periods billed, "
              << billed->already << " already billed, " << billed->skipped << " skipped (paused), " << billed->refused << " refused; "
              << overdue->marked << " of " << overdue->invoices << " open invoices marked overdue\n";
    return billed->refused ? exit_failed : exit_ok;
}

}  // namespace

void add_billing(CLI::App& app, int& status) {
    auto* billing = app.add_subcommand("billing", "Subscription billing and overdue invoices");
    billing->require_subcommand(1);
    auto* run = billing->add_subcommand("run", "Bill every period started by --until; mark unpaid invoices past due overdue");
    auto o = std::make_shared<billing_options>();
    run->add_option("--data", o->data, "Event log folder (not held by a running server)")->required()->envname("DEALERLINE_DATA");
    run->add_option("--until", o->until, "Bill periods starting on or before this date (YYYY-MM-DD; default today, never later)");
    run->add_option("--threads", o->threads, "Subscriptions billed side by side (default 16)")->check(CLI::Range(1, 256));
    run->callback([o, &status] { status = run_billing(*o); });
}

}  // namespace dealerline::tools
