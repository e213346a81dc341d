// The event log against raw RocksDB, same machine, same run, same payloads.
//
//   build/release/tools/bench/bench_log [--seconds 3] [--dir /var/tmp] [--scan-events 1000000] [--target-rounds 3]
//
// Prints markdown tables for docs/benchmarks.md. Every write, ours and raw, is fsync'd.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
// Raw RocksDB is the baseline this benchmark measures against, hence the include outside storage/.
#include <rocksdb/db.h>  // the raw RocksDB this benchmark compares against: on purpose, outside storage/

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include "storage/detail/json_check.hpp"  // what append checks each event with, against a DOM parse
#include "storage/event_log.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;
using namespace dealerline;

// ~250 bytes, shaped like an order event.
std::string payload(std::uint64_t n) {
    std::string s = R"({"order_id":"O-)" + std::to_string(100000 + n % 900000) +
                    R"(","dealer_id":"D-0042","status":"in_production","completed_units":7,"total_units":12,)"
                    R"("carrier":"Own fleet","route":"R-12","vehicle":"TRK-7","note":")";
    s.append(250 - std::min<std::size_t>(s.size() + 2, 250), 'x');
    s += "\"}";
    return s;
}

struct measurement {
    double seconds = 0;
    std::uint64_t appends = 0, events = 0;
    double p50_us = 0, p99_us = 0;
    [[nodiscard]] double events_per_s() const { return static_cast<double>(events) / seconds; }
    [[nodiscard]] double appends_per_s() const { return static_cast<double>(appends) / seconds; }
};

void percentiles(std::vector<std::uint32_t>& all, measurement& m) {
    if (all.empty()) return;
    auto at = [&](double q) {
        auto k = static_cast<std::size_t>(q * static_cast<double>(all.size() - 1));
        std::nth_element(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(k), all.end());
        return static_cast<double>(all[k]);
    };
    m.p50_us = at(0.50);
    m.p99_us = at(0.99);
}

// Runs `writers` threads calling `one(thread, n)` (one append of `events_per_append` events)
// until `duration` has passed, and collects each append's latency.
template <class F>
measurement run_writers(int writers, int events_per_append, std::chrono::duration<double> duration, F one) {
    std::atomic<bool> go{false}, stop{false};
    std::vector<std::vector<std::uint32_t>> latencies(static_cast<std::size_t>(writers));
    std::vector<std::thread> threads;
    for (int t = 0; t < writers; ++t) {
        threads.emplace_back([&, t] {
            auto& mine = latencies[static_cast<std::size_t>(t)];
            mine.reserve(1 << 16);
            while (!go.load()) std::this_thread::yield();
            for (std::uint64_t n = 0; !stop.load(std::memory_order_relaxed); ++n) {
                const auto start = clock_type::now();
                one(t, n);
                mine.push_back(static_cast<std::uint32_t>(
                    std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - start).count()));
            }
        });
    }
    const auto start = clock_type::now();
    go = true;
    std::this_thread::sleep_for(duration);  // the measurement window
    stop = true;
    for (auto& th : threads) th.join();
    measurement m;
    m.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    std::vector<std::uint32_t> all;
    for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
    m.appends = all.size();
    m.events = m.appends * static_cast<std::uint64_t>(events_per_append);
    percentiles(all, m);
    return m;
}

class raw_rocksdb {
public:
    explicit raw_rocksdb(const fs::path& dir) {
        rocksdb::Options options;
        options.create_if_missing = true;
        options.IncreaseParallelism(2);
        const auto s = rocksdb::DB::Open(options, dir.string(), &db_);
        if (!s.ok()) throw std::runtime_error("raw RocksDB: " + s.ToString());
    }
    ~raw_rocksdb() { delete db_; }
    void write(int events) {
        rocksdb::WriteBatch batch;
        for (int i = 0; i < events; ++i) {
            const auto key = next_.fetch_add(1);
            char k[8];
            for (int b = 0; b < 8; ++b) k[b] = static_cast<char>((key >> (56 - 8 * b)) & 0xff);
            (void)batch.Put(rocksdb::Slice(k, 8), payloads_[key % payloads_.size()]);
        }
        rocksdb::WriteOptions wo;
        wo.sync = true;
        const auto s = db_->Write(wo, &batch);
        if (!s.ok()) throw std::runtime_error("raw RocksDB write: " + s.ToString());
    }

private:
    rocksdb::DB* db_ = nullptr;
    std::atomic<std::uint64_t> next_{1};
    std::vector<std::string> payloads_ = [] {
        std::vector<std::string> p;
        for (std::uint64_t i = 0; i < 64; ++i) p.push_back(payload(i));
        return p;
    }();
};

