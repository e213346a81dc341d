// Rebuild throughput of every projection over a generated log, against a raw COPY of the same
// number of analytics.events rows, in one run against the same PostgreSQL.
//
//   build/release/tools/bench/bench_projections --postgres "host=… dbname=…" [--events 1000000]
//   (scripts/bench-projections.sh starts a private PostgreSQL for it)
//
// The log is a plant's year: ~50 dealers, orders interleaved as they are in life (a few thousand
// open at a time, each moving through placed → accepted → production (with progress) → shipped →
// delivered, some rejected or cancelled), claims on some of them, events stamped an hour apart
// in log time. Both paths read the same log; the raw path COPYs rows it formats itself into a
// table shaped like analytics.events (same columns and indexes).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <vector>

#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <pqxx/pqxx>  // the raw COPY this benchmark compares against: libpqxx on purpose, outside projections/

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "projections/projections.hpp"
#include "storage/event_log.hpp"
#include "storage/event_source.hpp"

namespace {

using namespace dealerline;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

// CPU seconds this process has used (user + system), to tell our share from PostgreSQL's.
double cpu_seconds() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double seconds_since(clock_type::time_point start) { return std::chrono::duration<double>(clock_type::now() - start).count(); }

struct open_order {
    std::string id, dealer;
    int step = 0;  // 0 placed, 1 accepted, 2 started, 3 progressed, 4 completed, 5 shipped → done
    std::uint64_t version = 1;
};

// Appends ~`events` events in requests of up to 100 single-event writes to distinct streams.
void generate(storage::event_log& log, std::uint64_t events) {
    using namespace domain;
    std::mt19937_64 rng(20261123);
    auto pick = [&](std::uint64_t n) { return rng() % n; };
    constexpr int dealers = 50;
    std::vector<open_order> open;
    std::uint64_t orders = 0, claims = 0, request = 0;
    auto write = [](storage::append_request& r, const std::string& stream, storage::expected_version v, const codec::stored_event& e) {
        r.writes.push_back({stream, v, {{e.type, e.schema_version, e.data, "{}"}}});
    };
    {
        storage::append_request r;
        r.command_id = "gen-dealers";
        r.actor = "staff:admin-1";
        for (int d = 1; d <= dealers; ++d) {
            const auto id = "D-" + std::to_string(d);
            write(r, "dealer-" + id, storage::expected_version::no_stream(),
                  codec::encode(dealer_event{dealer_registered{id, "Dealer " + id, "EUR", 30, 5'000'000}}));
        }
        if (!log.append(std::move(r))) throw std::runtime_error("generate: dealers");
    }
    while (log.head_position() < events) {
        storage::append_request r;
        r.command_id = "gen-" + std::to_string(++request);
        r.actor = "staff:plant";
        std::unordered_set<std::size_t> touched;
        for (int w = 0; w < 100; ++w) {
            if (open.size() < 3000 || pick(10) == 0) {
                const auto id = "O-" + std::to_string(++orders);
                const auto dealer = "D-" + std::to_string(1 + pick(dealers));
                std::vector<order_line> lines;
                std::int64_t total = 0, units = 0;
                for (std::uint64_t l = 0, n = 1 + pick(4); l < n; ++l) {
                    lines.push_back({"WIN-" + std::to_string(pick(40)), "Window 1200x1400 white", static_cast<std::int64_t>(1 + pick(8)),
                                     static_cast<std::int64_t>(10'000 + pick(50'000))});
                    total += lines.back().quantity * lines.back().unit_price;
                    units += lines.back().quantity;
                }
                write(r, "order-" + id, storage::expected_version::no_stream(),
                      codec::encode(order_event{order_placed{id, dealer, "EUR", lines, "Main St 1", std::nullopt, total, units}}));
                open.push_back({id, dealer, 0, 1});
                touched.insert(open.size() - 1);
                continue;
            }
            const auto i = static_cast<std::size_t>(pick(open.size()));
            if (!touched.insert(i).second) continue;  // one write per stream per request
            auto& o = open[i];
            const auto stream = "order-" + o.id;
            const auto expected = storage::expected_version::exact(o.version);
            order_event next = production_started{o.id};
            bool done = false;
            switch (o.step) {
                case 0:
                    if (pick(20) == 0) next = order_rejected{o.id, "cannot be made"}, done = true;
                    else next = order_accepted{o.id, "2026-12-01"};
                    break;
                case 1:
                    if (pick(25) == 0) next = order_cancelled{o.id, "customer withdrew", false}, done = true;
                    else next = production_started{o.id};
                    break;
                case 2: next = production_progressed{o.id, 1, 5}; break;
                case 3: next = production_completed{o.id}; break;
                case 4: next = order_shipped{o.id, "Own fleet", "R-12", "TRK-7", "Jan", "+48 600", "2026-12-05"}; break;
                default: next = order_delivered{o.id, "Anna"}, done = true;
            }
            write(r, stream, expected, codec::encode(next));
            ++o.version;
            ++o.step;
            if (done && pick(10) == 0) {  // a claim's whole life, in its own stream
                const auto claim = "CL-" + std::to_string(++claims);
                r.writes.push_back({"claim-" + claim, storage::expected_version::no_stream(), {}});
                for (const auto& e : {claim_event{claim_filed{claim, o.id, o.dealer, "defect", "Scratched frame"}},
                                      claim_event{claim_assigned{claim, "cm-2"}}, claim_event{claim_commented{claim, "Photo?", "staff:cm-2"}},
                                      claim_event{claim_resolved{claim, "repair", 5000, "Technician", "2026-11-23T10:00:00Z"}},
                                      claim_event{claim_closed{claim}}}) {
                    const auto s = codec::encode(e);
                    r.writes.back().events.push_back({s.type, s.schema_version, s.data, "{}"});
                }
            }
            if (done) {
                touched.erase(i);
                std::swap(open[i], open.back());
                open.pop_back();
                // Indices moved: stop this request here to keep "one write per stream" simple.
                break;
            }
        }
        if (auto a = log.append(std::move(r)); !a) throw std::runtime_error("generate: " + a.error().message);
    }
}

