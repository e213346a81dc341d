// Waiting for asynchronous work in a test: poll with a deadline, never a bare sleep.
#pragma once

#include <chrono>
#include <thread>

namespace dealerline::testing {

// Polls `done` until it holds or the deadline passes.
template <class F>
bool eventually(F done, std::chrono::milliseconds within = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    while (std::chrono::steady_clock::now() < deadline) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
}

}  // namespace dealerline::testing
