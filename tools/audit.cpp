// `dealerline audit …`: read-only views of the log for auditors. Opens the log read-only, so it is
// safe while `serve` writes (it sees the log as of its start).
#include <cstdio>
#include <iostream>
#include <string>

#include <boost/json/serialize.hpp>
#include <CLI/CLI.hpp>

#include "storage/event_log.hpp"
#include "tools/cli.hpp"
#include "domain/time.hpp"

namespace dealerline::tools {
namespace {

std::string quoted(std::string_view s) { return boost::json::serialize(boost::json::string_view(s.data(), s.size())); }

// One event as a JSON line; data and metadata are stored as JSON text and spliced in as they are.
std::string jsonl(const storage::event_view& e) {
    std::string out = "{\"position\":" + std::to_string(e.position) + ",\"stream\":" + quoted(e.stream) +
                      ",\"version\":" + std::to_string(e.version) + ",\"type\":" + quoted(e.type) +
                      ",\"schema_version\":" + std::to_string(e.schema_version) + ",\"recorded_at\":\"" +
                      domain::iso8601(e.recorded_at_us) + "\",\"command_id\":" + quoted(e.command_id) +
                      ",\"actor\":" + quoted(e.actor) + ",\"correlation_id\":" + quoted(e.correlation_id) +
                      ",\"data\":";
    out.append(e.data).append(",\"metadata\":").append(e.metadata);
    out.append(",\"hash\":\"").append(storage::to_hex(e.hash)).append("\"}");
    return out;
}

storage::result<std::unique_ptr<storage::event_log>> open_read_only(const std::string& data) {
    storage::log_options options;
    options.read_only = true;
    return storage::event_log::open(data, options);
}

int events(const std::string& data, std::uint64_t from, std::uint64_t limit, const std::string& format) {
    auto log = open_read_only(data);
    if (!log) {
        std::cerr << "dealerline audit events: " << log.error().message << '\n';
        return exit_failed;
    }
    const bool lines = format == "jsonl";
    if (!lines) std::printf("%10s  %-27s  %-28s %5s  %-24s %s\n", "POSITION", "RECORDED AT", "STREAM", "VER", "TYPE", "ACTOR");
    std::uint64_t shown = 0;
    auto r = (*log)->scan(from, storage::to_end, [&](const storage::event_view& e) {
        if (lines) {
            std::cout << jsonl(e) << '\n';
        } else {
            std::printf("%10llu  %-27s  %-28.*s %5llu  %-24.*s %.*s\n", static_cast<unsigned long long>(e.position),
                        domain::iso8601(e.recorded_at_us).c_str(), static_cast<int>(e.stream.size()), e.stream.data(),
                        static_cast<unsigned long long>(e.version), static_cast<int>(e.type.size()), e.type.data(),
                        static_cast<int>(e.actor.size()), e.actor.data());
        }
        return ++shown < limit;
    });
    if (!r) {
        std::cerr << "dealerline audit events: " << r.error().message << '\n';
        return exit_failed;
    }
    return exit_ok;
}

int verify(const std::string& data, std::uint64_t from, std::uint64_t to) {
    auto log = open_read_only(data);
    if (!log) {
        std::cerr << "dealerline audit verify: " << log.error().message << '\n';
        return exit_failed;
    }
    auto report = (*log)->verify(from, to);
    if (!report) {
        std::cerr << "dealerline audit verify: " << report.error().message << '\n';
        return exit_failed;
    }
    if (!report->ok()) {
        std::cerr << "dealerline audit verify: FAILED at position " << *report->first_bad << ": " << report->problem << '\n';
        return exit_failed;
    }
    std::cout << "verified " << report->checked << " events (positions " << report->from << ".." << report->to << ")\n"
              << "head " << report->to << ':' << storage::to_hex(report->head_hash) << '\n';
    return exit_ok;
}

}  // namespace

void add_audit(CLI::App& app, int& status) {
    auto* audit = app.add_subcommand("audit", "Read-only views of the event log for auditors");
    audit->require_subcommand(1);

    struct options {
        std::string data;
        std::uint64_t from = 1, to = storage::to_end, limit = storage::to_end;
        std::string format = "table";
    };
    auto opts = std::make_shared<options>();

    auto* ev = audit->add_subcommand("events", "List events in position order");
    ev->add_option("--data", opts->data, "Event log folder")->required()->envname("DEALERLINE_DATA");
    ev->add_option("--from", opts->from, "First position")->check(CLI::PositiveNumber)->envname("DEALERLINE_FROM");
    ev->add_option("--limit", opts->limit, "At most this many events")->check(CLI::PositiveNumber)->envname("DEALERLINE_LIMIT");
    ev->add_option("--format", opts->format, "table or jsonl")
        ->check(CLI::IsMember({"table", "jsonl"}))
        ->envname("DEALERLINE_FORMAT");
    ev->callback([opts, &status] { status = events(opts->data, opts->from, opts->limit, opts->format); });

    auto* ver = audit->add_subcommand("verify", "Recompute the hash chain and the stream index; print the head");
    ver->add_option("--data", opts->data, "Event log folder")->required()->envname("DEALERLINE_DATA");
    ver->add_option("--from", opts->from, "First position")->check(CLI::PositiveNumber)->envname("DEALERLINE_FROM");
    ver->add_option("--to", opts->to, "Last position")->check(CLI::PositiveNumber)->envname("DEALERLINE_TO");
    ver->callback([opts, &status] { status = verify(opts->data, opts->from, opts->to); });
}

}  // namespace dealerline::tools