struct ours {
    explicit ours(const fs::path& dir) {
        auto opened = storage::event_log::open(dir);
        if (!opened) throw std::runtime_error(opened.error().message);
        log = std::move(*opened);
    }
    [[nodiscard]] storage::append_request request(int chain, std::uint64_t n, int events) const {
        storage::append_request r;
        r.command_id = "t" + std::to_string(chain) + "-" + std::to_string(n);
        r.actor = "staff:bench";
        r.correlation_id = r.command_id;
        storage::stream_write w;
        w.stream = "order-" + std::to_string(chain) + "-" + std::to_string(n % 1000);
        for (int i = 0; i < events; ++i)
            w.events.push_back({"ProductionProgressed", 1, payloads[(n + static_cast<std::uint64_t>(i)) % payloads.size()], "{}"});
        r.writes.push_back(std::move(w));
        return r;
    }
    void write(int thread, std::uint64_t n, int events) {
        auto res = log->append(request(thread, n, events));
        if (!res) throw std::runtime_error("append: " + res.error().message);
    }
    std::unique_ptr<storage::event_log> log;
    std::vector<std::string> payloads = [] {
        std::vector<std::string> p;
        for (std::uint64_t i = 0; i < 64; ++i) p.push_back(payload(i));
        return p;
    }();
};

// `in_flight` appends outstanding at all times, each completion issuing the next one: how a server
// uses the log (no thread blocks per request).
measurement run_async(ours& log, int in_flight, int events, std::chrono::duration<double> duration) {
    struct chain {
        int id = 0;
        std::uint64_t n = 0;
        clock_type::time_point started;
        std::vector<std::uint32_t> latencies;
    };
    std::vector<chain> chains(static_cast<std::size_t>(in_flight));
    std::atomic<bool> stop{false}, failed{false};
    std::mutex mutex;
    std::condition_variable all_done;
    int active = in_flight;
    std::function<void(chain&)> issue = [&](chain& c) {
        c.started = clock_type::now();
        log.log->append(log.request(c.id, c.n++, events), [&](storage::result<storage::append_result> r) {
            if (!r) failed = true;
            c.latencies.push_back(static_cast<std::uint32_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now() - c.started).count()));
            if (stop.load() || failed.load()) {
                std::lock_guard lock(mutex);
                if (--active == 0) all_done.notify_one();
                return;
            }
            issue(c);
        });
    };
    const auto start = clock_type::now();
    for (int i = 0; i < in_flight; ++i) {
        chains[static_cast<std::size_t>(i)].id = 1000 + i;
        issue(chains[static_cast<std::size_t>(i)]);
    }
    std::this_thread::sleep_for(duration);  // the measurement window
    stop = true;
    {
        std::unique_lock lock(mutex);
        all_done.wait(lock, [&] { return active == 0; });
    }
    if (failed) throw std::runtime_error("an asynchronous append failed");
    measurement m;
    m.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    std::vector<std::uint32_t> all;
    for (auto& c : chains) all.insert(all.end(), c.latencies.begin(), c.latencies.end());
    m.appends = all.size();
    m.events = m.appends * static_cast<std::uint64_t>(events);
    percentiles(all, m);
    return m;
}

// On-CPU nanoseconds so far of this process's threads named `name` (from schedstat): the writer's
// CPU per append is a steadier figure than throughput, which follows the disk's drifting fsyncs.
std::uint64_t thread_cpu_ns(const std::string& name) {
    std::uint64_t total = 0;
    for (const auto& task : fs::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string c;
        std::getline(comm, c);
        if (c != name) continue;
        std::ifstream sched(task.path() / "schedstat");
        std::uint64_t ns = 0;
        sched >> ns;
        total += ns;
    }
    return total;
}

