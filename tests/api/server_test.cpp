// The HTTP API on a real server (ephemeral port), a real log and a real PostgreSQL: commands
// acknowledged once durable, every error status of API.md with nothing appended, health and
// readiness.
#include "tests/api/server_fixture.hpp"

namespace dealerline::testing {
namespace {

TEST_F(Server, HealthAndReadiness) {
    auto health = call(http::verb::get, "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(text(health.body.at("status")), "ok");
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    // /readyz answers from a state refreshed in the background, at most a second old.
    ASSERT_TRUE(eventually([&] {
        auto r = call(http::verb::get, "/readyz");
        return r.status == 200 && text(r.body.at("log").at("head")) == "1";
    }));
    auto ready = call(http::verb::get, "/readyz");
    EXPECT_EQ(text(ready.body.at("ready")), "true");
    EXPECT_EQ(text(ready.body.at("postgres")), "ok");
    EXPECT_EQ(text(ready.body.at("log").at("head")), "1");
    EXPECT_EQ(ready.body.at("projections").as_array().size(), projections::names().size());
}

TEST_F(Server, ACommandIsAnsweredOnceDurableAndARetryIsADuplicate) {
    auto first = command(cmd("c-1", "RegisterDealer", dealer_d1), admin);
    ASSERT_EQ(first.status, 200) << first.raw;
    EXPECT_EQ(text(first.body.at("stream")), "dealer-D-1");
    EXPECT_EQ(text(first.body.at("version")), "1");
    EXPECT_EQ(text(first.body.at("events").at(0)), "DealerRegistered");
    EXPECT_EQ(text(first.body.at("duplicate")), "false");
    EXPECT_EQ(log->head_position(), 1u);
    auto events = log->read_stream("dealer-D-1");
    ASSERT_TRUE(events);
    EXPECT_EQ(events->front().actor, "staff:admin-1");  // the actor comes from the token

    auto again = command(cmd("c-1", "RegisterDealer", dealer_d1), admin);
    ASSERT_EQ(again.status, 200);
    EXPECT_EQ(text(again.body.at("duplicate")), "true");
    EXPECT_EQ(text(again.body.at("positions")), text(first.body.at("positions")));
    EXPECT_EQ(log->head_position(), 1u);

    const auto dealer = token_for(domain::role::dealer, "D-1", "D-1");
    auto placed = command(cmd("c-2", "PlaceOrder", order_o1), dealer);
    ASSERT_EQ(placed.status, 200) << placed.raw;
    EXPECT_EQ(log->read_stream("order-O-1")->front().actor, "dealer:D-1");
}

TEST_F(Server, EveryErrorHasItsStatusAndCodeAndAppendsNothing) {
    ASSERT_EQ(command(cmd("setup-1", "RegisterDealer", dealer_d1), admin).status, 200);
    ASSERT_EQ(command(cmd("setup-2", "RegisterDealer", R"({"dealer_id":"D-2","name":"Drzwi","currency":"EUR","payment_terms_days":30,"credit_limit":0})"),
                      admin)
                  .status,
              200);
    ASSERT_EQ(command(cmd("setup-3", "PlaceOrder", order_o1), token_for(domain::role::dealer, "D-1", "D-1")).status, 200);
    const auto head = log->head_position();

    const auto d2 = token_for(domain::role::dealer, "D-2", "D-2");
    const auto engineer = token_for(domain::role::engineer, "eng-7");
    const auto expired = *api::issue_token(secret, {"admin-1", domain::role::admin, "", unix_now() - 1});
    auto b64 = [](std::string_view in) {
        static const char* const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        std::string out;
        unsigned v = 0;
        int bits = 0;
        for (char ch : in) {
            v = (v << 8) | static_cast<unsigned char>(ch);
            bits += 8;
            while (bits >= 6) out += a[(v >> (bits -= 6)) & 63];
        }
        if (bits) out += a[(v << (6 - bits)) & 63];
        return out;
    };
    const auto alg_none = b64(R"({"alg":"none","typ":"JWT"})") + "." +
                          b64(R"({"sub":"admin-1","role":"admin","exp":)" + std::to_string(unix_now() + 3600) + "}") + ".";
    std::string deep = "{\"command_id\":\"x\",\"type\":\"RegisterDealer\",\"data\":";
    for (int i = 0; i < 40; ++i) deep += "{\"a\":";
    deep += "1";
    for (int i = 0; i < 40; ++i) deep += "}";
    deep += "}";
    const std::string huge = cmd("big", "RegisterDealer",
                                 R"({"dealer_id":"D-9","name":")" + std::string(1100 * 1024, 'x') +
                                     R"(","currency":"EUR","payment_terms_days":30,"credit_limit":0})");

