// RocksDB's own diagnostics go to the process's stderr (spdlog) rather than to a LOG file beside
// the data. An operator reads the process's output; and Debian's librocksdb is built with assertions, so its file
// logger aborts the process on the next message after one of its writes failed, which is exactly
// what a full disk shared with the data does (found by RealDiskFull in tests/storage/fault_test.cpp).
#pragma once

#include <memory>
#include <string>

namespace rocksdb {
class Logger;
}

namespace dealerline::storage::detail {

// Warnings and errors at spdlog's warn and error, RocksDB's chatty information at debug, on stderr;
// each line starts with "rocksdb <tag>:" (the log's folder).
[[nodiscard]] std::shared_ptr<rocksdb::Logger> make_rocksdb_logger(std::string tag);

}  // namespace dealerline::storage::detail
