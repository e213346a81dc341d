// Proves the test harness: the test command started a real PostgreSQL and a real nats-server, and
// we can talk to both (the projections and the NATS event source build on these from issue #4 on).
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>
#include <nats/nats.h>
#include <pqxx/pqxx>

namespace {

const char* required_env(const char* name) {
    const char* value = std::getenv(name);
    if (value == nullptr && std::getenv("CI") != nullptr)
        ADD_FAILURE() << name << " is not set: run the tests through scripts/test.sh";
    return value;
}

TEST(Harness, PostgresAnswersQueries) {
    const char* conninfo = required_env("DEALERLINE_TEST_POSTGRES");
    if (conninfo == nullptr) GTEST_SKIP() << "DEALERLINE_TEST_POSTGRES not set (scripts/test.sh sets it)";
    pqxx::connection c{conninfo};
    pqxx::work tx{c};
    const auto version = tx.exec1("select current_setting('server_version_num')::int")[0].as<int>();
    EXPECT_GE(version, 150000);
    EXPECT_EQ(tx.exec1("select 6 * 7")[0].as<int>(), 42);
}

TEST(Harness, NatsJetStreamIsEnabled) {
    const char* url = required_env("DEALERLINE_TEST_NATS");
    if (url == nullptr) GTEST_SKIP() << "DEALERLINE_TEST_NATS not set (scripts/test.sh sets it)";
    natsConnection* conn = nullptr;
    ASSERT_EQ(natsConnection_ConnectTo(&conn, url), NATS_OK) << nats_GetLastError(nullptr);
    jsCtx* js = nullptr;
    ASSERT_EQ(natsConnection_JetStream(&js, conn, nullptr), NATS_OK);
    jsAccountInfo* info = nullptr;
    jsErrCode jerr = static_cast<jsErrCode>(0);
    EXPECT_EQ(js_GetAccountInfo(&info, js, nullptr, &jerr), NATS_OK) << "JetStream error " << jerr;
    if (info != nullptr) jsAccountInfo_Destroy(info);
    jsCtx_Destroy(js);
    natsConnection_Destroy(conn);
    nats_Close();
}

}  // namespace