    struct case_t {
        const char* what;
        std::string body, token;
        int status;
        const char* error;
        const char* code;
    };
    const std::vector<case_t> cases = {
        {"no token", cmd("e-1", "RegisterDealer", dealer_d1), "", 401, "unauthorized", "missing_token"},
        {"garbage token", cmd("e-2", "RegisterDealer", dealer_d1), "abc.def.ghi", 401, "unauthorized", "invalid_token"},
        {"expired token", cmd("e-3", "RegisterDealer", dealer_d1), expired, 401, "unauthorized", "expired_token"},
        {"alg none", cmd("e-4", "RegisterDealer", dealer_d1), alg_none, 401, "unauthorized", "invalid_token"},
        {"not JSON", "{nope", admin, 400, "bad_request", "malformed_json"},
        {"not an object", "[1,2]", admin, 400, "bad_request", "bad_request"},
        {"unknown field", cmd("e-5", "RegisterDealer", dealer_d1, R"(,"colour":"red")"), admin, 400, "bad_request", "bad_request"},
        {"no command id", R"({"type":"RegisterDealer","data":{}})", admin, 400, "bad_request", "bad_request"},
        {"unknown command", cmd("e-6", "LaunchRocket", "{}"), admin, 400, "bad_request", "unknown_command"},
        {"mistyped field", cmd("e-7", "RegisterDealer", R"({"dealer_id":"D-3","name":"X","currency":"EUR","payment_terms_days":"thirty","credit_limit":0})"),
         admin, 400, "bad_request", "bad_request"},
        {"too deep", deep, admin, 400, "bad_request", "too_deep"},
        {"dealer for another dealer", cmd("e-8", "PlaceOrder", R"({"order_id":"O-2","dealer_id":"D-1","currency":"EUR","lines":[{"sku":"W","description":"","quantity":1,"unit_price":1}]})"),
         d2, 403, "forbidden", "forbidden"},
        {"another dealer's order", cmd("e-9", "CancelOrder", R"({"order_id":"O-1","reason":"mine now"})"), d2, 403, "forbidden", "forbidden"},
        {"no such order", cmd("e-10", "AcceptOrder", R"({"order_id":"O-404"})"), engineer, 404, "not_found", "not_found"},
        {"stale expected version", cmd("e-11", "AcceptOrder", R"({"order_id":"O-1"})", R"(,"expected_version":7)"), engineer, 409,
         "conflict", "conflict"},
        {"command id reused", cmd("setup-1", "RegisterDealer", R"({"dealer_id":"D-7","name":"Other","currency":"EUR","payment_terms_days":30,"credit_limit":0})"),
         admin, 409, "conflict", "command_id_reused"},
        {"invalid transition", cmd("e-12", "StartProduction", R"({"order_id":"O-1"})"), token_for(domain::role::production, "prod-3"),
         422, "rejected", "invalid_transition"},
        {"body over 1 MiB", huge, admin, 413, "payload_too_large", "body_too_large"},
    };
    for (const auto& c : cases) {
        auto r = command(c.body, c.token);
        EXPECT_EQ(r.status, c.status) << c.what << ": " << r.raw.substr(0, 300);
        if (r.body.is_object()) {
            EXPECT_EQ(text(r.body.at("error")), c.error) << c.what;
            EXPECT_EQ(text(r.body.at("code")), c.code) << c.what << ": " << r.raw.substr(0, 300);
            EXPECT_FALSE(r.body.at("message").as_string().empty()) << c.what;
        } else {
            ADD_FAILURE() << c.what << ": no JSON error body: " << r.raw.substr(0, 300);
        }
        EXPECT_EQ(log->head_position(), head) << c.what << " appended something";
    }
    EXPECT_EQ(call(http::verb::get, "/api/commands", "", admin).status, 405);
    EXPECT_EQ(text(call(http::verb::get, "/nowhere").body.at("code")), "no_route");

