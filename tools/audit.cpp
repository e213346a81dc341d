// `dealerline audit …`: read-only views of the log for auditors. The log is opened read-only
// (RocksDB read-only or, with --follow, secondary instance), so it is safe while `serve` writes.
#include "tools/audit.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <CLI/CLI.hpp>

#include "domain/claim.hpp"
#include "domain/codec.hpp"
#include "domain/dealer.hpp"
#include "domain/order.hpp"
#include "domain/stream_name.hpp"
#include "domain/time.hpp"
#include "storage/event_log.hpp"
#include "tools/cli.hpp"

namespace dealerline::tools::audit {
namespace {

namespace json = boost::json;
using storage::event_log;

constexpr std::uint64_t progress_every = 100'000;

bool on_terminal() { return ::isatty(STDERR_FILENO) == 1; }

std::string quoted(std::string_view s) { return json::serialize(json::string_view(s.data(), s.size())); }

// Stored JSON text as one compact line (stored text may be pretty-printed).
std::string compact(std::string_view text) {
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    return ec ? quoted(text) : json::serialize(value);
}

// Always a secondary instance: unlike a plain read-only one, it is meant to be opened while the
// writer (`serve`) runs, which may delete and rotate files under it; it can also catch up later.
storage::result<std::unique_ptr<event_log>> open_read_only(const std::string& data) {
    storage::log_options options;
    options.read_only = true;
    options.follow = true;
    return event_log::open(data, options);
}

std::optional<std::int64_t> time_of(const event_log& log, std::uint64_t position) {
    auto e = log.read_all(position, 1);
    if (!e || e->empty()) return std::nullopt;
    return e->front().recorded_at_us;
}

// Stamps never decrease along the log, so a binary search finds the first event at or after t.
std::uint64_t first_at_or_after(const event_log& log, std::int64_t t) {
    std::uint64_t lo = 1, hi = log.head_position() + 1;  // answer in [lo, hi]
    while (lo < hi) {
        const auto mid = lo + (hi - lo) / 2;
        const auto at = time_of(log, mid);
        if (at && *at >= t) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

enum class bound { from, to, as_of };

// A position for a point; nullopt (with the message in `why`) when the text is neither.
std::optional<std::uint64_t> resolve(const event_log& log, const point& p, bound b, std::string& why) {
    if (p.text.empty()) return b == bound::from ? 1 : log.head_position();
    if (all_digits(p.text)) {
        try {
            return std::stoull(p.text);
        } catch (const std::exception&) {
            why = "position " + p.text + " is out of range";
            return std::nullopt;
        }
    }
    const auto t = domain::parse_iso8601(p.text);
    if (!t) {
        why = "'" + p.text + "' is neither a position nor an RFC 3339 time like 2026-11-23T10:15:00Z";
        return std::nullopt;
    }
    switch (b) {
        case bound::from: return first_at_or_after(log, *t);
        case bound::to: return first_at_or_after(log, *t) - 1;     // events recorded before t
        case bound::as_of: return first_at_or_after(log, *t + 1) - 1;  // events recorded at or before t
    }
    return std::nullopt;
}

std::string jsonl_line(const storage::event_view& e) {
    std::string out = "{\"position\":" + std::to_string(e.position) + ",\"stream\":" + quoted(e.stream) +
                      ",\"version\":" + std::to_string(e.version) + ",\"type\":" + quoted(e.type) +
                      ",\"schema_version\":" + std::to_string(e.schema_version) + ",\"recorded_at\":\"" +
                      domain::iso8601(e.recorded_at_us) + "\",\"command_id\":" + quoted(e.command_id) +
                      ",\"actor\":" + quoted(e.actor) + ",\"correlation_id\":" + quoted(e.correlation_id) +
                      ",\"data\":" + compact(e.data) + ",\"metadata\":" + compact(e.metadata) + ",\"hash\":\"" +
                      storage::to_hex(e.hash) + "\"}";
    return out;
}

void table_header(std::ostream& out) {
    char line[200];
    std::snprintf(line, sizeof line, "%10s  %-27s  %-28s %5s  %-24s %s\n", "POSITION", "RECORDED AT", "STREAM", "VER", "TYPE",
                  "ACTOR");
    out << line;
}

void table_row(std::ostream& out, const storage::event_view& e) {
    char line[600];
    std::snprintf(line, sizeof line, "%10llu  %-27s  %-28.*s %5llu  %-24.*s %.*s\n", static_cast<unsigned long long>(e.position),
                  domain::iso8601(e.recorded_at_us).c_str(), static_cast<int>(e.stream.size()), e.stream.data(),
                  static_cast<unsigned long long>(e.version), static_cast<int>(e.type.size()), e.type.data(),
                  static_cast<int>(e.actor.size()), e.actor.data());
    out << line;
}

bool matches(const event_filter& f, const storage::event_view& e) {
    return (f.stream.empty() || e.stream == f.stream) && (f.category.empty() || domain::category_of(e.stream) == f.category) &&
           (f.type.empty() || e.type == f.type) && (f.actor.empty() || e.actor == f.actor);
}

template <class A>
int fold_state(const event_log& log, const std::string& stream, std::uint64_t as_of, std::ostream& out, std::ostream& err) {
    typename A::state s{};
    std::uint64_t version = 0, seen = 0;
    for (std::uint64_t from = 1;;) {
        auto events = log.read_stream(stream, from, 1000);
        if (!events) {
            err << "dealerline audit state: " << events.error().message << '\n';
            return exit_failed;
        }
        for (const auto& e : *events) {
            ++seen;
            if (e.position > as_of) break;
            auto decoded = domain::codec::decode<A>(e.type, e.schema_version, e.data);
            if (!decoded) {
                err << "dealerline audit state: event " << e.position << ": " << decoded.error().message << '\n';
                return exit_failed;
            }
            s = A::evolve(std::move(s), *decoded);
            version = e.version;
        }
        if (events->size() < 1000 || (!events->empty() && events->back().position > as_of)) break;
        from = events->back().version + 1;
    }
    if (seen == 0) {
        err << "dealerline audit state: stream " << stream << " has no events\n";
        return exit_failed;
    }
    out << "{\"stream\":" << quoted(stream) << ",\"as_of_position\":" << as_of << ",\"version\":" << version
        << ",\"existed\":" << (version > 0 ? "true" : "false")
        << ",\"state\":" << domain::codec::encode_state<A>(s) << "}\n";
    return exit_ok;
}

}  // namespace

int events(const std::string& data, const event_filter& f, std::ostream& out, std::ostream& err) {
    auto log = open_read_only(data);
    if (!log) {
        err << "dealerline audit events: " << log.error().message << '\n';
        return exit_failed;
    }
    std::string why;
    const auto from = resolve(**log, f.from, bound::from, why);
    const auto to = f.to.text.empty() ? std::optional<std::uint64_t>(storage::to_end) : resolve(**log, f.to, bound::to, why);
    if (!from || !to) {
        err << "dealerline audit events: " << why << '\n';
        return exit_usage;
    }
    if (!f.jsonl) table_header(out);
    std::uint64_t shown = 0, next = *from;
    for (;;) {
        auto scanned = (*log)->scan(next, *to, [&](const storage::event_view& e) {
            next = e.position + 1;
            if (!matches(f, e)) return true;
            if (f.jsonl) out << jsonl_line(e) << '\n';
            else table_row(out, e);
            return ++shown < f.limit;
        });
        if (!scanned) {
            err << "dealerline audit events: " << scanned.error().message << '\n';
            return exit_failed;
        }
        out.flush();
        const bool done = shown >= f.limit || next > *to || (f.until_position && next > *f.until_position);
        if (!f.follow || done) return exit_ok;
        // Following: poll the writer's progress; a short pause between polls is the point here.
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        if (auto head = (*log)->catch_up(); !head) {
            err << "dealerline audit events: " << head.error().message << '\n';
            return exit_failed;
        }
    }
}

int state(const std::string& data, const std::string& stream, const point& as_of, std::ostream& out, std::ostream& err) {
    auto log = open_read_only(data);
    if (!log) {
        err << "dealerline audit state: " << log.error().message << '\n';
        return exit_failed;
    }
    std::string why;
    const auto at = resolve(**log, as_of, bound::as_of, why);
    if (!at) {
        err << "dealerline audit state: " << why << '\n';
        return exit_usage;
    }
    const auto category = domain::category_of(stream);
    if (category == domain::dealer_aggregate::category) return fold_state<domain::dealer_aggregate>(**log, stream, *at, out, err);
    if (category == domain::order_aggregate::category) return fold_state<domain::order_aggregate>(**log, stream, *at, out, err);
    if (category == domain::claim_aggregate::category) return fold_state<domain::claim_aggregate>(**log, stream, *at, out, err);
    if (category == domain::stock_aggregate::category) return fold_state<domain::stock_aggregate>(**log, stream, *at, out, err);
    if (category == domain::invoice_aggregate::category) return fold_state<domain::invoice_aggregate>(**log, stream, *at, out, err);
    if (category == domain::payment_aggregate::category) return fold_state<domain::payment_aggregate>(**log, stream, *at, out, err);
    if (category == domain::credit_note_aggregate::category)
        return fold_state<domain::credit_note_aggregate>(**log, stream, *at, out, err);
    if (category == domain::subscription_aggregate::category)
        return fold_state<domain::subscription_aggregate>(**log, stream, *at, out, err);
    err << "dealerline audit state: no aggregate for streams of category '" << category
        << "' (dealer-, order-, claim-, stock-, invoice-, payment-, creditnote-, subscription- streams have a state)\n";
    return exit_failed;
}

int history(const std::string& data, const std::string& stream, std::ostream& out, std::ostream& err) {
    auto log = open_read_only(data);
    if (!log) {
        err << "dealerline audit history: " << log.error().message << '\n';
        return exit_failed;
    }
    const std::string own_id = std::string(domain::category_of(stream)) + "_id";
    std::uint64_t shown = 0;
    for (std::uint64_t from = 1;;) {
        auto events = (*log)->read_stream(stream, from, 1000);
        if (!events) {
            err << "dealerline audit history: " << events.error().message << '\n';
            return exit_failed;
        }
        for (const auto& e : *events) {
            // What changed: the event's fields, less the id every event of the stream repeats.
            boost::system::error_code ec;
            auto fields = json::parse(e.data, ec);
            if (!ec && fields.is_object()) fields.as_object().erase(own_id);
            out << domain::iso8601(e.recorded_at_us) << "  v" << e.version << "  " << e.type << "  by " << e.actor << '\n'
                << "    " << (ec ? e.data : json::serialize(fields)) << '\n'
                << "    position " << e.position << ", command " << e.command_id << ", correlation " << e.correlation_id << '\n';
            ++shown;
        }
        if (events->size() < 1000) break;
        from = events->back().version + 1;
    }
    if (shown == 0) {
        err << "dealerline audit history: stream " << stream << " has no events\n";
        return exit_failed;
    }
    return exit_ok;
}

int verify(const std::string& data, const point& from_point, const point& to_point, const std::string& expect_head,
           std::ostream& out, std::ostream& err) {
    std::uint64_t expected_position = 0;
    storage::sha256 expected_hash{};
    if (!expect_head.empty()) {
        const auto colon = expect_head.find(':');
        const auto hash = colon == std::string::npos ? std::nullopt : storage::sha256_from_hex(expect_head.substr(colon + 1));
        if (!hash || !all_digits(expect_head.substr(0, colon))) {
            err << "dealerline audit verify: --expect-head takes POSITION:HASH as `audit verify` printed it\n";
            return exit_usage;
        }
        expected_position = std::stoull(expect_head.substr(0, colon));
        expected_hash = *hash;
    }
    auto log = open_read_only(data);
    if (!log) {
        err << "dealerline audit verify: " << log.error().message << '\n';
        return exit_failed;
    }
    std::string why;
    const auto from = expect_head.empty() ? resolve(**log, from_point, bound::from, why) : std::optional<std::uint64_t>(1);
    const auto to = expect_head.empty() ? resolve(**log, to_point, bound::to, why) : std::optional<std::uint64_t>(storage::to_end);
    if (!from || !to) {
        err << "dealerline audit verify: " << why << '\n';
        return exit_usage;
    }
    if (on_terminal()) err << "verifying positions " << *from << ".." << std::min(*to, (*log)->head_position()) << "…\n";
    auto report = (*log)->verify(*from, *to);
    if (report && !report->ok()) {
        // The writer may have rotated files under us while we read: look again at its newest
        // state before calling anything tampered. A real change to the record stays.
        if (auto caught = (*log)->catch_up(); caught) report = (*log)->verify(*from, std::min(*to, report->head_position));
    }
    if (!report) {
        err << "dealerline audit verify: " << report.error().message << '\n';
        return exit_failed;
    }
    if (!report->ok()) {
        err << "dealerline audit verify: FAILED at position " << *report->first_bad << ": " << report->problem << '\n';
        return exit_failed;
    }
    out << "verified " << report->checked << " events (positions " << report->from << ".." << report->to << ")\n";
    out << "head " << report->to << ':' << storage::to_hex(report->head_hash) << '\n';
    if (!expect_head.empty()) {
        if (expected_position > report->to) {
            err << "dealerline audit verify: the log ends at " << report->to << ", before the noted head " << expected_position << '\n';
            return exit_failed;
        }
        auto at = (*log)->read_all(expected_position, 1);
        if (!at || at->empty() || at->front().hash != expected_hash) {
            err << "dealerline audit verify: FAILED: the event at " << expected_position << " is not the one noted ("
                << (at && !at->empty() ? storage::to_hex(at->front().hash) : std::string("missing"))
                << "): history was rewritten\n";
            return exit_failed;
        }
        out << "extends the noted head " << expected_position << ':' << storage::to_hex(expected_hash) << '\n';
    }
    return exit_ok;
}

int export_jsonl(const std::string& data, const point& from_point, const point& to_point, const std::string& file,
                 std::ostream& out, std::ostream& err) {
    auto log = open_read_only(data);
    if (!log) {
        err << "dealerline audit export: " << log.error().message << '\n';
        return exit_failed;
    }
    std::string why;
    auto from = resolve(**log, from_point, bound::from, why);
    auto to = resolve(**log, to_point, bound::to, why);
    if (!from || !to) {
        err << "dealerline audit export: " << why << '\n';
        return exit_usage;
    }
    *from = std::max<std::uint64_t>(*from, 1);
    *to = std::min(*to, (*log)->head_position());
    if (*from > *to) {
        err << "dealerline audit export: no events in that range (the log has " << (*log)->head_position() << ")\n";
        return exit_failed;
    }
    storage::sha256 previous{};
    if (*from > 1) {
        auto before = (*log)->read_all(*from - 1, 1);
        if (!before || before->empty()) {
            err << "dealerline audit export: cannot read the event before position " << *from << '\n';
            return exit_failed;
        }
        previous = before->front().hash;
    }
    auto last = (*log)->read_all(*to, 1);
    if (!last || last->empty()) {
        err << "dealerline audit export: cannot read position " << *to << '\n';
        return exit_failed;
    }
    std::ofstream file_out(file, std::ios::binary | std::ios::trunc);
    if (!file_out) {
        err << "dealerline audit export: cannot write " << file << '\n';
        return exit_failed;
    }
    // Manifest first: enough to verify the file on its own. Data and metadata are kept as their
    // exact stored text (JSON strings), because the hashes cover those bytes.
    file_out << "{\"dealerline_export\":1,\"from\":" << *from << ",\"to\":" << *to << ",\"count\":" << (*to - *from + 1)
             << ",\"previous_hash\":\"" << storage::to_hex(previous) << "\",\"head_hash\":\"" << storage::to_hex(last->front().hash)
             << "\"}\n";
    std::uint64_t written = 0;
    const bool progress = on_terminal();
    auto scanned = (*log)->scan(*from, *to, [&](const storage::event_view& e) {
        file_out << "{\"position\":" << e.position << ",\"stream\":" << quoted(e.stream) << ",\"version\":" << e.version
                 << ",\"type\":" << quoted(e.type) << ",\"schema_version\":" << e.schema_version
                 << ",\"recorded_at_us\":" << e.recorded_at_us << ",\"recorded_at\":\"" << domain::iso8601(e.recorded_at_us)
                 << "\",\"command_id\":" << quoted(e.command_id) << ",\"actor\":" << quoted(e.actor)
                 << ",\"correlation_id\":" << quoted(e.correlation_id) << ",\"data\":" << quoted(e.data)
                 << ",\"metadata\":" << quoted(e.metadata) << ",\"hash\":\"" << storage::to_hex(e.hash) << "\"}\n";
        if (progress && ++written % progress_every == 0) err << "\rexported " << written << " events" << std::flush;
        return true;
    });
    if (progress) err << '\r';
    if (!scanned || !file_out.flush()) {
        err << "dealerline audit export: " << (scanned ? "writing " + file + " failed" : scanned.error().message) << '\n';
        return exit_failed;
    }
    out << "exported " << *scanned << " events (positions " << *from << ".." << *to << ") to " << file << '\n'
        << "head " << *to << ':' << storage::to_hex(last->front().hash) << '\n';
    return exit_ok;
}

int verify_file(const std::string& file, std::ostream& out, std::ostream& err) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        err << "dealerline audit verify: cannot read " << file << '\n';
        return exit_failed;
    }
    auto failed = [&](std::uint64_t line, const std::string& what) {
        err << "dealerline audit verify: FAILED at line " << line << " of " << file << ": " << what << '\n';
        return exit_failed;
    };
    std::string text;
    if (!std::getline(in, text)) return failed(1, "the file is empty");
    boost::system::error_code ec;
    auto manifest = json::parse(text, ec);
    const json::object* m = (!ec && manifest.is_object()) ? &manifest.as_object() : nullptr;
    auto number = [](const json::object& o, std::string_view key) -> std::optional<std::uint64_t> {
        const auto* v = o.if_contains(key);
        if (v == nullptr) return std::nullopt;
        if (v->is_uint64()) return v->get_uint64();
        if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
        return std::nullopt;
    };
    auto string = [](const json::object& o, std::string_view key) -> std::optional<std::string> {
        const auto* v = o.if_contains(key);
        if (v == nullptr || !v->is_string()) return std::nullopt;
        return std::string(v->get_string());
    };
    if (m == nullptr || number(*m, "dealerline_export") != 1u) return failed(1, "not a dealerline export (no manifest)");
    const auto from = number(*m, "from"), to = number(*m, "to"), count = number(*m, "count");
    const auto previous_hex = string(*m, "previous_hash"), head_hex = string(*m, "head_hash");
    const auto previous = previous_hex ? storage::sha256_from_hex(*previous_hex) : std::nullopt;
    const auto head = head_hex ? storage::sha256_from_hex(*head_hex) : std::nullopt;
    if (!from || !to || !count || !previous || !head) return failed(1, "the manifest is incomplete");

