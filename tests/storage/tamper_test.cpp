// Tamper evidence: an edit made to the stored bytes behind the log's back is named by verify.
#include <memory>

#include <gtest/gtest.h>

#include "storage/detail/record.hpp"
#include "tests/support/raw_db.hpp"
#include "tests/support/log_fixture.hpp"

namespace dealerline::testing {
namespace {

namespace detail = storage::detail;

class Tamper : public ::testing::Test {
protected:
    void SetUp() override {
        auto log = open_log(path());
        ASSERT_TRUE(log);
        for (int i = 0; i < 20; ++i)
            ASSERT_TRUE(log->append(append_to("order-" + std::to_string(i % 3), storage::expected_version::any(),
                                              {event("OrderNoted", R"({"amount":)" + std::to_string(1000 + i) + "}")},
                                              "c" + std::to_string(i))));
    }
    std::filesystem::path path() const { return dir.path() / "log"; }
    storage::verify_report verify() {
        auto log = open_log(path(), {.read_only = true});
        auto report = log->verify();
        EXPECT_TRUE(report) << report.error().message;
        return *report;
    }
    temp_dir dir;
};

TEST_F(Tamper, UntouchedLogVerifies) { EXPECT_TRUE(verify().ok()); }

TEST_F(Tamper, OneChangedByteInAnEventsDataIsNamed) {
    {
        raw_db raw(path());
        auto value = raw.get_event(7);
        const auto at = value.find("1006");
        ASSERT_NE(at, std::string::npos);
        value[at] = '9';  // the amount 1006 becomes 9006
        raw.put_event(7, value);
    }
    auto report = verify();
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.first_bad, 7u);
    EXPECT_NE(report.problem.find("hash"), std::string::npos) << report.problem;
}

TEST_F(Tamper, EveryByteOfAnEventIsCovered) {
    std::string original;
    {
        raw_db raw(path());
        original = raw.get_event(12);
    }
    for (std::size_t i = 0; i < original.size(); ++i) {
        {
            raw_db raw(path());
            auto value = original;
            value[i] = static_cast<char>(value[i] ^ 0x01);
            raw.put_event(12, value);
        }
        auto report = verify();
        ASSERT_FALSE(report.ok()) << "byte " << i << " is not covered";
        EXPECT_EQ(report.first_bad, 12u) << "byte " << i;
    }
}

TEST_F(Tamper, ADeletedEventIsNamed) {
    {
        raw_db raw(path());
        ASSERT_TRUE(raw.db().Delete(rocksdb::WriteOptions(), raw.events(), detail::be64(5)).ok());
    }
    auto report = verify();
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.first_bad, 5u);
}

TEST_F(Tamper, TwoSwappedEventsAreNamed) {
    {
        raw_db raw(path());
        auto a = raw.get_event(9), b = raw.get_event(10);
        raw.put_event(9, b);
        raw.put_event(10, a);
    }
    auto report = verify();
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.first_bad, 9u);
}

TEST_F(Tamper, AForgedStreamIndexEntryIsNamed) {
    {
        raw_db raw(path());
        // Claim that position 4 (order-0's event) also belongs to order-2 at a new version.
        ASSERT_TRUE(raw.db().Put(rocksdb::WriteOptions(), raw.streams(), detail::stream_key("order-2", 99),
                                 detail::be64(4)).ok());
    }
    auto report = verify();
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.first_bad, 4u);
}

TEST_F(Tamper, ARemovedStreamIndexEntryIsNamed) {
    {
        raw_db raw(path());
        // Position 8 is order-1's third event (positions 2, 5, 8, …).
        ASSERT_TRUE(raw.db().Delete(rocksdb::WriteOptions(), raw.streams(), detail::stream_key("order-1", 3)).ok());
    }
    auto report = verify();
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.first_bad, 8u);
}

TEST_F(Tamper, AWoundBackStreamHeadIsNamed) {
    {
        raw_db raw(path());
        // order-1 has 7 events; a head of 6 would let the writer hand out version 7 twice.
        std::string six;
        detail::put_u64(six, 6);
        ASSERT_TRUE(raw.db().Put(rocksdb::WriteOptions(), raw.heads(), "order-1", six).ok());
    }
    auto report = verify();
    ASSERT_FALSE(report.ok());
    EXPECT_NE(report.problem.find("order-1"), std::string::npos) << report.problem;
}

}  // namespace
}  // namespace dealerline::testing
