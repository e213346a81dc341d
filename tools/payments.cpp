// `dealerline payments import FILE --data DIR`: the bank/accounting sync's file, one
// RecordPayment per line, on a log no server holds (a running server takes the same commands in
// bulk on POST /api/commands). Re-importing a file records nothing twice: a line's command id
// and payment id come from its dealer and bank reference. A bad line is reported with its number
// and the rest still imports. The process managers run inside, so the payments are allocated to
// the oldest open invoices before it exits.
//
// CSV, a header line naming the columns, any order: dealer_id, amount (a decimal, "1234.56": two
// digits of minor units), method (bank|card|cash), received_at (YYYY-MM-DD or an ISO-8601 time),
// external_ref, and optionally payment_id. Fields may be quoted; they may not contain commas.
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <CLI/CLI.hpp>

#include "commands/handler.hpp"
#include "commands/process_managers.hpp"
#include "storage/event_log.hpp"
#include "tools/cli.hpp"

namespace dealerline::tools {
namespace {

std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> out;
    std::stringstream in(line);
    for (std::string field; std::getline(in, field, ',');) {
        while (!field.empty() && (field.back() == '\r' || field.back() == ' ')) field.pop_back();
        while (!field.empty() && field.front() == ' ') field.erase(0, 1);
        if (field.size() >= 2 && field.front() == '"' && field.back() == '"') field = field.substr(1, field.size() - 2);
        out.push_back(field);
    }
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
}

// "1234.56" → 123456; "12" → 1200; nullopt for anything else.
std::optional<std::int64_t> minor_units(const std::string& text) {
    const auto dot = text.find('.');
    const auto whole = text.substr(0, dot);
    const auto frac = dot == std::string::npos ? std::string() : text.substr(dot + 1);
    if (whole.empty() || whole.size() > 13 || frac.size() > 2) return std::nullopt;
    for (char c : whole + frac)
        if (c < '0' || c > '9') return std::nullopt;
    std::int64_t v = std::stoll(whole) * 100;
    if (!frac.empty()) v += std::stoll(frac) * (frac.size() == 1 ? 10 : 1);
    return v;
}

int run_import(const std::string& file, const std::string& data) {
    std::ifstream in(file);
    if (!in) {
        std::cerr << "dealerline payments import: cannot read " << file << '\n';
        return exit_failed;
    }
    auto log = storage::event_log::open(data, {.create_if_missing = false});
    if (!log) {
        std::cerr << "dealerline payments import: " << log.error().message << " (a running server takes them on POST /api/commands)\n";
        return exit_failed;
    }
    commands::handler handler(**log);
    commands::manager_runner managers(**log, handler);
    managers.start();
    const domain::actor sync{domain::role::system, "bank-sync", {}};
    std::string line;
    std::map<std::string, std::size_t> column;
    std::size_t number = 0, recorded = 0, again = 0, bad = 0;
    auto report = [&](const std::string& why) {
        ++bad;
        std::cerr << file << ":" << number << ": " << why << '\n';
    };
    while (std::getline(in, line)) {
        ++number;
        if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
        const auto fields = split(line);
        if (column.empty()) {
            for (std::size_t i = 0; i < fields.size(); ++i) column[fields[i]] = i;
            for (const char* need : {"dealer_id", "amount", "method", "received_at", "external_ref"})
                if (!column.contains(need)) {
                    std::cerr << file << ":1: the header has no column " << need << '\n';
                    managers.stop();
                    return exit_failed;
                }
            continue;
        }
        if (fields.size() != column.size()) {
            report("expected " + std::to_string(column.size()) + " fields, found " + std::to_string(fields.size()));
            continue;
        }
        auto field = [&](const char* name) { return fields[column.at(name)]; };
        const auto amount = minor_units(field("amount"));
        if (!amount) {
            report("amount: expected a decimal like 1234.56, found \"" + field("amount") + "\"");
            continue;
        }
        const auto dealer = field("dealer_id"), ref = field("external_ref");
        const auto payment_id = column.contains("payment_id") && !field("payment_id").empty() ? field("payment_id") : "PAY-" + dealer + "-" + ref;
        auto r = handler.handle({"import:" + dealer + ":" + ref,
                                 domain::payment_command{domain::record_payment{payment_id, dealer, *amount, field("method"), field("received_at"), ref}},
                                 sync, std::nullopt, ""});
        if (r && r->duplicate) ++again;
        else if (r) ++recorded;
        else if (r.error().code == "duplicate_external_ref" || r.error().code == "already_exists") ++again;
        else report(r.error().message + " (" + r.error().code + ")");
    }
    (void)managers.wait_until_idle(std::chrono::steady_clock::now() + std::chrono::minutes(10));
    managers.stop();
    std::cout << file << ": " << recorded << " payments recorded, " << again << " already recorded, " << bad << " bad lines\n";
    return bad ? exit_failed : exit_ok;
}

}  // namespace

void add_payments(CLI::App& app, int& status) {
    auto* payments = app.add_subcommand("payments", "Payments from the bank or accounting");
    payments->require_subcommand(1);
    auto* import = payments->add_subcommand("import", "Record each line of a CSV file as a payment (re-importing records nothing twice)");
    auto file = std::make_shared<std::string>();
    auto data = std::make_shared<std::string>();
    import->add_option("file", *file, "The CSV file")->required();
    import->add_option("--data", *data, "Event log folder (not held by a running server)")->required()->envname("DEALERLINE_DATA");
    import->callback([file, data, &status] { status = run_import(*file, *data); });
}

}  // namespace dealerline::tools