    // And the server is as healthy as before.
    EXPECT_EQ(call(http::verb::get, "/healthz").status, 200);
    auto ok = command(cmd("e-13", "AcceptOrder", R"({"order_id":"O-1"})", R"(,"expected_version":1)"), engineer);
    EXPECT_EQ(ok.status, 200) << ok.raw;
    EXPECT_EQ(log->head_position(), head + 1);
}

std::string ids_of(const reply& r) {
    std::string out;
    for (const auto& o : r.body.at("orders").as_array()) out += (out.empty() ? "" : ",") + text(o.at("order_id"));
    return out;
}

TEST_F(Server, OrdersComeFromTheReadModelsDealerScopedAndPaged) {
    ASSERT_EQ(command(cmd("s-1", "RegisterDealer", dealer_d1), admin).status, 200);
    ASSERT_EQ(command(cmd("s-2", "RegisterDealer", R"({"dealer_id":"D-2","name":"Drzwi","currency":"EUR","payment_terms_days":30,"credit_limit":0})"),
                      admin)
                  .status,
              200);
    const auto d1 = token_for(domain::role::dealer, "D-1", "D-1"), d2 = token_for(domain::role::dealer, "D-2", "D-2");
    const auto staff = token_for(domain::role::engineer, "eng-7");
    auto place = [&](const std::string& order, const std::string& dealer, const std::string& token) {
        return command(cmd("place-" + order, "PlaceOrder",
                           R"({"order_id":")" + order + R"(","dealer_id":")" + dealer +
                               R"(","currency":"EUR","lines":[{"sku":"WIN-1","description":"Window","quantity":2,"unit_price":18900}]})"),
                       token);
    };
    for (const char* o : {"O-1", "O-2", "O-3"}) ASSERT_EQ(place(o, "D-1", d1).status, 200);
    auto last = place("O-9", "D-2", d2);
    ASSERT_EQ(last.status, 200);
    const auto written = text(last.body.at("positions").at(0));

    // Read your own writes: wait for the read models to reach the command's position.
    auto mine = call(http::verb::get, "/api/orders?min_position=" + written, "", d1);
    ASSERT_EQ(mine.status, 200) << mine.raw;
    EXPECT_GE(std::stoull(mine.projection_position), std::stoull(written));
    EXPECT_EQ(ids_of(mine), "O-3,O-2,O-1");
    EXPECT_EQ(text(mine.body.at("orders").at(0).at("status")), "placed");
    EXPECT_EQ(text(mine.body.at("next_cursor")), "null");

    EXPECT_EQ(call(http::verb::get, "/api/orders?dealer_id=D-2", "", d1).status, 403) << "another dealer's list";
    EXPECT_EQ(ids_of(call(http::verb::get, "/api/orders?dealer_id=D-2", "", staff)), "O-9");
    EXPECT_EQ(ids_of(call(http::verb::get, "/api/orders", "", staff)), "O-9,O-3,O-2,O-1");
    EXPECT_EQ(ids_of(call(http::verb::get, "/api/orders?status=accepted", "", staff)), "");

    auto first = call(http::verb::get, "/api/orders?limit=2", "", d1);
    EXPECT_EQ(ids_of(first), "O-3,O-2");
    const auto cursor = text(first.body.at("next_cursor"));
    auto second = call(http::verb::get, "/api/orders?limit=2&cursor=" + cursor, "", d1);
    EXPECT_EQ(ids_of(second), "O-1");
    EXPECT_EQ(text(second.body.at("next_cursor")), "null");

    auto detail = call(http::verb::get, "/api/orders/O-1", "", d1);
    ASSERT_EQ(detail.status, 200) << detail.raw;
    EXPECT_EQ(text(detail.body.at("total")), "37800");
    EXPECT_EQ(detail.body.at("lines").as_array().size(), 1u);
    EXPECT_EQ(text(detail.body.at("timeline").at(0).at("event")), "OrderPlaced");
    EXPECT_EQ(text(detail.body.at("timeline").at(0).at("actor")), "dealer:D-1");
    auto theirs = call(http::verb::get, "/api/orders/O-9", "", d1);
    EXPECT_EQ(theirs.status, 404) << "another dealer's order looks like none";
    EXPECT_EQ(text(theirs.body.at("code")), "not_found");
    EXPECT_EQ(call(http::verb::get, "/api/orders/O-9", "", staff).status, 200);

    EXPECT_EQ(call(http::verb::get, "/api/orders").status, 401);
    EXPECT_EQ(call(http::verb::get, "/api/orders?limit=0", "", d1).status, 400);
    EXPECT_EQ(call(http::verb::get, "/api/orders?limit=abc", "", d1).status, 400);
    EXPECT_EQ(call(http::verb::get, "/api/orders?colour=red", "", d1).status, 400);
    EXPECT_EQ(call(http::verb::get, "/api/orders?cursor=%zz", "", d1).status, 400);
}

