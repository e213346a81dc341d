// The route table and the route functions, without a socket: request fields in, an answer out,
// over a real log and the real command handler (no read models: those routes need PostgreSQL and
// are exercised through the server in server_test.cpp).
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/detail/routes.hpp"
#include "tests/support/log_fixture.hpp"
#include "tests/support/temp_dir.hpp"

namespace dealerline::testing {
namespace {

namespace json = boost::json;
using api::http_status;

api::token_claims claims(domain::role role, std::string dealer = "") {
    return {role == domain::role::dealer ? dealer : "staff-1", role, std::move(dealer), 0};
}

json::value body_of(const api::answer& a) { return a.text.empty() ? a.body : json::parse(a.text); }

std::string header_of(const api::answer& a, std::string_view name) {
    for (const auto& [n, v] : a.headers)
        if (n == name) return v;
    return "";
}

class Routes : public ::testing::Test {
protected:
    void SetUp() override {
        log = open_log(dir.path() / "log");
        ASSERT_TRUE(log);
        handler = std::make_unique<commands::handler>(*log);
    }

    api::answer command(const std::string& text, domain::role role = domain::role::admin) {
        return api::execute_command(context(), claims(role), json::parse(text), "");
    }
    api::route_context context() { return {*log, *handler, nullptr, nullptr, stats, limiter, stopping}; }

