// The live feed (GET /api/live) on a real server, log and PostgreSQL: catch-up then live, in
// order, no gaps, no duplicates; resume after a reconnect; tenant isolation; a slow client
// dropped while the others carry on; everything refused before the upgrade that must be;
// commands over the socket.
#include <boost/beast/websocket.hpp>

#include "commands/process_managers.hpp"
#include "commands/schedulers.hpp"
#include "domain/time.hpp"
#include "tests/api/server_fixture.hpp"
#include "tests/support/seed.hpp"
#include "tests/support/workload.hpp"

namespace dealerline::testing {
namespace {

namespace websocket = beast::websocket;

// One websocket client. open() does the handshake synchronously; start() reads every message
// into a list on a shared io_context run by the test's thread pool.
class live_client {
public:
    explicit live_client(net::io_context& ioc) : ws_(ioc) {}

    // 101 → 0; otherwise the HTTP status the server answered (or -1: no answer).
    int open(std::uint16_t port, const std::string& target, const std::string& token, const std::string& origin = "",
             int receive_buffer = 0) {
        beast::error_code ec;
        auto& socket = beast::get_lowest_layer(ws_).socket();
        socket.open(net::ip::tcp::v4(), ec);
        if (receive_buffer) socket.set_option(net::socket_base::receive_buffer_size(receive_buffer), ec);
        socket.connect({net::ip::make_address("127.0.0.1"), port}, ec);
        if (ec) return -1;
        ws_.set_option(websocket::stream_base::decorator([token, origin](websocket::request_type& req) {
            if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
            if (!origin.empty()) req.set(http::field::origin, origin);
        }));
        websocket::response_type res;
        ws_.handshake(res, "127.0.0.1:" + std::to_string(port), target, ec);
        if (!ec) return 0;
        return res.result_int() ? static_cast<int>(res.result_int()) : -1;
    }

    void start() { read(); }

    // Synchronous, before start(): the next message, or nothing once the socket is closed.
    std::optional<json::value> read_one() {
        beast::flat_buffer b;
        beast::error_code ec;
        ws_.read(b, ec);
        if (ec) return std::nullopt;
        return json::parse(beast::buffers_to_string(b.data()));
    }
    void send(const std::string& text) { ws_.write(net::buffer(text)); }
    void close() {
        beast::error_code ec;
        ws_.close(websocket::close_code::normal, ec);
    }

    std::vector<json::value> messages() {
        std::lock_guard lock(m_);
        return got_;
    }
    // Positions of the updates (not caught_up), in arrival order.
    std::vector<std::uint64_t> positions() {
        std::vector<std::uint64_t> out;
        for (const auto& m : messages())
            if (m.at("type") != "caught_up") out.push_back(m.at("position").to_number<std::uint64_t>());
        return out;
    }
    std::optional<std::uint64_t> caught_up() {
        for (const auto& m : messages())
            if (m.at("type") == "caught_up") return m.at("position").to_number<std::uint64_t>();
        return std::nullopt;
    }
    bool closed() const { return closed_; }
    websocket::close_reason reason() const { return ws_.reason(); }

private:
    void read() {
        ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
            if (ec) {
                closed_ = true;
                return;
            }
            {
                std::lock_guard lock(m_);
                got_.push_back(json::parse(beast::buffers_to_string(buffer_.data())));
            }
            buffer_.consume(buffer_.size());
            read();
        });
    }

    websocket::stream<beast::tcp_stream> ws_;
    beast::flat_buffer buffer_;
    std::mutex m_;
    std::vector<json::value> got_;
    std::atomic<bool> closed_{false};
};

// The live feed's message type for an event, or empty when the feed does not carry it.
std::string live_type(const storage::recorded_event& e) {
    if (e.stream.starts_with("order-")) return "order_status";
    if (e.stream.starts_with("claim-")) return "claim_status";
    if (e.type == "OpeningBalanceSet" || e.type == "InvoiceIssued" || e.type == "InvoiceVoided" || e.type == "PaymentRecorded" ||
        e.type == "PaymentReversed" || e.type == "CreditNoteIssued")
        return "account_entry";
    return "";
}

