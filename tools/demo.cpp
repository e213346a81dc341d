// `dealerline demo`: the smoke that the README's first command runs until the server exists: one
// order's life, command by command, through the real command handler into the event log, each
// command sent twice (the second time is a client's retry and must change nothing).
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "commands/handler.hpp"
#include "domain/stream_name.hpp"
#include "domain/time.hpp"
#include "storage/event_log.hpp"
#include "tools/cli.hpp"

namespace dealerline::tools {
namespace {

using namespace domain;

int run_demo(const std::string& data) {
    auto opened = storage::event_log::open(data);
    if (!opened) {
        std::cerr << "dealerline demo: " << opened.error().message << '\n';
        return exit_failed;
    }
    auto& log = **opened;
    commands::handler handler(log);
    const std::string dealer_id = "D-0042";
    const std::string order_id = "O-" + std::to_string(1001 + log.head_position());
    const actor admin{role::admin, "admin-1", {}}, dealer{role::dealer, dealer_id, dealer_id};
    const actor engineer{role::engineer, "eng-7", {}}, production{role::production, "prod-3", {}}, logistics{role::logistics, "log-1", {}};

    struct step {
        const char* label;
        domain::any_command command;
        actor by;
        std::string command_id;
    };
    const step steps[] = {
        // The same command id on every run: registered once, a duplicate afterwards.
        {"register the dealer", dealer_command{register_dealer{dealer_id, "Okna Kowalski", "EUR", 30, 5'000'000}}, admin,
         "register-" + dealer_id},
        {"dealer places the order",
         order_command{place_order{order_id, dealer_id, "EUR", {{"WIN-1200x1400", "Window 1200x1400", 4, 18900}}, "Main St 1", std::nullopt}},
         dealer, order_id + "-place"},
        {"engineer accepts", order_command{accept_order{order_id, "2026-12-01"}}, engineer, order_id + "-accept"},
        {"production starts", order_command{start_production{order_id}}, production, order_id + "-start"},
        {"2 of 4 windows done", order_command{record_production_progress{order_id, 2}}, production, order_id + "-progress"},
        {"production completes", order_command{complete_production{order_id}}, production, order_id + "-complete"},
        {"logistics ships",
         order_command{ship_order{order_id, "Own fleet", "R-12", "TRK-7", "Jan", "+48 600 000 000", "2026-12-05"}}, logistics,
         order_id + "-ship"},
        {"dealer confirms delivery", order_command{confirm_delivery{order_id, "Anna"}}, dealer, order_id + "-deliver"},
    };
    for (const auto& s : steps) {
        const commands::envelope env{s.command_id, s.command, s.by, std::nullopt, order_id};
        auto first = handler.handle(env);
        auto retry = handler.handle(env);  // a client that did not get the answer sends it again
        if (!first || !retry) {
            const auto& f = !first ? first.error() : retry.error();
            std::cerr << "dealerline demo: " << s.label << ": " << f.code << ": " << f.message << '\n';
            return exit_failed;
        }
        if (!retry->duplicate || retry->positions != first->positions) {
            std::cerr << "dealerline demo: a retried command was not recognised as a duplicate\n";
            return exit_failed;
        }
        std::printf("  %-26s %-15s %-22s %s\n", s.label, s.by.label().c_str(),
                    first->events.empty() ? "-" : first->events.front().c_str(),
                    first->duplicate ? "(already done: duplicate)" : ("position " + std::to_string(first->positions.front())).c_str());
    }
    auto events = log.read_stream(stream_name("order", order_id));
    if (!events) {
        std::cerr << "dealerline demo: " << events.error().message << '\n';
        return exit_failed;
    }
    std::cout << "\n" << events->size() << " events in order-" << order_id << " (every command was sent twice):\n";
    for (const auto& e : *events)
        std::printf("  #%-6llu v%-2llu %s  %-21s %-14s %s…\n", static_cast<unsigned long long>(e.position),
                    static_cast<unsigned long long>(e.version), iso8601(e.recorded_at_us).c_str(), e.type.c_str(), e.actor.c_str(),
                    storage::to_hex(e.hash).substr(0, 16).c_str());
    std::cout << "log head: position " << log.head_position() << ", hash " << storage::to_hex(log.head_hash()) << '\n';
    return exit_ok;
}

}  // namespace

void add_demo(CLI::App& app, int& status) {
    auto* cmd = app.add_subcommand("demo", "Drive a sample order through its life into the log and print it (a smoke test)");
    auto data = std::make_shared<std::string>();
    cmd->add_option("--data", *data, "Event log folder (created if missing)")->required()->envname("DEALERLINE_DATA");
    cmd->callback([data, &status] { status = run_demo(*data); });
}

}  // namespace dealerline::tools