// Nanoseconds per call of `check` on `text`, best of five runs of `n` calls.
template <class F>
double ns_per_check(F check, std::string_view text, int n = 200000) {
    double best = 1e18;
    for (int run = 0; run < 5; ++run) {
        int accepted = 0;
        const auto start = clock_type::now();
        for (int i = 0; i < n; ++i) accepted += check(text) ? 1 : 0;
        const double ns = std::chrono::duration<double, std::nano>(clock_type::now() - start).count() / n;
        if (accepted != n) throw std::runtime_error("a valid JSON text was refused");
        best = std::min(best, ns);
    }
    return best;
}

// Every event's data and metadata is checked for JSON on the appender's thread: our check (a
// parser that builds nothing) against what it replaced, a Boost.JSON parse into a DOM.
void json_check_table() {
    auto dom = [](std::string_view text) {
        unsigned char buffer[4096];
        boost::json::monotonic_resource arena(buffer, sizeof buffer);
        boost::json::parse_options options;
        options.max_depth = storage::limits::max_json_depth;
        boost::system::error_code ec;
        (void)boost::json::parse(text, ec, &arena, options);
        return !ec;
    };
    auto ours = [](std::string_view text) { return storage::detail::valid_json(text, storage::limits::max_json_depth); };
    std::printf("\n## Checking an event's JSON (CPU only)\n\n| text | Boost.JSON DOM parse, ns | ours, ns | ours ÷ DOM |\n|---|---:|---:|---:|\n");
    const std::string event = payload(42);
    for (const auto& [name, text] : {std::pair<const char*, std::string_view>{"a 250-byte event", event}, {"metadata {}", "{}"}}) {
        const double d = ns_per_check(dom, text), o = ns_per_check(ours, text);
        std::printf("| %s | %.0f | %.0f | %.2f × |\n", name, d, o, o / d);
    }
    std::fflush(stdout);
}