// What a client with this filter must receive after `after`, from the log itself: the order and
// claim events and the account entries (opening balance, invoice issued or voided, payment
// recorded or reversed, credit note) of the dealer (all dealers when empty), in position order.
std::vector<std::uint64_t> expected_positions(const storage::event_log& log, std::uint64_t after, const std::string& dealer,
                                              const std::set<std::string>& types = {}) {
    std::map<std::string, std::string> owner;  // stream → dealer
    std::vector<std::uint64_t> out;
    auto all = log.read_all(1, 1'000'000);
    for (const auto& e : *all) {
        const auto data = json::parse(e.data);
        const auto* d = data.as_object().if_contains("dealer_id");
        if (e.version == 1 && d) owner[e.stream] = d->as_string().c_str();
        const auto type = live_type(e);
        if (type == "account_entry" && d) owner[e.stream] = d->as_string().c_str();
        if (type.empty()) continue;
        if (e.position > after && (dealer.empty() || owner[e.stream] == dealer) && (types.empty() || types.contains(type)))
            out.push_back(e.position);
    }
    return out;
}

class Live : public Server {
protected:
    void configure(api::server_options& o) override {
        o.live_queue_messages = queue_limit;
        o.allowed_origins = {"https://portal.example.com"};
    }
    void TearDown() override {
        io = {};  // stops and joins the clients' thread: nothing runs their handlers any more
        clients.clear();
        Server::TearDown();
    }

    live_client& client() { return *clients.emplace_back(std::make_unique<live_client>(ioc)); }
    // Runs the clients' reads in the background until the test ends.
    void run_clients() {
        io = std::jthread([this](std::stop_token stop) {
            auto guard = net::make_work_guard(ioc);
            while (!stop.stop_requested()) ioc.run_for(50ms);
        });
    }
    std::string live(std::optional<std::uint64_t> from = std::nullopt, const std::string& extra = "") {
        std::string t = "/api/live";
        std::string q = from ? "from_position=" + std::to_string(*from) : "";
        if (!extra.empty()) q += (q.empty() ? "" : "&") + extra;
        return q.empty() ? t : t + "?" + q;
    }

    std::size_t queue_limit = 1024;
    net::io_context ioc;
    std::vector<std::unique_ptr<live_client>> clients;
    std::jthread io;  // declared last: stopped and joined first
};

TEST_F(Live, CatchUpThenCaughtUpThenLiveUpdatesDerivedFromEvents) {
    test_seed seed(7);
    workload plant(*handler, seed.value);
    plant.register_dealers(3);
    for (int i = 0; i < 150; ++i) plant.step();
    const auto before = log->head_position();
    auto& d1 = client();
    ASSERT_EQ(d1.open(server->port(), live(0), token_for(domain::role::dealer, "D-1", "D-1")), 0);
    auto& staff = client();
    ASSERT_EQ(staff.open(server->port(), live(0), token_for(domain::role::engineer, "eng")), 0);
    auto& d2_claims = client();
    ASSERT_EQ(d2_claims.open(server->port(), live(0, "dealer_id=D-2&types=claim_status"), token_for(domain::role::claims_manager, "cm")), 0);
    auto& from_now = client();
    ASSERT_EQ(from_now.open(server->port(), live(), token_for(domain::role::dealer, "D-1", "D-1")), 0);
    run_clients();
    for (auto* c : {&d1, &staff, &d2_claims, &from_now}) c->start();
    for (int i = 0; i < 150; ++i) plant.step();
    const auto head = log->head_position();
    ASSERT_GT(head, before);

    const auto want_d1 = expected_positions(*log, 0, "D-1");
    const auto want_all = expected_positions(*log, 0, "");
    const auto want_d2_claims = expected_positions(*log, 0, "D-2", {"claim_status"});
    ASSERT_FALSE(want_d2_claims.empty()) << "the plant filed no claim for D-2; pick another seed";
    auto complete = [&](live_client& c, const std::vector<std::uint64_t>& want) {
        return eventually([&] { return c.positions().size() >= want.size(); }, 30s);
    };
    ASSERT_TRUE(complete(d1, want_d1));
    ASSERT_TRUE(complete(staff, want_all));
    ASSERT_TRUE(complete(d2_claims, want_d2_claims));
    EXPECT_EQ(d1.positions(), want_d1);
    EXPECT_EQ(staff.positions(), want_all);
    EXPECT_EQ(d2_claims.positions(), want_d2_claims);
    const auto live_only = expected_positions(*log, *from_now.caught_up(), "D-1");
    ASSERT_TRUE(complete(from_now, live_only));
    EXPECT_EQ(from_now.positions(), live_only) << "without from_position: what happens from now on";
    EXPECT_GT(live_source->reads.load(), 0u) << "the live feed does not read through the event source it was given";

    // caught_up comes once, after the catch-up, before anything newer.
    const auto cu = *d1.caught_up();
    EXPECT_LE(cu, head);
    bool seen = false;
    for (const auto& m : d1.messages()) {
        if (m.at("type") == "caught_up") seen = true;
        else EXPECT_EQ(seen, m.at("position").to_number<std::uint64_t>() > cu) << json::serialize(m);
    }
    // Each update says what the event made of the order: its status after it, from the domain.
    for (const auto& m : d1.messages()) {
        if (m.at("type") != "order_status") continue;
        EXPECT_EQ(text(m.at("dealer_id")), "D-1");
        const auto event = text(m.at("event"));
        const auto status = text(m.at("status"));
        const std::map<std::string, std::string> after{{"OrderPlaced", "placed"}, {"OrderAccepted", "accepted"},
                                                       {"ProductionProgressed", "in_production"}};
        if (after.contains(event)) {
            EXPECT_EQ(status, after.at(event)) << event;
        }
        if (event == "OrderShipped") {
            EXPECT_EQ(status, "shipped");
            EXPECT_EQ(text(m.at("details").at("carrier")), "Own fleet");
        }
        EXPECT_FALSE(text(m.at("at")).empty());
    }
}

