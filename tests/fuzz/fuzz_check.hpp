// A property a fuzz target checks: when it does not hold, abort (libFuzzer keeps the input).
#pragma once

#include <cstdio>
#include <cstdlib>

inline void fuzz_check(bool holds, const char* what) {
    if (holds) return;
    std::fprintf(stderr, "fuzz check failed: %s\n", what);
    std::abort();
}