void row(const char* system, int writers, int events, const measurement& m, const char* ratio) {
    std::printf("| %-36s | %3d | %3d | %10.0f | %9.0f | %8.0f | %8.0f | %s |\n", system, writers, events, m.events_per_s(),
                m.appends_per_s(), m.p50_us, m.p99_us, ratio);
    std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Event log benchmark: dealerline's append and scan against raw RocksDB"};
    double seconds = 3;
    std::string base = fs::temp_directory_path().string();
    std::uint64_t scan_events = 1'000'000;
    std::vector<int> writer_counts{1, 4, 16, 64}, event_counts{1, 10};
    bool profile = false;
    app.add_option("--seconds", seconds, "Measurement window per case");
    app.add_option("--dir", base, "Where to put the databases (same disk as production data)");
    app.add_option("--scan-events", scan_events, "Events in the log for the scan benchmark (0: skip)");
    app.add_option("--writers", writer_counts, "Concurrent appender counts to measure")->delimiter(',');
    app.add_option("--events", event_counts, "Events per append to measure")->delimiter(',');
    app.add_flag("--profile", profile, "Run only our append for the given shapes (for perf record)");
    bool only_async = false;
    app.add_flag("--only-async", only_async, "With --profile: only the asynchronous appends");
    int rounds = 3;
    app.add_option("--target-rounds", rounds,
                   "Rounds of the target shapes, ours and raw side by side in each (the disk's latency drifts)")
        ->check(CLI::Range(1, 50));
    CLI11_PARSE(app, argc, argv);

    const fs::path root = fs::path(base) / ("dl-bench-" + std::to_string(std::random_device{}()));
    fs::create_directories(root);
    struct remove_on_exit {
        fs::path dir;
        ~remove_on_exit() { fs::remove_all(dir); }
    } cleanup{root};
    const std::chrono::duration<double> window(seconds);
    int dir_n = 0;
    auto fresh = [&] { return root / std::to_string(dir_n++); };

    try {
        std::printf("## Append: dealerline event log vs raw RocksDB (every write fsync'd, %.0f s per case)\n\n", seconds);
        std::printf("| system | writers (threads or appends in flight) | events/append | events/s | appends/s | p50 µs | p99 µs | ours ÷ raw (events/s) |\n");
        std::printf("|---|---:|---:|---:|---:|---:|---:|---|\n");
        measurement raw_batch64{};
        auto ratio_text = [](const measurement& ours_m, const measurement& raw_m, const storage::log_stats& st) {
            char text[80];
            std::snprintf(text, sizeof text, "**%.2f ×** (%.1f appends/fsync)", ours_m.events_per_s() / raw_m.events_per_s(),
                          static_cast<double>(st.appends_synced) / static_cast<double>(std::max<std::uint64_t>(1, st.syncs)));
            return std::string(text);
        };
        for (int events : event_counts) {
            for (int writers : writer_counts) {
                measurement raw_m;
                if (!profile) {
                    raw_rocksdb raw(fresh());
                    raw_m = run_writers(writers, events, window, [&](int, std::uint64_t) { raw.write(events); });
                }
                row("raw RocksDB, one synced batch each", writers, events, raw_m, "");
                measurement threads_m, async_m;
                if (!(profile && only_async)) {
                    ours log(fresh());
                    threads_m = run_writers(writers, events, window, [&](int t, std::uint64_t n) { log.write(t, n, events); });
                    row("dealerline, blocking threads", writers, events, threads_m,
                        ratio_text(threads_m, raw_m, log.log->stats()).c_str());
                }
                if (writers > 1) {
                    ours log(fresh());
                    const char* const names[] = {"dl-log-writer", "dl-log-sync", "dl-log-answer", "dl-wal-zeroer"};
                    std::uint64_t before[4] = {};
                    for (int k = 0; profile && k < 4; ++k) before[k] = thread_cpu_ns(names[k]);
                    async_m = run_async(log, writers, events, window);
                    row("dealerline, async appends in flight", writers, events, async_m,
                        ratio_text(async_m, raw_m, log.log->stats()).c_str());
                    for (int k = 0; profile && k < 4; ++k) {
                        const auto ns = static_cast<double>(thread_cpu_ns(names[k]) - before[k]);
                        std::printf("%s: %.2f µs of CPU per append, busy %.0f %% of the window\n", names[k],
                                    ns / 1e3 / static_cast<double>(std::max<std::uint64_t>(1, async_m.appends)),
                                    ns / 1e7 / async_m.seconds);
                    }
                }
            }
        }
        if (profile) return 0;
        {
            raw_rocksdb raw(fresh());
            raw_batch64 = run_writers(1, 64, window, [&](int, std::uint64_t) { raw.write(64); });
        }
        row("raw RocksDB, ideal: 64 events/fsync", 1, 64, raw_batch64, "");

        // The targets compare measurements taken seconds apart, and this machine's fsync latency
        // drifts by half over minutes: each round measures every side of every target back to
        // back, and the medians of the per-round ratios are what the targets are judged on.
        std::printf("\n## Targets (issue #2), %d rounds of each side back to back\n\n", rounds);
        std::printf("| round | raw, 64 synced writers | raw, one batch of 64 | ours, 64 blocking threads | ours, 64 async | "
                    "threads ÷ raw writers | async ÷ raw writers | threads ÷ raw batch | async ÷ raw batch | "
                    "raw one writer p50 µs | ours one appender p50 µs |\n");
        std::printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        std::vector<double> tw, aw, tb, ab, lat;
        for (int round = 1; round <= rounds; ++round) {
            // Every side on a database of its own, removed afterwards: a memtable flush left over
            // from the previous side would otherwise compete for the disk.
            auto on_fresh = [&](auto measure) {
                const auto dir = fresh();
                const measurement m = measure(dir);  // the database is closed when `measure` returns
                fs::remove_all(dir);
                return m;
            };
            auto raw_side = [&](int writers, int events) {
                return on_fresh([&](const fs::path& d) {
                    raw_rocksdb raw(d);
                    return run_writers(writers, events, window, [&](int, std::uint64_t) { raw.write(events); });
                });
            };
            auto ours_threads = [&](int writers) {
                return on_fresh([&](const fs::path& d) {
                    ours log(d);
                    return run_writers(writers, 1, window, [&](int t, std::uint64_t n) { log.write(t, n, 1); });
                });
            };
            const auto raw_1 = raw_side(1, 1);
            const auto ours_1 = ours_threads(1);
            const auto raw_w = raw_side(64, 1);
            const auto ours_t = ours_threads(64);
            const auto ours_a = on_fresh([&](const fs::path& d) {
                ours log(d);
                return run_async(log, 64, 1, window);
            });
            const auto raw_b = raw_side(1, 64);
            tw.push_back(ours_t.events_per_s() / raw_w.events_per_s());
            aw.push_back(ours_a.events_per_s() / raw_w.events_per_s());
            tb.push_back(ours_t.events_per_s() / raw_b.events_per_s());
            ab.push_back(ours_a.events_per_s() / raw_b.events_per_s());
            lat.push_back(ours_1.p50_us / raw_1.p50_us);
            std::printf("| %d | %.0f | %.0f | %.0f | %.0f | %.2f × | %.2f × | %.2f × | %.2f × | %.0f | %.0f |\n", round,
                        raw_w.events_per_s(), raw_b.events_per_s(), ours_t.events_per_s(), ours_a.events_per_s(), tw.back(),
                        aw.back(), tb.back(), ab.back(), raw_1.p50_us, ours_1.p50_us);
            std::fflush(stdout);
        }
        auto median = [](std::vector<double> v) {
            std::sort(v.begin(), v.end());
            const auto n = v.size();
            return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        };
        auto range = [&](const std::vector<double>& v) {
            char text[64];
            std::snprintf(text, sizeof text, "%.2f × (%.2f–%.2f)", median(v), *std::min_element(v.begin(), v.end()),
                          *std::max_element(v.begin(), v.end()));
            return std::string(text);
        };
        std::printf("\n| target | median (range) over the rounds | goal |\n|---|---:|---:|\n");
        std::printf("| 64 one-event appends vs raw RocksDB with 64 synced writers: blocking threads | %s | ≥ 3 × |\n", range(tw).c_str());
        std::printf("| 64 one-event appends vs raw RocksDB with 64 synced writers: async in flight | %s | ≥ 3 × |\n", range(aw).c_str());
        std::printf("| 64 one-event appends vs one raw synced batch of 64 events: blocking threads | %s | ≥ 0.5 × |\n", range(tb).c_str());
        std::printf("| 64 one-event appends vs one raw synced batch of 64 events: async in flight | %s | ≥ 0.5 × |\n", range(ab).c_str());
        std::printf("| single appender p50 latency vs one raw synced write | %s | ≤ 1.3 × |\n", range(lat).c_str());

        json_check_table();
        if (scan_events == 0) return 0;
        // Scan: fill the log quickly with large group commits, then read everything back.
        std::printf("\n## Scan (read all) over %llu events\n\n", static_cast<unsigned long long>(scan_events));
        ours log(fresh());
        {
            const int fillers = 8, per_append = 100;
            std::vector<std::thread> threads;
            std::atomic<std::uint64_t> appended{0};
            for (int t = 0; t < fillers; ++t)
                threads.emplace_back([&, t] {
                    for (std::uint64_t n = 0; appended.fetch_add(per_append) < scan_events; ++n) log.write(t, n, per_append);
                });
            for (auto& th : threads) th.join();
        }
        const auto head = log.log->head_position();
        std::printf("| read path | events | seconds | events/s |\n|---|---:|---:|---:|\n");
        for (int pass = 0; pass < 2; ++pass) {
            const auto start = clock_type::now();
            std::uint64_t count = 0, bytes = 0;
            if (pass == 0) {
                auto r = log.log->scan(1, storage::to_end, [&](const storage::event_view& e) {
                    ++count;
                    bytes += e.data.size();
                    return true;
                });
                if (!r) throw std::runtime_error(r.error().message);
            } else {
                for (std::uint64_t from = 1; from <= head;) {
                    auto batch = log.log->read_all(from, 1000);
                    if (!batch || batch->empty()) throw std::runtime_error("read_all stopped early");
                    for (const auto& e : *batch) bytes += e.data.size();
                    count += batch->size();
                    from = batch->back().position + 1;
                }
            }
            const double s = std::chrono::duration<double>(clock_type::now() - start).count();
            std::printf("| %s | %llu | %.2f | %.0f |\n",
                        pass == 0 ? "`scan` (zero-copy visitor)" : "`read_all` in batches of 1000 (owned copies)",
                        static_cast<unsigned long long>(count), s, static_cast<double>(count) / s);
            if (count != head) throw std::runtime_error("scan saw a different number of events than the head");
        }
        {
            const auto start = clock_type::now();
            auto report = log.log->verify();
            const double s = std::chrono::duration<double>(clock_type::now() - start).count();
            if (!report || !report->ok()) throw std::runtime_error("verify failed on the benchmark log");
            std::printf("| `verify` (hash chain + stream index) | %llu | %.2f | %.0f |\n",
                        static_cast<unsigned long long>(report->checked), s, static_cast<double>(report->checked) / s);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_log: %s\n", e.what());
        return 1;
    }
    return 0;
}