TEST_F(Live, TwoHundredClientsOfTwentyDealersEachGetExactlyTheirUpdates) {
    test_seed seed(11);
    workload plant(*handler, seed.value);
    plant.register_dealers(20);
    for (int i = 0; i < 100; ++i) plant.step();
    struct sub {
        live_client* c;
        std::string dealer;
        std::uint64_t from;
    };
    std::vector<sub> subs;
    for (int i = 0; i < 200; ++i) {
        const auto dealer = "D-" + std::to_string(1 + i % 20);
        const std::uint64_t from = (i % 3 == 0) ? 0 : log->head_position() - static_cast<std::uint64_t>(i % 7);  // some catch up from the start
        auto& c = client();
        ASSERT_EQ(c.open(server->port(), live(from), token_for(domain::role::dealer, dealer, dealer)), 0) << i;
        subs.push_back({&c, dealer, from});
    }
    run_clients();
    for (auto& s : subs) s.c->start();
    for (int i = 0; i < 400; ++i) plant.step();
    for (const auto& s : subs) {
        const auto want = expected_positions(*log, s.from, s.dealer);
        ASSERT_TRUE(eventually([&] { return s.c->positions().size() >= want.size(); }, 60s))
            << s.dealer << " got " << s.c->positions().size() << " of " << want.size();
        EXPECT_EQ(s.c->positions(), want) << s.dealer << " from " << s.from;
    }
}

TEST_F(Live, AClientThatReconnectsWithItsLastPositionMissesNothing) {
    test_seed seed(3);
    workload plant(*handler, seed.value);
    plant.register_dealers(4);
    for (int i = 0; i < 80; ++i) plant.step();
    const auto token = token_for(domain::role::dealer, "D-2", "D-2");
    std::vector<std::uint64_t> seen;
    {
        net::io_context own;
        live_client first(own);
        ASSERT_EQ(first.open(server->port(), live(0), token), 0);
        for (;;) {
            auto m = first.read_one();
            ASSERT_TRUE(m);
            if (m->at("type") == "caught_up") break;
            seen.push_back(m->at("position").to_number<std::uint64_t>());
        }
        first.close();
    }
    ASSERT_FALSE(seen.empty());
    for (int i = 0; i < 120; ++i) plant.step();  // happens while it is away
    auto& again = client();
    ASSERT_EQ(again.open(server->port(), live(seen.back()), token), 0);
    run_clients();
    again.start();
    const auto missed = expected_positions(*log, seen.back(), "D-2");
    ASSERT_FALSE(missed.empty());
    ASSERT_TRUE(eventually([&] { return again.positions().size() >= missed.size() && again.caught_up(); }));
    EXPECT_EQ(again.positions(), missed) << "exactly the missed ones: no gap, no repeat";
    auto all = seen;
    all.insert(all.end(), missed.begin(), missed.end());
    EXPECT_EQ(all, expected_positions(*log, 0, "D-2"));
}

