#include "storage/detail/rocksdb_logger.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <string_view>

#include <rocksdb/env.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace dealerline::storage::detail {
namespace {

spdlog::level::level_enum level_of(rocksdb::InfoLogLevel level) {
    switch (level) {
        case rocksdb::InfoLogLevel::DEBUG_LEVEL: return spdlog::level::trace;
        case rocksdb::InfoLogLevel::WARN_LEVEL: return spdlog::level::warn;
        case rocksdb::InfoLogLevel::ERROR_LEVEL: return spdlog::level::err;
        case rocksdb::InfoLogLevel::FATAL_LEVEL: return spdlog::level::critical;
        default: return spdlog::level::debug;  // INFO, HEADER: options dumps, compactions, flushes
    }
}

// Its own logger on stderr: the auditor's tools open the log too and write their data to stdout,
// which RocksDB's words must not get into. The level follows the process's default logger.
std::shared_ptr<spdlog::logger> shared_sink() {
    static const auto logger = [] {
        auto l = std::make_shared<spdlog::logger>("rocksdb", std::make_shared<spdlog::sinks::stderr_sink_mt>());
        if (auto* d = spdlog::default_logger_raw()) l->set_level(d->level());
        return l;
    }();
    return logger;
}

class spdlog_logger final : public rocksdb::Logger {
public:
    explicit spdlog_logger(std::string tag)
        : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL), tag_(std::move(tag)), sink_(shared_sink()) {}

    using rocksdb::Logger::Logv;
    void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
    void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
        const auto to = level_of(level);
        if (!sink_->should_log(to)) return;
        char text[2048];
        va_list copy;
        va_copy(copy, ap);
        const int n = std::vsnprintf(text, sizeof text, format, copy);
        va_end(copy);
        if (n < 0) return;
        std::string_view line(text, std::min(static_cast<std::size_t>(n), sizeof text - 1));
        while (!line.empty() && line.back() == '\n') line.remove_suffix(1);
        sink_->log(to, "rocksdb {}: {}", tag_, line);
    }

private:
    std::string tag_;
    std::shared_ptr<spdlog::logger> sink_;
};

}  // namespace

std::shared_ptr<rocksdb::Logger> make_rocksdb_logger(std::string tag) { return std::make_shared<spdlog_logger>(std::move(tag)); }

}  // namespace dealerline::storage::detail
