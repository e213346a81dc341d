// A real server on an ephemeral port over a real log and a real PostgreSQL database of its own,
// with a small blocking HTTP client: the fixture of the API tests.
#pragma once

#include <map>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "api/auth.hpp"
#include "api/server.hpp"
#include "commands/handler.hpp"
#include "tests/support/pg_fixture.hpp"
#include "tests/support/log_fixture.hpp"
#include "tests/support/counting_source.hpp"

namespace dealerline::testing {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

inline const std::string secret = "server-test-secret-0123456789abcdef";

struct reply {
    int status = 0;
    json::value body;
    std::string raw;
    std::string projection_position;  // X-Projection-Position
};

// A JSON value as text, strings without quotes: easy to compare and to print.
inline std::string text(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : json::serialize(v); }

inline std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline std::string token_for(domain::role role, std::string sub, std::string dealer = "", std::int64_t ttl = 3600) {
    return *api::issue_token(secret, {std::move(sub), role, std::move(dealer), unix_now() + ttl});
}

class Server : public ::testing::Test {
protected:
    void SetUp() override {
        ASSERT_FALSE(test_postgres().empty()) << "DEALERLINE_TEST_POSTGRES is not set: run the tests with scripts/test.sh";
        ASSERT_TRUE(projections::migrate(db.conninfo()));
        log = open_log(dir.path() / "log", log_settings());
        handler = std::make_unique<commands::handler>(*log);
        source = std::make_unique<storage::local_event_source>(*log);
        runner = std::make_unique<projections::runner>(db.conninfo(), *source);
        runner->start();
        api::server_options options;
        options.port = 0;
        options.jwt_secret = secret;
        options.postgres = db.conninfo();
        options.io_threads = 2;
        configure(options);
        reads = std::make_unique<projections::queries>(db.conninfo(), 2);
        live_source = std::make_unique<counting_source>(*source);
        server = std::make_unique<api::server>(options, *log, *handler, runner.get(), reads.get(), live_source.get());
        server->start();
    }
    // A test's own limits, before the server starts.
    virtual void configure(api::server_options&) {}
    virtual storage::log_options log_settings() { return {}; }
    void TearDown() override {
        if (server) server->stop();
        if (runner) runner->stop();
    }

    reply call(http::verb verb, const std::string& target, const std::string& body = "", const std::string& token = "") {
        net::io_context ioc;
        net::ip::tcp::socket socket(ioc);
        beast::error_code ec;
        socket.connect({net::ip::make_address("127.0.0.1"), server->port()}, ec);
        if (ec) return reply{};  // status 0: nobody listening
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, "localhost");
        if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
        if (verb == http::verb::post) req.set(http::field::content_type, "application/json");
        req.body() = body;
        req.prepare_payload();
        http::write(socket, req, ec);  // may fail half-way when the server refuses early (413): read its answer anyway
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        http::read(socket, buffer, parser, ec);
        reply r;
        if (ec) return r;
        r.status = static_cast<int>(parser.get().result_int());
        r.raw = parser.get().body();
        r.projection_position = std::string(parser.get()["X-Projection-Position"]);
        boost::system::error_code json_ec;
        r.body = json::parse(r.raw, json_ec);
        return r;
    }
    reply command(const std::string& body, const std::string& token) { return call(http::verb::post, "/api/commands", body, token); }
    static std::string cmd(const std::string& id, const std::string& type, const std::string& data, const std::string& extra = "") {
        return R"({"command_id":")" + id + R"(","type":")" + type + R"(","data":)" + data + extra + "}";
    }

    pg_database db;
    temp_dir dir;
    std::unique_ptr<storage::event_log> log;
    std::unique_ptr<commands::handler> handler;
    std::unique_ptr<storage::local_event_source> source;
    std::unique_ptr<counting_source> live_source;  // the live feed's (the projections read `source`)
    std::unique_ptr<projections::runner> runner;
    std::unique_ptr<projections::queries> reads;
    std::unique_ptr<api::server> server;
    const std::string admin = token_for(domain::role::admin, "admin-1");
};

inline const std::string dealer_d1 = R"({"dealer_id":"D-1","name":"Okna","currency":"EUR","payment_terms_days":30,"credit_limit":100000})";
inline const std::string order_o1 =
    R"({"order_id":"O-1","dealer_id":"D-1","currency":"EUR","lines":[{"sku":"WIN-1","description":"Window","quantity":2,"unit_price":18900}]})";

}  // namespace dealerline::testing
