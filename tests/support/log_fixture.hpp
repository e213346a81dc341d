// Shared helpers for the event log tests.
#pragma once

#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "storage/event_log.hpp"
#include "tests/support/temp_dir.hpp"

namespace dealerline::testing {

inline storage::event_data event(std::string type, std::string data = "{}") {
    return storage::event_data{std::move(type), 1, std::move(data), "{}"};
}

inline storage::append_request append_to(std::string stream, storage::expected_version expected,
                                          std::vector<storage::event_data> events, std::string command_id) {
    storage::append_request r;
    r.writes.push_back({std::move(stream), expected, std::move(events)});
    r.command_id = std::move(command_id);
    r.actor = "staff:test";
    r.correlation_id = "corr-1";
    return r;
}

inline std::unique_ptr<storage::event_log> open_log(const std::filesystem::path& dir, storage::log_options options = {}) {
    auto log = storage::event_log::open(dir, std::move(options));
    EXPECT_TRUE(log) << (log ? "" : log.error().message);
    return log ? std::move(*log) : nullptr;
}

}  // namespace dealerline::testing