TEST_F(Server, MetricsCountCommandsAndShowProjectionLagWithoutDealerIds) {
    const auto dealer = token_for(domain::role::dealer, "D-1", "D-1");
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);  // a duplicate
    ASSERT_EQ(command(cmd("c-2", "PlaceOrder", order_o1), dealer).status, 200);
    ASSERT_EQ(command(cmd("c-3", "StartProduction", R"({"order_id":"O-1"})"), token_for(domain::role::production, "p")).status, 422);
    ASSERT_EQ(command("{nope", admin).status, 400);
    ASSERT_EQ(command(cmd("c-4", "RegisterDealer", dealer_d1), "").status, 401);
    ASSERT_TRUE(runner->wait_for(log->head_position(), std::chrono::steady_clock::now() + 30s));

    auto m = call(http::verb::get, "/metrics");
    ASSERT_EQ(m.status, 200);
    for (const char* line : {R"(dealerline_commands_total{outcome="ok",type="RegisterDealer"} 1)",
                             R"(dealerline_commands_total{outcome="duplicate",type="RegisterDealer"} 1)",
                             R"(dealerline_commands_total{outcome="ok",type="PlaceOrder"} 1)",
                             R"(dealerline_commands_total{outcome="rejected",type="StartProduction"} 1)",
                             R"(dealerline_commands_total{outcome="bad_request",type="unknown"} 1)",
                             R"(dealerline_commands_total{outcome="unauthorized",type="unknown"} 1)",
                             "dealerline_events_appended_total 2", "dealerline_command_duration_seconds_count 6",
                             "dealerline_log_head_position 2", R"(dealerline_projection_lag_events{projection="portal_orders"} 0)",
                             R"(dealerline_projection_position{projection="analytics_events"} 2)",
                             R"(dealerline_projection_failed{projection="portal_orders"} 0)", R"(dealerline_http_requests_total{code="422"} 1)"})
        EXPECT_NE(m.raw.find(line), std::string::npos) << line << "\n" << m.raw;
    EXPECT_EQ(m.raw.find("D-1"), std::string::npos) << "no dealer ids in metrics";
}

TEST_F(Server, AStoppedServerHasAnsweredOnlyWhatIsDurable) {
    ASSERT_EQ(command(cmd("setup-1", "RegisterDealer", dealer_d1), admin).status, 200);
    const auto dealer = token_for(domain::role::dealer, "D-1", "D-1");
    std::vector<std::thread> clients;
    std::mutex m;
    std::vector<std::uint64_t> acknowledged;
    std::atomic<bool> go{true};
    for (int t = 0; t < 6; ++t)
        clients.emplace_back([&, t] {
            for (int i = 0; go; ++i) {
                const auto id = "O-" + std::to_string(t) + "-" + std::to_string(i);
                auto r = command(cmd("place-" + id, "PlaceOrder",
                                     R"({"order_id":")" + id +
                                         R"(","dealer_id":"D-1","currency":"EUR","lines":[{"sku":"W","description":"","quantity":1,"unit_price":1}]})"),
                                 dealer);
                if (r.status != 200) return;  // refused or cut off by the stop
                std::lock_guard lock(m);
                acknowledged.push_back(r.body.at("positions").at(0).to_number<std::uint64_t>());
            }
        });
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(m);
        return acknowledged.size() >= 30;
    }));
    server->stop();
    go = false;
    for (auto& c : clients) c.join();
    // Every 200 names an event that is in the log.
    for (auto p : acknowledged) {
        auto e = log->read_all(p, 1);
        ASSERT_TRUE(e && !e->empty() && e->front().type == "OrderPlaced") << p;
    }
}