    temp_dir dir;
    std::unique_ptr<storage::event_log> log;
    std::unique_ptr<commands::handler> handler;
    api::metrics stats;
    api::rate_limiter limiter{0, 0};
    std::atomic<bool> stopping{false};
};

const std::string register_d1 =
    R"({"command_id":"c-1","type":"RegisterDealer","data":{"dealer_id":"D-1","name":"Okna","currency":"EUR","payment_terms_days":30,"credit_limit":100000}})";

TEST(RouteTable, EveryPathAndMethodIsOneRowAndEveryQueryRowHasItsFunction) {
    std::set<std::string_view> paths;
    for (const auto& r : api::route_table()) {
        EXPECT_TRUE(paths.insert(r.path).second) << r.path << " is in the table twice";
        EXPECT_TRUE(r.method == "GET" || r.method == "POST") << r.path;
        EXPECT_EQ(r.kind == api::route_kind::query, r.query != nullptr) << r.path;
        // Each row is found by its own path (a prefix row by a path under it).
        const std::string probe = std::string(r.path) + (r.path.size() > 1 && r.path.ends_with('/') ? "x" : "");
        EXPECT_EQ(api::find_route(probe, true), &r) << probe;
    }
}

TEST(RouteTable, ReadModelRoutesExistOnlyWithReadModelsAndUnknownPathsHaveNoRow) {
    for (const char* path : {"/api/orders", "/api/orders/O-1", "/api/claims", "/api/claims/C-1", "/api/dealers/D-1/account",
                             "/api/stock", "/api/subscriptions"}) {
        ASSERT_NE(api::find_route(path, true), nullptr) << path;
        EXPECT_TRUE(api::find_route(path, true)->read_model) << path;
        EXPECT_EQ(api::find_route(path, false), nullptr) << path;
    }
    for (const char* path : {"/api/events", "/api/streams/dealer-D-1", "/api/commands", "/api/live", "/healthz", "/readyz", "/metrics", "/"})
        EXPECT_NE(api::find_route(path, false), nullptr) << path;
    for (const char* path : {"/nope", "/api", "/api/order", "/api/ordersx", "/healthz/", "/api/commands/1", ""})
        EXPECT_EQ(api::find_route(path, true), nullptr) << path;
    EXPECT_EQ(api::find_route("/api/orders/O-1", true)->query, &api::query_order);
    EXPECT_EQ(api::find_route("/api/orders", true)->query, &api::query_orders);
}

TEST_F(Routes, GivenEventsInTheLogWhenAnAuditorReadsThemThenTheyComeInOrderWithTheHead) {
    ASSERT_EQ(command(register_d1).status, http_status::ok);
    const auto head = log->head_position();
    ASSERT_GE(head, 1u);
    auto a = api::query_events(context(), {claims(domain::role::auditor), "/api/events", {{"limit", "5"}}});
    ASSERT_EQ(a.status, http_status::ok) << json::serialize(body_of(a));
    const auto body = body_of(a);
    ASSERT_EQ(body.at("events").as_array().size(), head);
    EXPECT_EQ(body.at("events").as_array()[0].at("type").as_string(), "DealerRegistered");
    EXPECT_EQ(header_of(a, "X-Log-Head"), std::to_string(head));
}

TEST_F(Routes, WhenADealerOrAnEngineerAsksForRawEventsThenForbidden) {
    for (auto role : {domain::role::dealer, domain::role::engineer}) {
        auto a = api::query_events(context(), {claims(role, role == domain::role::dealer ? "D-1" : ""), "/api/events", {}});
        EXPECT_EQ(a.status, http_status::forbidden);
        EXPECT_EQ(body_of(a).at("code").as_string(), "forbidden");
    }
}

TEST_F(Routes, WhenAQueryCarriesAnUnknownParameterOrABadLimitThenBadRequestNamingIt) {
    auto unknown = api::query_events(context(), {claims(domain::role::admin), "/api/events", {{"colour", "red"}}});
    EXPECT_EQ(unknown.status, http_status::bad_request);
    EXPECT_EQ(body_of(unknown).at("message").as_string(), "unknown parameter colour");
    auto limit = api::query_stream(context(), {claims(domain::role::admin), "/api/streams/dealer-D-1", {{"limit", "0"}}});
    EXPECT_EQ(limit.status, http_status::bad_request);
}

TEST_F(Routes, GivenNoSuchStreamWhenReadThen404AndGivenOneThenItsEvents) {
    auto none = api::query_stream(context(), {claims(domain::role::auditor), "/api/streams/dealer-D-1", {}});
    EXPECT_EQ(none.status, http_status::not_found);
    ASSERT_EQ(command(register_d1).status, http_status::ok);
    auto one = api::query_stream(context(), {claims(domain::role::auditor), "/api/streams/dealer-D-1", {}});
    ASSERT_EQ(one.status, http_status::ok) << json::serialize(body_of(one));
    EXPECT_EQ(body_of(one).at("version").as_int64(), 1);
}

TEST_F(Routes, WhenACommandRunsTwiceThenTheSecondIsADuplicateAndTheLogHoldsOneEvent) {
    auto first = command(register_d1);
    ASSERT_EQ(first.status, http_status::ok) << json::serialize(first.body);
    EXPECT_FALSE(first.body.at("duplicate").as_bool());
    auto again = command(register_d1);
    ASSERT_EQ(again.status, http_status::ok);
    EXPECT_TRUE(again.body.at("duplicate").as_bool());
    EXPECT_EQ(log->head_position(), 1u);
}

TEST_F(Routes, WhenACommandIsMalformedOrTheServerStopsThenRefusedAndNothingIsAppended) {
    auto malformed = command(R"({"command_id":"c-1","type":"NoSuchCommand","data":{}})");
    EXPECT_EQ(malformed.status, http_status::bad_request);
    stopping = true;
    auto stopped = command(register_d1);
    EXPECT_EQ(stopped.status, http_status::service_unavailable);
    EXPECT_EQ(log->head_position(), 0u);
}

TEST_F(Routes, WhenABulkIsEmptyTooLargeOrNotObjectsThenRefusedWholeAndNothingIsAppended) {
    EXPECT_EQ(api::bulk_commands(context(), claims(domain::role::admin), json::array{}, "").status, http_status::bad_request);
    json::array many(api::max_bulk_commands + 1, json::parse(register_d1));
    EXPECT_EQ(api::bulk_commands(context(), claims(domain::role::admin), many, "").status, http_status::bad_request);
    json::array mixed{json::parse(register_d1), 7};
    EXPECT_EQ(api::bulk_commands(context(), claims(domain::role::admin), mixed, "").status, http_status::bad_request);
    EXPECT_EQ(log->head_position(), 0u);
}

TEST_F(Routes, WhenABulkRunsThenEachCommandIsAnsweredAsAloneAndARefusedOneDoesNotStopTheRest) {
    json::array bulk{json::parse(R"({"command_id":"c-0","type":"NoSuchCommand","data":{}})"), json::parse(register_d1)};
    auto a = api::bulk_commands(context(), claims(domain::role::admin), bulk, "corr-1");
    ASSERT_EQ(a.status, http_status::ok);
    const auto& results = a.body.at("results").as_array();
    ASSERT_EQ(results.size(), 2u);
    EXPECT_EQ(results[0].at("status").to_number<int>(), 400);
    EXPECT_EQ(results[1].at("status").to_number<int>(), 200);
    auto events = log->read_all(1, 10);
    ASSERT_TRUE(events);
    ASSERT_EQ(events->size(), 1u);
    EXPECT_EQ((*events)[0].correlation_id, "corr-1");
}

TEST_F(Routes, WhenABulkNeedsMoreRateTokensThanLeftThen429AndNothingRuns) {
    api::rate_limiter tight{1e-6, 1};  // no refill within the test, however slow the machine
    ASSERT_TRUE(tight.allow(api::rate_key(claims(domain::role::admin))));  // the request's own token, taken at admission
    api::route_context ctx{*log, *handler, nullptr, nullptr, stats, tight, stopping};
    json::array bulk{json::parse(register_d1), json::parse(register_d1)};
    EXPECT_EQ(api::bulk_commands(ctx, claims(domain::role::admin), bulk, "").status, http_status::too_many_requests);
    EXPECT_EQ(log->head_position(), 0u);
}

}  // namespace
}  // namespace dealerline::testing
