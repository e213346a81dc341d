// How many fsyncs a second this disk completes with 1, 2, 4, 8 in flight: the question behind
// "sync the WAL from several threads at once" (docs/benchmarks.md, issue #2).
//
//   build/release/tools/bench/bench_fsync [--seconds 3] [--dir /var/tmp] [--threads 1,2,4,8]
//
// Each thread appends 4 KiB to a shared file and fdatasyncs it, in a loop; then the same on a
// file that was filled with zeros beforehand (an overwrite needs no metadata journalled).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <fcntl.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

struct result {
    double syncs_per_s = 0, us_per_sync = 0;
};

result measure(const fs::path& file, int threads, bool prewritten, double seconds) {
    const int fd = ::open(file.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot create " + file.string());
    if (prewritten) {
        // Enough zeros that the threads never write past them (4 KiB per sync, at most 30k/s).
        const std::vector<char> zeros(1 << 20, 0);
        const auto mib = std::max<long>(256, static_cast<long>(seconds * 30000 * 4096 / (1 << 20)) + 1);
        for (long i = 0; i < mib; ++i)
            if (::write(fd, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size())) throw std::runtime_error("write failed");
        if (::fsync(fd) != 0) throw std::runtime_error("fsync failed");
    }
    std::mutex m;
    off_t end = 0;
    std::atomic<long> syncs{0};
    std::atomic<bool> stop{false}, failed{false};
    const std::vector<char> block(4096, 'x');
    std::vector<std::thread> pool;
    const auto start = clock_type::now();
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            while (!stop.load()) {
                {
                    std::lock_guard lock(m);  // appends in order, as a WAL's
                    if (::pwrite(fd, block.data(), block.size(), end) != static_cast<ssize_t>(block.size())) failed = true;
                    end += static_cast<off_t>(block.size());
                }
                if (::fdatasync(fd) != 0) failed = true;
                ++syncs;
            }
        });
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& t : pool) t.join();
    const double elapsed = std::chrono::duration<double>(clock_type::now() - start).count();
    ::close(fd);
    fs::remove(file);
    if (failed) throw std::runtime_error("a write or fdatasync failed");
    return {static_cast<double>(syncs) / elapsed, elapsed * 1e6 * threads / static_cast<double>(syncs)};
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"fsyncs per second with several in flight"};
    double seconds = 3;
    std::string dir = fs::temp_directory_path().string();
    std::vector<int> thread_counts{1, 2, 4, 8};
    app.add_option("--seconds", seconds, "Measurement window per case");
    app.add_option("--dir", dir, "Where to put the file (the disk to characterise)");
    app.add_option("--threads", thread_counts, "Syncing threads to measure")->delimiter(',');
    CLI11_PARSE(app, argc, argv);
    try {
        const fs::path file = fs::path(dir) / ("dl-fsync-" + std::to_string(std::random_device{}()));
        std::printf("| fdatasyncs in flight | appended file: syncs/s | µs per sync | pre-written file: syncs/s | µs per sync |\n");
        std::printf("|---:|---:|---:|---:|---:|\n");
        for (int threads : thread_counts) {
            const auto appended = measure(file, threads, false, seconds);
            const auto prewritten = measure(file, threads, true, seconds);
            std::printf("| %d | %.0f | %.0f | %.0f | %.0f |\n", threads, appended.syncs_per_s, appended.us_per_sync,
                        prewritten.syncs_per_s, prewritten.us_per_sync);
            std::fflush(stdout);
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_fsync: %s\n", e.what());
        return 1;
    }
    return 0;
}
