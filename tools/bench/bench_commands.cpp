// Commands through the handler against the raw append of the same events, same run.
//
//   build/release/tools/bench/bench_commands [--seconds 3] [--callers 1,8,64] [--dir /var/tmp]
//
// Each caller drives its own orders through their whole life: PlaceOrder, AcceptOrder,
// StartProduction, RecordProductionProgress, CompleteProduction, ShipOrder, ConfirmDelivery.
// The raw side appends the very events those commands produce, with exact expected versions.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands/handler.hpp"
#include "domain/codec.hpp"
#include "domain/stream_name.hpp"

namespace {

using namespace dealerline;
using namespace dealerline::domain;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

actor admin{role::admin, "bench", {}};
actor engineer{role::engineer, "eng-1", {}};
actor production{role::production, "prod-1", {}};
actor logistics{role::logistics, "log-1", {}};
actor dealer_actor(const std::string& id) { return {role::dealer, id, id}; }

std::vector<std::pair<order_command, actor>> lifecycle(const std::string& order_id, const std::string& dealer_id) {
    return {
        {place_order{order_id, dealer_id, "EUR", {{"WIN-1200x1400", "Window 1200x1400", 4, 18900}, {"DOOR-900", "Door", 1, 52000}}, "Main St 1", std::nullopt},
         dealer_actor(dealer_id)},
        {accept_order{order_id, "2026-12-01"}, engineer},
        {start_production{order_id}, production},
        {record_production_progress{order_id, 3}, production},
        {complete_production{order_id}, production},
        {ship_order{order_id, "Own fleet", "R-12", "TRK-7", "Jan", "+48 600 000 000", "2026-12-05"}, logistics},
        {confirm_delivery{order_id, "Anna"}, dealer_actor(dealer_id)},
    };
}

// The events the lifecycle produces, in order (decided once, outside the measurement).
std::vector<storage::event_data> lifecycle_events(const std::string& order_id, const std::string& dealer_id) {
    std::vector<storage::event_data> out;
    order_state s{};
    context ctx{admin, 1'795'000'000'000'000, dealer_facts{true, "EUR", 30}, std::nullopt, std::nullopt};
    for (auto& [cmd, who] : lifecycle(order_id, dealer_id)) {
        ctx.by = who;
        auto events = order_aggregate::decide(cmd, s, ctx);
        if (!events) throw std::runtime_error(events.error().message);
        for (const auto& e : *events) {
            s = order_aggregate::evolve(s, e);
            auto stored = codec::encode(e);
            out.push_back({stored.type, stored.schema_version, stored.data, "{}"});
        }
    }
    return out;
}

struct measurement {
    double seconds = 0;
    std::uint64_t operations = 0;
    [[nodiscard]] double rate() const { return static_cast<double>(operations) / seconds; }
};

template <class F>
measurement run(int callers, double seconds, F work) {
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> done{0};
    std::vector<std::thread> threads;
    const auto start = clock_type::now();
    for (int t = 0; t < callers; ++t)
        threads.emplace_back([&, t] {
            std::uint64_t mine = 0;
            for (std::uint64_t round = 0; !stop.load(std::memory_order_relaxed); ++round) mine += work(t, round);
            done += mine;
        });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measurement window
    stop = true;
    for (auto& th : threads) th.join();
    return {std::chrono::duration<double>(clock_type::now() - start).count(), done.load()};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Command handler benchmark: commands/s through handle() vs the raw append of the same events"};
    double seconds = 3;
    std::vector<int> callers{1, 8, 64};
    std::string base = fs::temp_directory_path().string();
    app.add_option("--seconds", seconds, "Measurement window per case");
    app.add_option("--callers", callers, "Concurrent callers")->delimiter(',');
    app.add_option("--dir", base, "Where to put the logs");
    CLI11_PARSE(app, argc, argv);

    const fs::path root = fs::path(base) / ("dl-bench-commands-" + std::to_string(std::random_device{}()));
    fs::create_directories(root);
    int dir_n = 0;
    auto fresh = [&] { return root / std::to_string(dir_n++); };
    const auto template_events = lifecycle_events("O-TEMPLATE", "D-0");
    try {
        std::printf("## Commands through the handler vs raw append (%.0f s per case)\n\n", seconds);
        std::printf("| callers | handler commands/s | raw appends/s (same events) | handler ÷ raw |\n|---:|---:|---:|---:|\n");
        for (int n : callers) {
            measurement raw_m, ours_m;
            {
                auto log = storage::event_log::open(fresh()).value();
                raw_m = run(n, seconds, [&](int t, std::uint64_t round) -> std::uint64_t {
                    const auto stream = "order-R-" + std::to_string(t) + "-" + std::to_string(round);
                    std::uint64_t version = 0, k = 0;
                    for (const auto& e : template_events) {
                        storage::append_request r;
                        r.command_id = stream + "-" + std::to_string(k++);
                        r.actor = "staff:bench";
                        r.writes.push_back({stream, storage::expected_version::exact(version), {e}});
                        if (!log->append(std::move(r))) throw std::runtime_error("raw append failed");
                        ++version;
                    }
                    return template_events.size();
                });
            }
            {
                auto log = storage::event_log::open(fresh()).value();
                commands::handler handler(*log);
                for (int d = 0; d < n; ++d) {
                    const auto id = "D-" + std::to_string(d);
                    auto r = handler.handle({"register-" + id, dealer_command{register_dealer{id, "Dealer " + id, "EUR", 30, 1'000'000}},
                                             admin, std::nullopt, ""});
                    if (!r) throw std::runtime_error(r.error().message);
                }
                ours_m = run(n, seconds, [&](int t, std::uint64_t round) -> std::uint64_t {
                    const auto dealer_id = "D-" + std::to_string(t);
                    const auto order_id = "O-" + std::to_string(t) + "-" + std::to_string(round);
                    std::uint64_t k = 0;
                    for (auto& [cmd, who] : lifecycle(order_id, dealer_id)) {
                        auto r = handler.handle({order_id + "-" + std::to_string(k++), cmd, who, std::nullopt, ""});
                        if (!r) throw std::runtime_error(r.error().code + ": " + r.error().message);
                    }
                    return k;
                });
            }
            std::printf("| %d | %.0f | %.0f | **%.2f ×** |\n", n, ours_m.rate(), raw_m.rate(), ours_m.rate() / raw_m.rate());
            std::fflush(stdout);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_commands: %s\n", e.what());
        fs::remove_all(root);
        return 1;
    }
    fs::remove_all(root);
    return 0;
}