// A client that stops reading for a while (its socket buffers fill, then the coalescing buffer,
// then the session's queue, below its bound) and reads again gets everything, in order, once.
TEST_F(Live, AClientThatFallsBehindAndReadsAgainGetsEverythingInOrder) {
    test_seed seed(11);
    workload plant(*handler, seed.value);
    plant.register_dealers(5);
    const auto staff = token_for(domain::role::engineer, "eng");
    auto& paused = client();
    ASSERT_EQ(paused.open(server->port(), live(), staff, "", 4096), 0);
    auto first = paused.read_one();  // caught_up, synchronously; then nothing is read for a while
    ASSERT_TRUE(first);
    ASSERT_EQ(text(first->at("type")), "caught_up");
    const auto from = first->at("position").to_number<std::uint64_t>();
    for (int i = 0; i < 500; ++i) plant.step();
    const auto want = expected_positions(*log, from, "");
    ASSERT_GT(want.size(), 400u) << "enough to fill the socket buffers (~150 KB)";
    ASSERT_LT(want.size(), queue_limit);
    run_clients();
    paused.start();
    ASSERT_TRUE(eventually([&] { return paused.positions().size() >= want.size(); }, 30s)) << paused.positions().size();
    EXPECT_EQ(paused.positions(), want);
    EXPECT_FALSE(paused.closed());
}

class SlowLive : public Live {
protected:
    void configure(api::server_options& o) override {
        Live::configure(o);
        o.live_queue_messages = 50;
        o.live_send_buffer_bytes = 4096;
    }
};

TEST_F(SlowLive, AClientThatStopsReadingIsClosedWhileTheOthersKeepUp) {
    test_seed seed(5);
    workload plant(*handler, seed.value);
    plant.register_dealers(5);
    const auto staff = token_for(domain::role::engineer, "eng");
    auto& slow = client();
    ASSERT_EQ(slow.open(server->port(), live(), staff, "", 4096), 0);  // and never reads
    auto& fast = client();
    ASSERT_EQ(fast.open(server->port(), live(), staff), 0);
    run_clients();
    fast.start();
    const auto from = *[&] {
        EXPECT_TRUE(eventually([&] { return fast.caught_up().has_value(); }));
        return fast.caught_up();
    }();
    // Enough traffic to fill the slow client's socket buffers and then its queue. In rounds the
    // fast client keeps up with: on 2 busy cores (ASan, other tests) a burst of 100 steps can put
    // any reader 50 messages behind, and this test is about the one that stops reading.
    std::size_t sent = 0;  // messages for every client so far (counted from the log, new events only)
    std::uint64_t counted_to = from;
    for (int round = 0; round < 400; ++round) {
        for (int i = 0; i < 10; ++i) plant.step();
        auto fresh = log->read_all(counted_to + 1, 1'000'000);
        ASSERT_TRUE(fresh);
        for (const auto& e : *fresh) {
            if (!live_type(e).empty()) ++sent;
            counted_to = e.position;
        }
        ASSERT_TRUE(eventually([&] { return fast.positions().size() >= sent || fast.closed(); }, 30s));
        if (call(http::verb::get, "/metrics").raw.find("dealerline_websocket_slow_clients_dropped_total 1") != std::string::npos) break;
    }
    auto metrics = call(http::verb::get, "/metrics").raw;
    EXPECT_NE(metrics.find("dealerline_websocket_slow_clients_dropped_total 1"), std::string::npos) << metrics;
    // The fast one has everything, in order, in good time.
    const auto want = expected_positions(*log, from, "");
    ASSERT_TRUE(eventually([&] { return fast.positions().size() >= want.size(); }, 30s));
    EXPECT_EQ(fast.positions(), want);
    EXPECT_FALSE(fast.closed());
    // The slow one, once it reads, finds the end of its stream: closed with 1013 and a reason.
    slow.start();
    ASSERT_TRUE(eventually([&] { return slow.closed(); }, 30s));
    EXPECT_EQ(slow.reason().code, websocket::close_code::try_again_later);
    EXPECT_NE(std::string(slow.reason().reason.c_str()).find("from_position"), std::string::npos);
    EXPECT_LT(slow.positions().size(), want.size());
    EXPECT_EQ(call(http::verb::get, "/healthz").status, 200);
}

