// The auditor's tool over a million events, against the floor SHA-256 sets, in one run.
//
//   build/release/tools/bench/bench_audit [--events 1000000] [--dir /var/tmp]
//
// Fills a log (group-committed appends of ~250-byte order events), then times `verify` (one
// thread), `audit events --format jsonl` and `audit export` to /dev/null, and SHA-256 of 320-byte
// blocks in this process and as `openssl speed` reports it.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <openssl/evp.h>

#include "storage/event_log.hpp"
#include "tools/audit.hpp"

namespace {

using namespace dealerline;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

double seconds_since(clock_type::time_point start) { return std::chrono::duration<double>(clock_type::now() - start).count(); }

void fill(storage::event_log& log, std::uint64_t events) {
    constexpr int threads = 8, per_append = 100;
    std::atomic<std::uint64_t> next{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (std::uint64_t n = 0;; ++n) {
                const auto first = next.fetch_add(per_append);
                if (first >= events) return;
                storage::append_request r;
                r.command_id = "fill-" + std::to_string(t) + "-" + std::to_string(n);
                r.actor = "staff:bench";
                // 7 events per order stream, like an order's life.
                for (std::uint64_t i = first; i < std::min<std::uint64_t>(first + per_append, events); ++i) {
                    const auto stream = "order-O-" + std::to_string(i / 7);
                    if (r.writes.empty() || r.writes.back().stream != stream) r.writes.push_back({stream, storage::expected_version::any(), {}});
                    r.writes.back().events.push_back(
                        {"ProductionProgressed", 1,
                         R"({"order_id":"O-)" + std::to_string(i / 7) +
                             R"(","completed_units":3,"total_units":12,"note":")" + std::string(170, 'x') + "\"}",
                         "{}"});
                }
                if (!log.append(std::move(r))) throw std::runtime_error("fill failed");
            }
        });
    for (auto& w : workers) w.join();
}

double sha256_per_second(std::uint64_t blocks) {
    std::array<unsigned char, 320> block{};
    unsigned char digest[32];
    unsigned int n = 0;
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    const auto start = clock_type::now();
    for (std::uint64_t i = 0; i < blocks; ++i) {
        block[0] = static_cast<unsigned char>(i);
        EVP_DigestInit_ex(ctx, md, nullptr);
        EVP_DigestUpdate(ctx, block.data(), block.size());
        EVP_DigestFinal_ex(ctx, digest, &n);
    }
    const double rate = static_cast<double>(blocks) / seconds_since(start);
    EVP_MD_free(md);
    EVP_MD_CTX_free(ctx);
    return rate;
}

// `openssl speed`'s figure for 320-byte blocks, in blocks/s (0 when the tool is not there).
double openssl_speed() {
    FILE* p = ::popen("openssl speed -seconds 2 -bytes 320 sha256 2>/dev/null | tail -1", "r");
    if (p == nullptr) return 0;
    char line[256] = {};
    const bool got = std::fgets(line, sizeof line, p) != nullptr;
    ::pclose(p);
    if (!got) return 0;
    std::istringstream in(line);
    std::string name, kbytes;
    in >> name >> kbytes;  // "sha256  1069315.20k"
    try {
        return std::stod(kbytes) * 1000.0 / 320.0;
    } catch (const std::exception&) {
        return 0;
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Audit benchmark: verify and export over a large log vs SHA-256's own speed"};
    std::uint64_t events = 1'000'000;
    std::string base = fs::temp_directory_path().string();
    app.add_option("--events", events, "Events in the log");
    app.add_option("--dir", base, "Where to put the log");
    CLI11_PARSE(app, argc, argv);
    const fs::path root = fs::path(base) / ("dl-bench-audit-" + std::to_string(std::random_device{}()));
    fs::create_directories(root);
    const auto data = (root / "log").string();
    try {
        {
            auto log = storage::event_log::open(data).value();
            const auto start = clock_type::now();
            fill(*log, events);
            std::printf("## Audit over %llu events (filled in %.1f s)\n\n", static_cast<unsigned long long>(events), seconds_since(start));
        }
        {
            // A restart, as after a day of serving: recovery moves what the WAL held into table
            // files, which is where an auditor finds a log at rest.
            auto log = storage::event_log::open(data).value();
        }
        std::printf("| what | events | seconds | events/s |\n|---|---:|---:|---:|\n");
        auto row = [](const char* what, std::uint64_t n, double s) {
            std::printf("| %s | %llu | %.2f | %.0f |\n", what, static_cast<unsigned long long>(n), s, static_cast<double>(n) / s);
            std::fflush(stdout);
        };
        {
            storage::log_options options;
            options.read_only = true;
            auto log = storage::event_log::open(data, options).value();
            const auto start = clock_type::now();
            auto report = log->verify();
            const double s = seconds_since(start);
            if (!report || !report->ok()) throw std::runtime_error("verify failed on the benchmark log");
            row("`verify` (hash chain + stream index), one thread", report->checked, s);
        }
        {
            std::ofstream null_out("/dev/null");
            std::ostringstream err;
            tools::audit::event_filter f;
            f.jsonl = true;
            const auto start = clock_type::now();
            if (tools::audit::events(data, f, null_out, err) != 0) throw std::runtime_error(err.str());
            row("`audit events --format jsonl > /dev/null`", events, seconds_since(start));
        }
        {
            std::ostringstream out, err;
            const auto start = clock_type::now();
            if (tools::audit::export_jsonl(data, {}, {}, "/dev/null", out, err) != 0) throw std::runtime_error(err.str());
            row("`audit export --out /dev/null`", events, seconds_since(start));
        }
        const double in_process = sha256_per_second(2'000'000);
        std::printf("| SHA-256 of 320-byte blocks, this process (EVP) | | | %.0f |\n", in_process);
        if (const double tool = openssl_speed(); tool > 0) std::printf("| SHA-256 of 320-byte blocks, `openssl speed -bytes 320 sha256` | | | %.0f |\n", tool);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_audit: %s\n", e.what());
        fs::remove_all(root);
        return 1;
    }
    fs::remove_all(root);
    return 0;
}