TEST_F(Server, ClaimsComeDealerScopedWithTheirConversation) {
    const auto d1 = token_for(domain::role::dealer, "D-1", "D-1"), d2 = token_for(domain::role::dealer, "D-2", "D-2");
    const auto engineer = token_for(domain::role::engineer, "eng"), manager = token_for(domain::role::claims_manager, "cm-1");
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    ASSERT_EQ(command(cmd("c-2", "RegisterDealer", R"({"dealer_id":"D-2","name":"B","currency":"EUR","payment_terms_days":30,"credit_limit":1})"), admin).status, 200);
    ASSERT_EQ(command(cmd("c-3", "PlaceOrder", order_o1), d1).status, 200);
    ASSERT_EQ(command(cmd("c-4", "AcceptOrder", R"({"order_id":"O-1"})"), engineer).status, 200);
    ASSERT_EQ(command(cmd("c-5", "FileClaim", R"({"claim_id":"CL-1","order_id":"O-1","kind":"damage","description":"Cracked glass"})"), d1).status, 200);
    ASSERT_EQ(command(cmd("c-6", "AssignClaim", R"({"claim_id":"CL-1","manager":"cm-1"})"), manager).status, 200);
    auto last = command(cmd("c-7", "CommentOnClaim", R"({"claim_id":"CL-1","text":"A photo, please"})"), manager);
    ASSERT_EQ(last.status, 200) << last.raw;
    const auto at = text(last.body.at("positions").at(0));

    auto list = call(http::verb::get, "/api/claims?min_position=" + at, "", d1);
    ASSERT_EQ(list.status, 200) << list.raw;
    EXPECT_GE(std::stoull(list.projection_position), std::stoull(at));
    ASSERT_EQ(list.body.at("claims").as_array().size(), 1u);
    EXPECT_EQ(text(list.body.at("claims").at(0).at("status")), "in_review");
    EXPECT_EQ(call(http::verb::get, "/api/claims", "", d2).body.at("claims").as_array().size(), 0u) << "D-2 sees none of D-1's claims";
    EXPECT_EQ(call(http::verb::get, "/api/claims?dealer_id=D-1", "", d2).status, 403);
    EXPECT_EQ(call(http::verb::get, "/api/claims?order_id=O-1", "", manager).body.at("claims").as_array().size(), 1u);
    EXPECT_EQ(call(http::verb::get, "/api/claims?status=closed", "", manager).body.at("claims").as_array().size(), 0u);

    auto one = call(http::verb::get, "/api/claims/CL-1", "", d1);
    ASSERT_EQ(one.status, 200) << one.raw;
    const auto& messages = one.body.at("messages").as_array();
    ASSERT_EQ(messages.size(), 2u);
    EXPECT_EQ(text(messages.at(0).at("text")), "Cracked glass");
    EXPECT_EQ(text(messages.at(1).at("text")), "A photo, please");
    EXPECT_EQ(call(http::verb::get, "/api/claims/CL-1", "", d2).status, 404) << "another dealer's claim looks like none";
    EXPECT_EQ(call(http::verb::get, "/api/claims/CL-404", "", manager).status, 404);
    EXPECT_EQ(call(http::verb::get, "/api/claims?limit=500", "", manager).status, 400);
    EXPECT_EQ(call(http::verb::get, "/api/claims/CL-1?limit=5", "", manager).status, 400);
}

TEST_F(Server, RawEventsAndStreamsAreForAuditorsAndAdmins) {
    const auto d1 = token_for(domain::role::dealer, "D-1", "D-1");
    const auto auditor = token_for(domain::role::auditor, "aud-1");
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    ASSERT_EQ(command(cmd("c-2", "PlaceOrder", order_o1), d1).status, 200);
    ASSERT_EQ(command(cmd("c-3", "AcceptOrder", R"({"order_id":"O-1"})"), token_for(domain::role::engineer, "eng")).status, 200);

    auto all = call(http::verb::get, "/api/events", "", auditor);
    ASSERT_EQ(all.status, 200) << all.raw;
    ASSERT_EQ(all.body.at("events").as_array().size(), 3u);
    const auto& first = all.body.at("events").at(0);
    EXPECT_EQ(text(first.at("position")), "1");
    EXPECT_EQ(text(first.at("type")), "DealerRegistered");
    EXPECT_EQ(text(first.at("data").at("dealer_id")), "D-1");
    EXPECT_EQ(text(first.at("actor")), "staff:admin-1");
    EXPECT_EQ(text(first.at("hash")).size(), 64u);
    EXPECT_EQ(text(all.body.at("next_position")), "null");

    auto page = call(http::verb::get, "/api/events?from_position=2&limit=1", "", admin);
    ASSERT_EQ(page.body.at("events").as_array().size(), 1u);
    EXPECT_EQ(text(page.body.at("events").at(0).at("type")), "OrderPlaced");
    EXPECT_EQ(text(page.body.at("next_position")), "3");
    auto typed = call(http::verb::get, "/api/events?type=OrderAccepted,DealerRegistered", "", auditor);
    ASSERT_EQ(typed.body.at("events").as_array().size(), 2u);
    EXPECT_EQ(text(typed.body.at("events").at(1).at("type")), "OrderAccepted");

    auto stream = call(http::verb::get, "/api/streams/order-O-1?from_version=2", "", auditor);
    ASSERT_EQ(stream.status, 200) << stream.raw;
    EXPECT_EQ(text(stream.body.at("version")), "2");
    ASSERT_EQ(stream.body.at("events").as_array().size(), 1u);
    EXPECT_EQ(text(stream.body.at("events").at(0).at("type")), "OrderAccepted");
    EXPECT_EQ(call(http::verb::get, "/api/streams/order-O-404", "", auditor).status, 404);

    EXPECT_EQ(call(http::verb::get, "/api/events", "", d1).status, 403) << "dealers do not read the raw log";
    EXPECT_EQ(call(http::verb::get, "/api/streams/order-O-1", "", token_for(domain::role::engineer, "eng")).status, 403);
    EXPECT_EQ(call(http::verb::get, "/api/events").status, 401);
    EXPECT_EQ(call(http::verb::get, "/api/events?limit=0", "", auditor).status, 400);
    EXPECT_EQ(call(http::verb::get, "/api/events?from_position=x", "", auditor).status, 400);
    EXPECT_EQ(call(http::verb::get, "/api/streams/order-O-1?from_position=1", "", auditor).status, 400);
}

