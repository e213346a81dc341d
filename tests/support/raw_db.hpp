// The log's RocksDB opened directly, the way an attacker with file access would: for tamper tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include "storage/detail/record.hpp"

namespace dealerline::testing {

namespace detail = storage::detail;

class raw_db {
public:
    explicit raw_db(const std::filesystem::path& dir) {
        std::vector<rocksdb::ColumnFamilyDescriptor> families;
        for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), detail::cf_events, detail::cf_streams,
                                 detail::cf_heads, detail::cf_commands, detail::cf_snapshots})
            families.emplace_back(name, rocksdb::ColumnFamilyOptions());
        const auto s = rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), families, &handles_, &db_);
        EXPECT_TRUE(s.ok()) << s.ToString();
    }
    ~raw_db() {
        for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
        delete db_;
    }
    rocksdb::DB& db() { return *db_; }
    rocksdb::ColumnFamilyHandle* events() { return handles_[1]; }
    rocksdb::ColumnFamilyHandle* streams() { return handles_[2]; }
    rocksdb::ColumnFamilyHandle* heads() { return handles_[3]; }
    std::string get_event(std::uint64_t position) {
        std::string value;
        EXPECT_TRUE(db_->Get(rocksdb::ReadOptions(), events(), detail::be64(position), &value).ok());
        return value;
    }
    void put_event(std::uint64_t position, const std::string& value) {
        EXPECT_TRUE(db_->Put(rocksdb::WriteOptions(), events(), detail::be64(position), value).ok());
    }

private:
    rocksdb::DB* db_ = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

}  // namespace dealerline::testing
