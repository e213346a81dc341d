// Every way a projector upserts, against a real PostgreSQL: no statement may name one key twice,
// however often a transaction writes the same rows (a rebuild's swap applies many batches in one
// transaction; the live runner one). PostgreSQL refuses such a statement with "ON CONFLICT DO
// UPDATE command cannot affect row a second time".
#include <map>
#include <vector>

#include <gtest/gtest.h>

#include "projections/detail/sql.hpp"
#include "tests/support/pg_fixture.hpp"

namespace dealerline::testing {
namespace {

namespace sql = projections::sql;

struct level_row {
    std::string id;
    std::int64_t on_hand = 0;
};
BOOST_DESCRIBE_STRUCT(level_row, (), (id, on_hand))

struct counter_row {
    sql::date day;
    std::string who;
    std::string currency;  // kept: written with a new row only
    std::int64_t moves = 0;
    sql::interval spent;
};
BOOST_DESCRIBE_STRUCT(counter_row, (), (day, who, currency, moves, spent))

class Upserts : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(test_postgres().empty()) << "DEALERLINE_TEST_POSTGRES is not set: run the tests with scripts/test.sh";
        db.exec("CREATE TABLE levels (id text PRIMARY KEY, on_hand bigint NOT NULL);"
                "CREATE TABLE counters (day date, who text, currency text NOT NULL, moves bigint NOT NULL,"
                " spent interval NOT NULL, PRIMARY KEY (day, who))");
        conn = std::make_unique<pqxx::connection>(db.conninfo());
    }
    pg_database db;
    std::unique_ptr<pqxx::connection> conn;
};

// The staged upsert (keyed_rows, every projection's changing rows), written once per batch.
TEST_F(Upserts, RowsWrittenByEveryBatchOfOneTransactionAreUpsertedOnceEach) {
    {
        pqxx::work tx(*conn);
        for (int batch = 1; batch <= 3; ++batch) {
            sql::row_set<level_row> set("levels", 0);
            set.rows.want("A");
            set.rows.load(tx);
            if (auto* a = set.rows.find("A")) a->on_hand += 10;
            else set.rows.create(level_row{"A", 10});
            set.rows.create(level_row{"B-" + std::to_string(batch), batch});
            set.batch_done(tx);
        }
        tx.commit();
    }
    EXPECT_EQ(db.rows("SELECT id, on_hand FROM levels ORDER BY id"), "A|30\nB-1|1\nB-2|2\nB-3|3\n");
    // The stage is empty after the commit and after a write, whatever came before.
    pqxx::work tx(*conn);
    sql::row_set<level_row> set("levels", 0);
    set.rows.create(level_row{"A", 1});
    set.batch_done(tx);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM stage_levels")[0][0].as<int>(), 0);
    tx.commit();
    EXPECT_EQ(db.scalar("SELECT on_hand FROM levels WHERE id = 'A'"), "1");
}

// A rebuild's held rows: written when the memory fills, then again at the flush, in one transaction.
TEST_F(Upserts, HeldRowsWrittenWhenFullAndAgainAtTheFlushInOneTransaction) {
    pqxx::work tx(*conn);
    sql::row_set<level_row> held("levels", 2);
    for (int round = 0; round < 4; ++round) {
        held.rows.want("A");
        held.rows.load(tx);
        if (auto* a = held.rows.find("A")) ++a->on_hand;
        else held.rows.create(level_row{"A", 1});
        held.rows.create(level_row{"C-" + std::to_string(round % 2), round});
        held.batch_done(tx);  // full at 2 rows: written and forgotten
    }
    held.flush(tx);
    tx.commit();
    EXPECT_EQ(db.rows("SELECT id, on_hand FROM levels ORDER BY id"), "A|4\nC-0|2\nC-1|3\n");
}

// Counters (daily orders, monthly claims, revenue, stock movements): rows with one key, in one
// call or in several calls of one transaction, are added up.
TEST_F(Upserts, CountersWithOneKeyTwiceInACallOrInATransactionAddUp) {
    std::vector<counter_row> rows{
        {sql::date{"2026-11-02"}, "dealer:D-1", "EUR", 1, sql::interval{1'000'000}},
        {sql::date{"2026-11-02"}, "dealer:D-1", "PLN", 2, sql::interval{2'000'000}},  // the same key, a later currency is not kept
        {sql::date{"2026-11-03"}, "dealer:D-1", "EUR", 4, sql::interval{0}},
    };
    {
        pqxx::work tx(*conn);
        sql::add_to_counters<counter_row>(tx, "counters", rows, 2, 1);
        sql::add_to_counters<counter_row>(tx, "counters", rows, 2, 1);
        tx.commit();
    }
    EXPECT_EQ(db.rows("SELECT day, who, currency, moves, spent FROM counters ORDER BY day"),
              "2026-11-02|dealer:D-1|EUR|6|00:00:06\n2026-11-03|dealer:D-1|EUR|8|00:00:00\n");
}

}  // namespace
}  // namespace dealerline::testing