std::string timestamp_text(std::int64_t us) {
    using namespace std::chrono;
    const sys_time<microseconds> tp{microseconds{us}};
    const auto day = floor<days>(tp);
    const year_month_day ymd{day};
    const hh_mm_ss<microseconds> t{tp - day};
    char buf[48];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u %02lld:%02lld:%02lld.%06lld+00", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()), static_cast<long long>(t.hours().count()),
                  static_cast<long long>(t.minutes().count()), static_cast<long long>(t.seconds().count()),
                  static_cast<long long>(t.subseconds().count()));
    return buf;
}

// The floor: the same rows as analytics.events, COPYed (libpqxx stream_to) in one transaction.
double raw_copy(const std::string& conninfo, storage::event_log& log) {
    pqxx::connection c(conninfo);
    {
        pqxx::work tx(c);
        tx.exec("DROP TABLE IF EXISTS public.bench_raw_events; CREATE TABLE public.bench_raw_events (LIKE analytics.events INCLUDING ALL)");
        tx.commit();
    }
    const auto start = clock_type::now();
    pqxx::work tx(c);
    pqxx::stream_to copy(tx, "public.bench_raw_events");
    std::uint64_t after = 0;
    for (;;) {
        auto batch = log.read_all(after + 1, 5000);
        if (!batch || batch->empty()) break;
        for (const auto& e : *batch) {
            const auto category = std::string(domain::category_of(e.stream));
            copy << std::make_tuple(static_cast<std::int64_t>(e.position), e.stream, category, static_cast<std::int64_t>(e.version),
                                    e.type, static_cast<int>(e.schema_version), e.actor, e.actor.substr(0, e.actor.find(':')),
                                    e.command_id, e.correlation_id, timestamp_text(e.recorded_at_us), e.data, e.metadata);
        }
        after = batch->back().position;
    }
    copy.complete();
    tx.commit();
    const double s = seconds_since(start);
    pqxx::work drop(c);
    drop.exec("DROP TABLE public.bench_raw_events");
    drop.commit();
    return s;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Projection rebuild throughput vs a raw COPY"};
    std::string postgres, dir = fs::temp_directory_path().string();
    std::uint64_t events = 1'000'000;
    std::size_t batch = 20000;
    app.add_option("--postgres", postgres, "PostgreSQL conninfo (a database the benchmark may fill)")
        ->envname("DEALERLINE_BENCH_POSTGRES")
        ->required();
    app.add_option("--events", events, "Events in the generated log");
    app.add_option("--batch", batch, "Events per rebuild transaction");
    app.add_option("--dir", dir, "Where the generated log goes");
    CLI11_PARSE(app, argc, argv);

    const auto log_dir = fs::path(dir) / ("dl-bench-projections-" + std::to_string(::getpid()));
    struct cleanup {
        fs::path p;
        ~cleanup() {
            std::error_code ec;
            fs::remove_all(p, ec);
        }
    } remove_log{log_dir};

    std::int64_t now = 1'767'225'600'000'000;  // 2026-01-01, then an hour per append
    storage::log_options options;
    options.clock = [&now] { return now += 3'600'000'000 / 24; };
    auto opened = storage::event_log::open(log_dir, options);
    if (!opened) {
        std::fprintf(stderr, "bench_projections: %s\n", opened.error().message.c_str());
        return 1;
    }
    auto& log = **opened;
    auto t = clock_type::now();
    generate(log, events);
    std::printf("generated %llu events in %.1f s\n", static_cast<unsigned long long>(log.head_position()), seconds_since(t));

    if (auto m = projections::migrate(postgres); !m) {
        std::fprintf(stderr, "bench_projections: %s\n", m.error().message.c_str());
        return 1;
    }
    const auto n = static_cast<double>(log.head_position());
    const double raw = raw_copy(postgres, log);
    std::printf("%-28s %8.2f s %10.0f events/s\n", "raw COPY analytics.events", raw, n / raw);

    storage::local_event_source source(log);
    projections::rebuild_options ro;
    ro.batch = batch;
    t = clock_type::now();
    const double cpu_before = cpu_seconds();
    auto reports = projections::rebuild_all(postgres, source, projections::names(), ro);
    const double total = seconds_since(t), cpu = cpu_seconds() - cpu_before;
    if (!reports) {
        std::fprintf(stderr, "bench_projections: %s\n", reports.error().message.c_str());
        return 1;
    }
    for (const auto& r : *reports) std::printf("  %-26s %8.2f s (all six at once)\n", r.name.c_str(), r.seconds);
    std::printf("  this process used %.1f CPU seconds of the %.1f the machine had\n", cpu,
                total * static_cast<double>(std::thread::hardware_concurrency()));
    std::printf("%-28s %8.2f s %10.0f events/s  = %.2f x raw COPY (target >= 50000 events/s and >= 0.4 x)\n",
                "rebuild all projections", total, n / total, raw / total);
    return 0;
}
