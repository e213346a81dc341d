// The victim of the crash test: appends from several threads as fast as it can and reports each
// acknowledged append on stdout ("<command id> <first position> <count>"), one write(2) per line,
// until the parent kills it with SIGKILL.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "storage/event_log.hpp"
#include "tests/storage/crash_payload.hpp"

int main(int argc, char** argv) {
    using namespace dealerline;
    if (argc != 3 && !(argc == 4 && std::string(argv[3]) == "unsafe")) {
        std::fprintf(stderr, "usage: storage_crash_child LOG_DIR ROUND [unsafe]\n");
        return 2;
    }
    // "unsafe": the power-loss test's negative control, acknowledging before the sync.
    auto log = storage::event_log::open(argv[1], {.unsafe_acknowledge_before_sync = argc == 4});
    if (!log) {
        std::fprintf(stderr, "crash child: %s\n", log.error().message.c_str());
        return 1;
    }
    const std::string round = argv[2];
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int n = 0;; ++n) {
                const auto id = "r" + round + "-t" + std::to_string(t) + "-" + std::to_string(n);
                auto r = (*log)->append(testing::crash_append(id));
                if (!r) {
                    std::fprintf(stderr, "crash child: %s\n", r.error().message.c_str());
                    std::_Exit(1);
                }
                const auto line = id + " " + std::to_string(r->first_position) + " " + std::to_string(r->event_count) + "\n";
                if (::write(STDOUT_FILENO, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::_Exit(1);
            }
        });
    }
    for (auto& th : threads) th.join();
}