TEST_F(Live, RefusedBeforeTheUpgradeWithAPlainHttpAnswer) {
    test_seed seed(1);
    workload plant(*handler, seed.value);
    plant.register_dealers(2);
    const auto d1 = token_for(domain::role::dealer, "D-1", "D-1");
    auto attempt = [&](const std::string& target, const std::string& token, const std::string& origin = "") {
        net::io_context own;
        live_client c(own);
        return c.open(server->port(), target, token, origin);
    };
    EXPECT_EQ(attempt(live(), ""), 401) << "no token";
    EXPECT_EQ(attempt(live(), token_for(domain::role::dealer, "D-1", "D-1", -10)), 401) << "expired";
    EXPECT_EQ(attempt(live(), *api::issue_token("another-secret-0123456789abcdef-xyz", {"D-1", domain::role::dealer, "D-1", unix_now() + 60})),
              401)
        << "signed with another secret";
    // {"alg":"none"} with our claims and no signature.
    EXPECT_EQ(attempt(live(), "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJELTEiLCJyb2xlIjoiZGVhbGVyIiwiZGVhbGVyX2lkIjoiRC0xIiwiZXhwIjo0MTAyNDQ0ODAwfQ."),
              401)
        << "alg none";
    EXPECT_EQ(attempt(live(), d1, "https://evil.example.net"), 403) << "wrong Origin";
    EXPECT_EQ(attempt(live(std::nullopt, "dealer_id=D-2"), d1), 403) << "another dealer's feed";
    EXPECT_EQ(attempt(live(std::nullopt, "types=invoices"), d1), 400);
    EXPECT_EQ(attempt(live(std::nullopt, "colour=red"), d1), 400);
    EXPECT_EQ(attempt(live(log->head_position() + 10), d1), 400) << "from_position beyond the log";
    EXPECT_EQ(call(http::verb::get, "/api/live", "", d1).status, 426) << "not an upgrade";
    // Allowed: our own page's origin, a configured one, a token in the URL (browsers).
    EXPECT_EQ(attempt(live(), d1, "http://127.0.0.1:" + std::to_string(server->port())), 0);
    EXPECT_EQ(attempt(live(), d1, "https://portal.example.com"), 0);
    EXPECT_EQ(attempt(live(std::nullopt, "access_token=" + d1), ""), 0);
    EXPECT_EQ(attempt(live(std::nullopt, "dealer_id=D-1"), d1), 0);
}

TEST_F(Live, CommandsOverTheSocketAreAnsweredAndCheckedLikeHttp) {
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    ASSERT_EQ(command(cmd("c-2", "RegisterDealer", R"({"dealer_id":"D-2","name":"B","currency":"EUR","payment_terms_days":30,"credit_limit":1})"), admin).status, 200);
    ASSERT_EQ(command(cmd("c-3", "PlaceOrder", order_o1), token_for(domain::role::dealer, "D-1", "D-1")).status, 200);
    net::io_context own;
    live_client c(own);
    ASSERT_EQ(c.open(server->port(), live(std::nullopt, "types=claim_status"), token_for(domain::role::dealer, "D-2", "D-2")), 0);
    ASSERT_EQ(text(c.read_one()->at("type")), "caught_up");
    auto reply_to = [&](const std::string& message) {
        c.send(message);
        auto m = c.read_one();
        return m ? m->at("reply") : json::value();
    };
    const auto head = log->head_position();
    auto theirs = reply_to(R"({"command":)" + cmd("c-4", "CancelOrder", R"({"order_id":"O-1","reason":"mine now"})") + "}");
    EXPECT_EQ(text(theirs.at("status")), "403") << json::serialize(theirs);
    EXPECT_EQ(text(reply_to("{nope").at("code")), "malformed_json");
    EXPECT_EQ(text(reply_to(R"({"cmd":{}})").at("status")), "400");
    EXPECT_EQ(text(reply_to(R"({"command":)" + cmd("c-5", "Fly", "{}") + "}").at("code")), "unknown_command");
    EXPECT_EQ(log->head_position(), head) << "nothing appended by refused commands";
    auto ok = reply_to(R"({"command":)" +
                       cmd("c-6", "PlaceOrder",
                           R"({"order_id":"O-2","dealer_id":"D-2","currency":"EUR","lines":[{"sku":"W","description":"","quantity":1,"unit_price":5}]})") +
                       "}");
    EXPECT_EQ(text(ok.at("status")), "200") << json::serialize(ok);
    EXPECT_EQ(text(ok.at("command_id")), "c-6");
    EXPECT_EQ(log->head_position(), head + 1);
    // A message over 64 KiB closes the socket (1009); the server carries on.
    c.send(R"({"command":")" + std::string(70'000, 'x') + "\"}");
    EXPECT_FALSE(c.read_one());
    EXPECT_EQ(c.reason().code, websocket::close_code::too_big);
    EXPECT_EQ(log->head_position(), head + 1);
    EXPECT_EQ(call(http::verb::get, "/healthz").status, 200);
}