    storage::sha256 chain = *previous;
    std::uint64_t expected = *from, line = 1, seen = 0;
    while (std::getline(in, text)) {
        ++line;
        auto v = json::parse(text, ec);
        if (ec || !v.is_object()) return failed(line, "not a JSON object");
        const auto& o = v.as_object();
        const auto position = number(o, "position"), version = number(o, "version"), schema = number(o, "schema_version");
        const auto* stamp = o.if_contains("recorded_at_us");
        const auto stream = string(o, "stream"), type = string(o, "type"), command = string(o, "command_id"),
                   actor = string(o, "actor"), correlation = string(o, "correlation_id"), data = string(o, "data"),
                   metadata = string(o, "metadata"), hash_hex = string(o, "hash");
        const auto hash = hash_hex ? storage::sha256_from_hex(*hash_hex) : std::nullopt;
        if (!position || !version || !schema || stamp == nullptr || !stamp->is_int64() || !stream || !type || !command ||
            !actor || !correlation || !data || !metadata || !hash)
            return failed(line, "a field is missing or has the wrong type");
        if (*position != expected)
            return failed(line, "position " + std::to_string(*position) + " where " + std::to_string(expected) + " was due");
        storage::event_view e;
        e.position = *position;
        e.version = *version;
        e.recorded_at_us = stamp->get_int64();
        e.schema_version = static_cast<std::uint32_t>(*schema);
        e.stream = *stream;
        e.type = *type;
        e.command_id = *command;
        e.actor = *actor;
        e.correlation_id = *correlation;
        e.data = *data;
        e.metadata = *metadata;
        if (storage::chain_hash(chain, e) != *hash)
            return failed(line, "position " + std::to_string(*position) + ": the hash does not match the event and the chain");
        chain = *hash;
        ++expected;
        ++seen;
    }
    if (seen != *count || expected != *to + 1)
        return failed(line, "the file has " + std::to_string(seen) + " events; the manifest says " + std::to_string(*count));
    if (chain != *head) return failed(line, "the last hash is not the manifest's head hash");
    out << "verified " << seen << " exported events (positions " << *from << ".." << *to << ")\n"
        << "head " << *to << ':' << storage::to_hex(chain) << '\n';
    return exit_ok;
}

int stats(const std::string& data, std::ostream& out, std::ostream& err) {
    auto log = open_read_only(data);
    if (!log) {
        err << "dealerline audit stats: " << log.error().message << '\n';
        return exit_failed;
    }
    std::map<std::string, std::uint64_t> categories, types;
    std::set<std::string> streams;
    std::int64_t first = 0, last = 0;
    auto scanned = (*log)->scan(1, storage::to_end, [&](const storage::event_view& e) {
        if (first == 0) first = e.recorded_at_us;
        last = e.recorded_at_us;
        ++categories[std::string(domain::category_of(e.stream))];
        ++types[std::string(e.type)];
        if (e.version == 1) streams.emplace(e.stream);
        return true;
    });
    if (!scanned) {
        err << "dealerline audit stats: " << scanned.error().message << '\n';
        return exit_failed;
    }
    std::uintmax_t bytes = 0;
    std::error_code ec;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(data, ec))
        if (entry.is_regular_file(ec)) bytes += entry.file_size(ec);
    out << "events      " << *scanned << " (head " << (*log)->head_position() << ")\n"
        << "streams     " << streams.size() << '\n'
        << "first       " << (first ? domain::iso8601(first) : "-") << '\n'
        << "last        " << (last ? domain::iso8601(last) : "-") << '\n'
        << "on disk     " << bytes << " bytes\n\nby category\n";
    for (const auto& [name, n] : categories) out << "  " << name << "  " << n << '\n';
    out << "\nby type\n";
    for (const auto& [name, n] : types) out << "  " << name << "  " << n << '\n';
    return exit_ok;
}

}  // namespace dealerline::tools::audit

