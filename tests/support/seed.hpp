// The seed of a randomized test, printed with every failure it leads to and replayable.
//
//   test_seed seed(20261123);      // this test's own fixed seed…
//   test_seed seed(test_seed::fresh);  // …or a new one each run (tests that explore)
//   workload plant(handler, seed.value);
//
// DEALERLINE_TEST_SEED=N replaces the seed of every randomized test in the run; with
// --gtest_filter it replays one failure exactly (as far as the test is single-threaded: how
// threads interleave is not part of a seed).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace dealerline::testing {

class test_seed {
public:
    explicit test_seed(std::uint64_t fixed, const char* file = __builtin_FILE(), int line = __builtin_LINE())
        : value(chosen(fixed)), trace_(file, line, replay_hint(value)) {}
    struct fresh_t {};
    static constexpr fresh_t fresh{};
    explicit test_seed(fresh_t, const char* file = __builtin_FILE(), int line = __builtin_LINE())
        : test_seed(std::random_device{}(), file, line) {}
    test_seed(const test_seed&) = delete;
    test_seed& operator=(const test_seed&) = delete;

    const std::uint64_t value;

private:
    static std::uint64_t chosen(std::uint64_t fixed) {
        const char* from_env = std::getenv("DEALERLINE_TEST_SEED");
        if (from_env == nullptr || *from_env == '\0') return fixed;
        return std::stoull(from_env);
    }
    static std::string replay_hint(std::uint64_t seed) {
        return "seed " + std::to_string(seed) + " (replay with DEALERLINE_TEST_SEED=" + std::to_string(seed) + ")";
    }
    ::testing::ScopedTrace trace_;  // adds the seed to every failure reported while it lives
};

}  // namespace dealerline::testing