TEST_F(Live, AShippedOrderMovesStockAndItsInvoiceReachesTheDealersStatementLive) {
    commands::manager_runner managers(*log, *handler);  // as `serve` runs them
    managers.start();
    const auto d1 = token_for(domain::role::dealer, "D-1", "D-1"), staff = token_for(domain::role::engineer, "eng");
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    ASSERT_EQ(command(cmd("c-2", "ReceiveStock", R"({"warehouse":"WH-1","sku":"WIN-1","quantity":10,"reference":"batch 1"})"),
                      token_for(domain::role::storekeeper, "sk")).status, 200);
    auto& feed = client();
    ASSERT_EQ(feed.open(server->port(), live(std::nullopt, "types=account_entry"), d1), 0);
    run_clients();
    feed.start();
    ASSERT_TRUE(eventually([&] { return feed.caught_up().has_value(); }));
    ASSERT_EQ(command(cmd("c-3", "PlaceOrder", order_o1), d1).status, 200);  // 2 × WIN-1 at 189.00
    ASSERT_EQ(command(cmd("c-4", "AcceptOrder", R"({"order_id":"O-1"})"), staff).status, 200);
    const auto stock_at = [&] {
        return call(http::verb::get, "/api/stock?sku=WIN-1&min_position=" + std::to_string(log->head_position()), "", staff);
    };
    ASSERT_TRUE(eventually([&] { return stock_at().raw.find("\"reserved\":2") != std::string::npos; })) << stock_at().raw;
    for (const auto& [id, type] : std::vector<std::pair<std::string, std::string>>{
             {"c-5", "StartProduction"}, {"c-6", "CompleteProduction"}})
        ASSERT_EQ(command(cmd(id, type, R"({"order_id":"O-1"})"), token_for(domain::role::production, "p")).status, 200);
    ASSERT_EQ(command(cmd("c-7", "ShipOrder",
                          R"({"order_id":"O-1","carrier":"Own fleet","route":"R-1","vehicle":"TRK-1","driver_name":"Jan","driver_phone":"+48","planned_delivery_date":"2026-12-05"})"),
                      token_for(domain::role::logistics, "l")).status, 200);
    // The invoice arrives on the dealer's feed…
    ASSERT_TRUE(eventually([&] { return !feed.positions().empty(); }));
    const auto update = feed.messages().back();
    EXPECT_EQ(text(update.at("type")), "account_entry");
    EXPECT_EQ(text(update.at("kind")), "invoice");
    EXPECT_EQ(text(update.at("document_id")), "INV-O-1");
    EXPECT_EQ(text(update.at("amount")), "37800");
    // …the stock left the warehouse, and the statement shows it with the balance.
    ASSERT_TRUE(eventually([&] { return stock_at().raw.find("\"on_hand\":8,\"reserved\":0") != std::string::npos; })) << stock_at().raw;
    const auto at = std::to_string(update.at("position").to_number<std::uint64_t>());
    auto account = call(http::verb::get, "/api/dealers/D-1/account?min_position=" + at, "", d1);
    ASSERT_EQ(account.status, 200) << account.raw;
    EXPECT_EQ(text(account.body.at("balance")), "37800");
    EXPECT_EQ(text(account.body.at("open_invoices").at(0).at("invoice_id")), "INV-O-1");
    EXPECT_EQ(text(account.body.at("entries").at(0).at("running_balance")), "37800");
    EXPECT_EQ(call(http::verb::get, "/api/dealers/D-2/account", "", d1).status, 403) << "another dealer's account";
    EXPECT_EQ(call(http::verb::get, "/api/stock", "", d1).status, 403) << "stock is for staff";
    EXPECT_EQ(call(http::verb::get, "/api/dealers/D-404/account", "", staff).status, 404);
    // A payment through the API goes to that invoice; the balance is right to the cent.
    ASSERT_EQ(command(cmd("c-8", "RecordPayment",
                          R"({"payment_id":"P-1","dealer_id":"D-1","amount":30000,"method":"bank","received_at":"2026-11-20","external_ref":"BANK-1"})"),
                      token_for(domain::role::accountant, "acc")).status, 200);
    ASSERT_TRUE(eventually([&] {
        account = call(http::verb::get, "/api/dealers/D-1/account?min_position=" + std::to_string(log->head_position()), "", d1);
        const auto& open = account.body.at("open_invoices").as_array();
        return !open.empty() && text(open.at(0).at("open_amount")) == "7800";
    })) << account.raw;
    EXPECT_EQ(text(account.body.at("balance")), "7800");
    EXPECT_EQ(text(account.body.at("entries").at(0).at("kind")), "payment");
    EXPECT_EQ(call(http::verb::get, "/api/subscriptions", "", d1).body.at("subscriptions").as_array().size(), 0u);
    managers.stop();
}