namespace dealerline::tools {

void add_audit(CLI::App& app, int& status) {
    auto* audit_cmd = app.add_subcommand("audit", "Read-only views of the event log for auditors (safe while serve runs)");
    audit_cmd->require_subcommand(1);

    struct options {
        std::string data, stream, as_of, expect_head, file, out;
        audit::event_filter filter;
        std::uint64_t until = 0;
        std::string format = "table";
    };
    auto o = std::make_shared<options>();
    auto data_option = [&](CLI::App* sub, bool required = true) {
        auto* opt = sub->add_option("--data", o->data, "Event log folder")->envname("DEALERLINE_DATA");
        if (required) opt->required();
    };
    auto range = [&](CLI::App* sub) {
        sub->add_option("--from", o->filter.from.text, "First position, or an RFC 3339 time (first event at or after it)")
            ->envname("DEALERLINE_FROM");
        sub->add_option("--to", o->filter.to.text, "Last position, or an RFC 3339 time (events before it)")->envname("DEALERLINE_TO");
    };

    auto* ev = audit_cmd->add_subcommand("events", "List events in position order, filtered");
    data_option(ev);
    range(ev);
    ev->add_option("--stream", o->filter.stream, "Only this stream")->envname("DEALERLINE_STREAM");
    ev->add_option("--category", o->filter.category, "Only streams of this category (order, claim, …)")->envname("DEALERLINE_CATEGORY");
    ev->add_option("--type", o->filter.type, "Only this event type")->envname("DEALERLINE_TYPE");
    ev->add_option("--actor", o->filter.actor, "Only events caused by this actor (dealer:D-0042, staff:eng-7)")->envname("DEALERLINE_ACTOR");
    ev->add_option("--limit", o->filter.limit, "At most this many events")->check(CLI::PositiveNumber)->envname("DEALERLINE_LIMIT");
    ev->add_option("--format", o->format, "table or jsonl")->check(CLI::IsMember({"table", "jsonl"}))->envname("DEALERLINE_FORMAT");
    ev->add_flag("--follow", o->filter.follow, "Keep printing new events as they are committed (Ctrl-C stops)");
    ev->add_option("--until-position", o->until, "With --follow: stop once this position is printed")->envname("DEALERLINE_UNTIL_POSITION");
    ev->callback([o, &status] {
        o->filter.jsonl = o->format == "jsonl";
        if (o->until > 0) o->filter.until_position = o->until;
        status = audit::events(o->data, o->filter, std::cout, std::cerr);
    });

    auto* st = audit_cmd->add_subcommand("state", "An aggregate's state as of a position or time, as JSON");
    data_option(st);
    st->add_option("stream", o->stream, "Stream, e.g. order-O-1001")->required();
    st->add_option("--as-of", o->as_of, "Position, or RFC 3339 time (events recorded at or before it)")->envname("DEALERLINE_AS_OF");
    st->callback([o, &status] { status = audit::state(o->data, o->stream, {o->as_of}, std::cout, std::cerr); });

    auto* hi = audit_cmd->add_subcommand("history", "A stream's timeline: when, who, what changed, command and correlation");
    data_option(hi);
    hi->add_option("stream", o->stream, "Stream, e.g. order-O-1001")->required();
    hi->callback([o, &status] { status = audit::history(o->data, o->stream, std::cout, std::cerr); });

    auto* ver = audit_cmd->add_subcommand("verify", "Recompute the hash chain and the stream index; print the head");
    data_option(ver, false);
    range(ver);
    ver->add_option("--expect-head", o->expect_head, "POSITION:HASH noted earlier: prove the log still extends it")
        ->envname("DEALERLINE_EXPECT_HEAD");
    ver->add_option("--file", o->file, "Verify an export file on its own instead of a log")->envname("DEALERLINE_FILE");
    ver->callback([o, &status] {
        if (!o->file.empty()) {
            status = audit::verify_file(o->file, std::cout, std::cerr);
        } else if (o->data.empty()) {
            std::cerr << "dealerline audit verify: give --data DIR (a log) or --file FILE (an export)\n";
            status = exit_usage;
        } else {
            status = audit::verify(o->data, o->filter.from, o->filter.to, o->expect_head, std::cout, std::cerr);
        }
    });

    auto* ex = audit_cmd->add_subcommand("export", "Write events with their hashes and a manifest to a JSONL file");
    data_option(ex);
    range(ex);
    ex->add_option("--out", o->out, "File to write")->required()->envname("DEALERLINE_OUT");
    ex->callback([o, &status] { status = audit::export_jsonl(o->data, o->filter.from, o->filter.to, o->out, std::cout, std::cerr); });

    auto* sts = audit_cmd->add_subcommand("stats", "Counts per category and type, first and last time, size on disk");
    data_option(sts);
    sts->callback([o, &status] { status = audit::stats(o->data, std::cout, std::cerr); });
}

}  // namespace dealerline::tools
