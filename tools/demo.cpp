// `dealerline demo`: the smoke of the event log that the README's first command runs until the
// server exists: one order's life appended as events (with a retried command), then printed.
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "domain/stream_name.hpp"
#include "storage/event_log.hpp"
#include "tools/cli.hpp"
#include "domain/time.hpp"

namespace dealerline::tools {
namespace {

int run_demo(const std::string& data) {
    auto opened = storage::event_log::open(data);
    if (!opened) {
        std::cerr << "dealerline demo: " << opened.error().message << '\n';
        return exit_failed;
    }
    auto& log = **opened;
    const std::string order_id = "O-" + std::to_string(1001 + log.head_position());
    const std::string stream = domain::stream_name("order", order_id);
    struct step {
        const char* type;
        const char* actor;
        std::string data;
    };
    const std::string dealer = "D-0042";
    const step steps[] = {
        {"OrderPlaced", "dealer:D-0042",
         R"({"order_id":")" + order_id + R"(","dealer_id":")" + dealer +
             R"(","currency":"EUR","lines":[{"sku":"WIN-1200x1400","description":"Window 1200x1400","quantity":4,"unit_price":18900}]})"},
        {"OrderAccepted", "staff:eng-7", R"({"order_id":")" + order_id + R"(","planned_production_date":"2026-12-01"})"},
        {"ProductionStarted", "staff:prod-3", R"({"order_id":")" + order_id + R"("})"},
        {"ProductionProgressed", "staff:prod-3", R"({"order_id":")" + order_id + R"(","completed_units":2,"total_units":4})"},
        {"ProductionCompleted", "staff:prod-3", R"({"order_id":")" + order_id + R"("})"},
        {"OrderShipped", "staff:log-1",
         R"({"order_id":")" + order_id + R"(","carrier":"Own fleet","route":"R-12","vehicle":"TRK-7","driver_name":"Jan","driver_phone":"+48 600 000 000","planned_delivery_date":"2026-12-05"})"},
        {"OrderDelivered", "dealer:D-0042", R"({"order_id":")" + order_id + R"(","received_by":"Anna"})"},
    };
    std::uint64_t version = 0;
    int n = 0;
    for (const auto& s : steps) {
        storage::append_request request;
        request.command_id = order_id + "-cmd-" + std::to_string(++n);
        request.actor = s.actor;
        request.correlation_id = order_id;
        request.writes.push_back({stream, storage::expected_version::exact(version), {{s.type, 1, s.data, "{}"}}});
        auto first = log.append(request);
        auto retry = log.append(request);  // a client retry: must change nothing
        if (!first || !retry) {
            std::cerr << "dealerline demo: " << (!first ? first.error().message : retry.error().message) << '\n';
            return exit_failed;
        }
        if (!retry->duplicate || retry->first_position != first->first_position) {
            std::cerr << "dealerline demo: a retried command was not recognised as a duplicate\n";
            return exit_failed;
        }
        version = first->streams.front().version;
    }
    auto events = log.read_stream(stream);
    if (!events) {
        std::cerr << "dealerline demo: " << events.error().message << '\n';
        return exit_failed;
    }
    std::cout << "appended " << events->size() << " events to " << stream << " (each command sent twice; the retry was a no-op)\n";
    for (const auto& e : *events)
        std::printf("  #%-6llu v%-2llu %s  %-21s %-14s %s\n", static_cast<unsigned long long>(e.position),
                    static_cast<unsigned long long>(e.version), domain::iso8601(e.recorded_at_us).c_str(), e.type.c_str(),
                    e.actor.c_str(), storage::to_hex(e.hash).substr(0, 16).c_str());
    std::cout << "log head: position " << log.head_position() << ", hash " << storage::to_hex(log.head_hash()) << '\n';
    return exit_ok;
}

}  // namespace

void add_demo(CLI::App& app, int& status) {
    auto* cmd = app.add_subcommand("demo", "Append a sample order's life to the log and print it (a smoke test)");
    auto data = std::make_shared<std::string>();
    cmd->add_option("--data", *data, "Event log folder (created if missing)")->required()->envname("DEALERLINE_DATA");
    cmd->callback([data, &status] { status = run_demo(*data); });
}

}  // namespace dealerline::tools