// The rest of the settlements through the server, with the managers and schedulers as `serve`
// runs them: a claim's compensation becomes a credit note, billing twice bills each period once,
// a mid-period plan change is prorated by days, an unpaid invoice past due becomes overdue, and
// a bank file sent in bulk pays the oldest invoices first, right to the cent.
std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST_F(Live, ClaimsBillingOverdueAndABankFileSettleTheDealersAccount) {
    commands::manager_runner managers(*log, *handler);
    managers.start();
    const auto d1 = token_for(domain::role::dealer, "D-1", "D-1"), accountant = token_for(domain::role::accountant, "acc");
    const auto account = [&] {
        return call(http::verb::get, "/api/dealers/D-1/account?min_position=" + std::to_string(log->head_position()), "", d1);
    };
    const auto settled = [&] { return managers.wait_until_idle(std::chrono::steady_clock::now() + 30s); };
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    // A manual invoice, due in the dealer's 30 days: the oldest.
    ASSERT_EQ(command(cmd("c-2", "IssueInvoice",
                          R"({"invoice_id":"INV-M-1","dealer_id":"D-1","source":"manual","source_id":"M-1","lines":[{"description":"Service","quantity":1,"unit_price":10000}]})"),
                      accountant).status, 200);
    // Claim on an accepted order, resolved with 25.00 of compensation.
    ASSERT_EQ(command(cmd("c-3", "PlaceOrder", order_o1), d1).status, 200);
    ASSERT_EQ(command(cmd("c-4", "AcceptOrder", R"({"order_id":"O-1"})"), token_for(domain::role::engineer, "eng")).status, 200);
    ASSERT_EQ(command(cmd("c-5", "FileClaim", R"({"claim_id":"CL-1","order_id":"O-1","kind":"damage","description":"Scratched"})"), d1).status, 200);
    const auto manager = token_for(domain::role::claims_manager, "cm");
    ASSERT_EQ(command(cmd("c-6a", "AssignClaim", R"({"claim_id":"CL-1","manager":"cm"})"), manager).status, 200);
    ASSERT_EQ(command(cmd("c-6", "ResolveClaim", R"({"claim_id":"CL-1","resolution":"refund","compensation":2500,"note":"Sorry"})"), manager).status,
              200);
    // A monthly subscription from November 1st: November billed at 30.00, then the plan goes to
    // 60.00 from November 16th, then billing up to December 1st, twice.
    ASSERT_EQ(command(cmd("c-7", "StartSubscription",
                          R"({"subscription_id":"S-1","dealer_id":"D-1","plan":"PBX","price":3000,"period":"monthly","starts_on":"2026-11-01"})"),
                      accountant).status, 200);
    auto billed = commands::run_billing(*log, *handler, "2026-11-01");
    ASSERT_TRUE(billed) << billed.error().message;
    EXPECT_EQ(billed->billed, 1u);
    ASSERT_EQ(command(cmd("c-8", "ChangeSubscriptionPlan", R"({"subscription_id":"S-1","plan":"PBX 20","price":6000,"effective_on":"2026-11-16"})"),
                      accountant).status, 200);
    for (int run = 0; run < 2; ++run) {
        billed = commands::run_billing(*log, *handler, "2026-12-01");
        ASSERT_TRUE(billed) << billed.error().message;
        EXPECT_EQ(billed->billed, run == 0 ? 1u : 0u) << "run " << run;
    }
    ASSERT_TRUE(settled());  // the managers have issued the periods' invoices
    // The overdue scheduler today marks nothing; 31 days later (a handler whose clock is there)
    // all three invoices, due in 30 days, are overdue — once, however often it runs.
    auto overdue = commands::run_overdue(*log, *handler, domain::date_of(now_us()));
    ASSERT_TRUE(overdue) << overdue.error().message;
    EXPECT_EQ(overdue->marked, 0u);
    commands::handler_options later;
    later.clock = [] { return now_us() + 31 * domain::micros_per_day; };
    commands::handler month_later(*log, later);
    for (int run = 0; run < 2; ++run) {
        overdue = commands::run_overdue(*log, month_later, domain::date_of(later.clock()));
        ASSERT_TRUE(overdue) << overdue.error().message;
        EXPECT_EQ(overdue->marked, run == 0 ? 3u : 0u) << "run " << run;
    }
    ASSERT_TRUE(settled());

    auto before = account();
    ASSERT_EQ(before.status, 200) << before.raw;
    // 100.00 + 30.00 + (60.00 + 30.00 × 15/30 for the second half of November) − 25.00 credit.
    EXPECT_EQ(text(before.body.at("balance")), "18000") << before.raw;
    EXPECT_EQ(text(before.body.at("overdue_amount")), "20500") << before.raw;
    std::vector<std::string> open;
    for (const auto& i : before.body.at("open_invoices").as_array())
        open.push_back(text(i.at("invoice_id")) + " " + text(i.at("source")) + " " + text(i.at("open_amount")));
    EXPECT_EQ(open, (std::vector<std::string>{"INV-M-1 manual 10000", "INV-S-1-2026-11-01 subscription 3000",
                                              "INV-S-1-2026-12-01 subscription 7500"}))
        << "one invoice per period however often billing ran";
    std::vector<std::string> entries;  // newest first
    for (const auto& e : before.body.at("entries").as_array()) entries.push_back(text(e.at("kind")) + " " + text(e.at("amount")));
    EXPECT_EQ(entries, (std::vector<std::string>{"invoice 7500", "invoice 3000", "credit_note -2500", "invoice 10000"}));

    // The bank file, as the accounting sync sends it: two payments in one request.
    auto payment = [](const std::string& id, int amount) {
        return cmd("pay-" + id, "RecordPayment",
                   R"({"payment_id":")" + id + R"(","dealer_id":"D-1","amount":)" + std::to_string(amount) +
                       R"(,"method":"bank","received_at":"2026-12-01","external_ref":"BANK-)" + id + R"("})");
    };
    const auto file = "[" + payment("P-1", 11000) + "," + payment("P-2", 1500) + "]";
    auto imported = command(file, token_for(domain::role::system, "bank-sync"));
    ASSERT_EQ(imported.status, 200) << imported.raw;
    for (const auto& r : imported.body.at("results").as_array()) EXPECT_EQ(text(r.at("status")), "200") << imported.raw;
    ASSERT_TRUE(settled());
    auto after = account();
    ASSERT_EQ(after.status, 200) << after.raw;
    open.clear();
    for (const auto& i : after.body.at("open_invoices").as_array()) open.push_back(text(i.at("invoice_id")) + " " + text(i.at("open_amount")));
    // 110.00 pays the manual invoice and 10.00 of November; 15.00 more goes to November next.
    EXPECT_EQ(open, (std::vector<std::string>{"INV-S-1-2026-11-01 500", "INV-S-1-2026-12-01 7500"})) << after.raw;
    EXPECT_EQ(text(after.body.at("balance")), "5500");
    EXPECT_EQ(text(after.body.at("overdue_amount")), "8000");
    // Sent again, nothing is paid twice.
    imported = command(file, token_for(domain::role::system, "bank-sync"));
    ASSERT_EQ(imported.status, 200) << imported.raw;
    ASSERT_TRUE(settled());
    EXPECT_EQ(text(account().body.at("balance")), "5500");
    managers.stop();
}

TEST_F(Live, StoppingTheServerClosesLiveClientsWithGoingAway) {
    ASSERT_EQ(command(cmd("c-1", "RegisterDealer", dealer_d1), admin).status, 200);
    auto& c = client();
    ASSERT_EQ(c.open(server->port(), live(), token_for(domain::role::dealer, "D-1", "D-1")), 0);
    run_clients();
    c.start();
    ASSERT_TRUE(eventually([&] { return c.caught_up().has_value(); }));
    server->stop();
    ASSERT_TRUE(eventually([&] { return c.closed(); }));
    EXPECT_EQ(c.reason().code, websocket::close_code::going_away);
}

}  // namespace
}  // namespace dealerline::testing