TEST_F(Server, TheMinimalPortalPageIsServed) {
    auto page = call(http::verb::get, "/");
    ASSERT_EQ(page.status, 200);
    EXPECT_NE(page.raw.find("/api/live"), std::string::npos);
    EXPECT_NE(page.raw.find("X-Projection-Position"), std::string::npos);
}

TEST_F(Server, CommandsInBulkAreEachAnsweredAndOneRefusalStopsNoOther) {
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    const auto sync = token_for(domain::role::system, "bank-sync");
    auto payment = [](const std::string& id, const std::string& dealer, const std::string& ref) {
        return cmd("pay-" + id, "RecordPayment",
                   R"({"payment_id":")" + id + R"(","dealer_id":")" + dealer + R"(","amount":1000,"method":"bank","received_at":"2026-11-20","external_ref":")" +
                       ref + R"("})");
    };
    const auto bulk = "[" + payment("P-1", "D-1", "B-1") + "," + payment("P-2", "D-9", "B-2") + "," + payment("P-3", "D-1", "B-3") + "]";
    auto r = command(bulk, sync);
    ASSERT_EQ(r.status, 200) << r.raw;
    const auto& results = r.body.at("results").as_array();
    ASSERT_EQ(results.size(), 3u);
    EXPECT_EQ(text(results.at(0).at("status")), "200");
    EXPECT_EQ(text(results.at(1).at("status")), "422");
    EXPECT_EQ(text(results.at(1).at("code")), "dealer_not_registered");
    EXPECT_EQ(text(results.at(2).at("status")), "200");
    EXPECT_EQ(log->head_position(), 1u + 2 * 2) << "two payments, each with its bank-reference reservation";
    // Sent again: nothing twice.
    auto again = command(bulk, sync);
    EXPECT_EQ(text(again.body.at("results").at(0).at("duplicate")), "true");
    EXPECT_EQ(log->head_position(), 5u);
    EXPECT_EQ(command("[]", sync).status, 400);
}

class RateLimited : public Server {
protected:
    void configure(api::server_options& o) override {
        o.rate_limit = 0.5;
        o.rate_burst = 3;
    }
};

TEST_F(RateLimited, ATokenOverItsRateGets429AndNothingIsAppended) {
    const auto other = token_for(domain::role::admin, "admin-2");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(call(http::verb::get, "/api/orders", "", admin).status, 200) << i;
    auto refused = command(cmd("c-1", "RegisterDealer", dealer_d1), admin);
    EXPECT_EQ(refused.status, 429) << refused.raw;
    EXPECT_EQ(text(refused.body.at("code")), "rate_limited");
    EXPECT_EQ(log->head_position(), 0u);
    EXPECT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), other).status, 200) << "another token has its own budget";
    EXPECT_NE(call(http::verb::get, "/metrics").raw.find("dealerline_rate_limited_total 1"), std::string::npos);
}

}  // namespace
}  // namespace dealerline::testing
