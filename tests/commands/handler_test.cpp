// The command handler against a real event log: commands in, events in the log, rejections
// leaving nothing behind.
#include "commands/handler.hpp"

#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "tests/support/actors.hpp"
#include "tests/support/log_fixture.hpp"
#include "tests/support/seed.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;
using commands::failure;

class Handler : public ::testing::Test {
protected:
    void SetUp() override { start(); }
    void start(commands::handler_options options = {}) {
        handler.reset();
        options.clock = [this] { return now; };
        if (!log) log = open_log(dir.path() / "log");
        handler = std::make_unique<commands::handler>(*log, options);
    }
    commands::result<commands::outcome> send(domain::any_command c, actor who, std::string id = "") {
        if (id.empty()) id = "cmd-" + std::to_string(++counter);
        return handler->handle(commands::envelope{id, std::move(c), std::move(who), std::nullopt, ""});
    }
    commands::outcome ok(domain::any_command c, actor who, std::string id = "") {
        auto r = send(std::move(c), std::move(who), std::move(id));
        EXPECT_TRUE(r) << (r ? "" : r.error().code + ": " + r.error().message);
        return r ? *r : commands::outcome{};
    }
    void registered_dealer(const std::string& id, const std::string& currency = "EUR") {
        ok(dealer_command{register_dealer{id, "Dealer " + id, currency, 30, 1'000'000}}, staff(role::admin, "admin-1"));
    }
    place_order order_of(const std::string& order_id, const std::string& dealer_id, std::optional<std::string> ref = {}) {
        return place_order{order_id, dealer_id, "EUR", {{"WIN-1", "Window", 4, 18900}}, std::nullopt, std::move(ref)};
    }

    temp_dir dir;
    std::unique_ptr<storage::event_log> log;
    std::unique_ptr<commands::handler> handler;
    std::int64_t now = 1'795'000'000'000'000;
    int counter = 0;
};

TEST_F(Handler, AnOrderGoesThroughItsWholeLife) {
    registered_dealer("D-1");
    auto placed = ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    EXPECT_EQ(placed.stream, "order-O-1");
    EXPECT_EQ(placed.version, 1u);
    EXPECT_EQ(placed.events, std::vector<std::string>{"OrderPlaced"});
    ok(order_command{accept_order{"O-1", "2026-12-01"}}, staff(role::engineer));
    ok(order_command{start_production{"O-1"}}, staff(role::production));
    ok(order_command{record_production_progress{"O-1", 2}}, staff(role::production));
    ok(order_command{complete_production{"O-1"}}, staff(role::production));
    ok(order_command{ship_order{"O-1", "Own fleet", "R-1", "TRK-1", "Jan", "+48 1", "2026-12-05"}}, staff(role::logistics));
    auto delivered = ok(order_command{confirm_delivery{"O-1", "Anna"}}, dealer("D-1"));
    EXPECT_EQ(delivered.version, 7u);
    EXPECT_EQ(delivered.positions, std::vector<std::uint64_t>{8});

    auto events = log->read_stream("order-O-1").value();
    std::vector<std::string> types;
    for (const auto& e : events) types.push_back(e.type);
    EXPECT_EQ(types, (std::vector<std::string>{"OrderPlaced", "OrderAccepted", "ProductionStarted", "ProductionProgressed",
                                               "ProductionCompleted", "OrderShipped", "OrderDelivered"}));
    EXPECT_EQ(events.front().actor, "dealer:D-1");
    EXPECT_EQ(events[1].actor, "staff:staff-1");
}

TEST_F(Handler, ARejectionAppendsNothingAndSaysWhy) {
    registered_dealer("D-1");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    const auto head = log->head_position();
    auto r = send(order_command{ship_order{"O-1", "c", "r", "v", "d", "p", "2026-12-05"}}, staff(role::logistics));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().what, failure::kind::rejected);
    EXPECT_EQ(r.error().code, codes::invalid_transition);
    EXPECT_EQ(log->head_position(), head);
}

TEST_F(Handler, DenialsAndMissingAggregatesHaveTheirOwnKinds) {
    registered_dealer("D-1");
    registered_dealer("D-2");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    auto other = send(order_command{cancel_order{"O-1", "mine"}}, dealer("D-2"));
    ASSERT_FALSE(other);
    EXPECT_EQ(other.error().what, failure::kind::forbidden);
    auto missing = send(order_command{accept_order{"O-404", {}}}, staff(role::engineer));
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().what, failure::kind::not_found);
    auto unregistered = send(order_command{order_of("O-2", "D-9")}, staff(role::engineer));
    ASSERT_FALSE(unregistered);
    EXPECT_EQ(unregistered.error().code, codes::dealer_not_registered);
}

TEST_F(Handler, ARetriedCommandReturnsItsFirstResultEvenAfterTheOrderMovedOn) {
    registered_dealer("D-1");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    auto first = ok(order_command{accept_order{"O-1", {}}}, staff(role::engineer), "accept-1");
    ok(order_command{start_production{"O-1"}}, staff(role::production));
    auto again = ok(order_command{accept_order{"O-1", {}}}, staff(role::engineer), "accept-1");
    EXPECT_TRUE(again.duplicate);
    EXPECT_EQ(again.positions, first.positions);
    EXPECT_EQ(again.events, first.events);
    EXPECT_EQ(again.version, first.version);
}

TEST_F(Handler, ACommandIdReusedForAnotherCommandIsAConflict) {
    registered_dealer("D-1");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"), "same");
    const auto head = log->head_position();
    auto r = send(order_command{order_of("O-2", "D-1")}, dealer("D-1"), "same");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().what, failure::kind::conflict);
    EXPECT_EQ(r.error().code, "command_id_reused");
    EXPECT_EQ(log->head_position(), head);
}

TEST_F(Handler, AnExternalRefIsUniquePerDealer) {
    registered_dealer("D-1");
    registered_dealer("D-2");
    auto first = ok(order_command{order_of("O-1", "D-1", "CAD-77")}, dealer("D-1"));
    EXPECT_EQ(first.events, (std::vector<std::string>{"OrderPlaced", "ExternalRefReserved"}));
    auto again = send(order_command{order_of("O-2", "D-1", "CAD-77")}, dealer("D-1"));
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, codes::duplicate_external_ref);
    EXPECT_EQ(log->stream_version("order-O-2").value(), 0u);
    ok(order_command{order_of("O-3", "D-2", "CAD-77")}, dealer("D-2"));  // another dealer's own numbering
}

TEST_F(Handler, ConcurrentOrdersWithOneExternalRefPlaceExactlyOne) {
    registered_dealer("D-1");
    std::atomic<int> placed{0}, duplicates{0}, other{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] {
            auto r = handler->handle({"race-" + std::to_string(t), order_command{order_of("O-" + std::to_string(t), "D-1", "REF-1")},
                                      dealer("D-1"), std::nullopt, ""});
            if (r) ++placed;
            else if (r.error().code == codes::duplicate_external_ref) ++duplicates;
            else ++other;
        });
    for (auto& th : threads) th.join();
    EXPECT_EQ(placed.load(), 1);
    EXPECT_EQ(duplicates.load(), 7);
    EXPECT_EQ(other.load(), 0);
}

TEST_F(Handler, AClaimIsFiledOnlyOnTheDealersOwnAcceptedOrder) {
    registered_dealer("D-1");
    registered_dealer("D-2");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    auto early = send(claim_command{file_claim{"CL-1", "O-1", "defect", "cracked"}}, dealer("D-1"));
    ASSERT_FALSE(early);
    EXPECT_EQ(early.error().code, codes::invalid_transition);
    ok(order_command{accept_order{"O-1", {}}}, staff(role::engineer));
    auto stranger = send(claim_command{file_claim{"CL-1", "O-1", "defect", "cracked"}}, dealer("D-2"));
    ASSERT_FALSE(stranger);
    EXPECT_EQ(stranger.error().what, failure::kind::forbidden);
    auto filed = ok(claim_command{file_claim{"CL-1", "O-1", "defect", "cracked"}}, dealer("D-1"));
    EXPECT_EQ(filed.stream, "claim-CL-1");
    auto e = log->read_stream("claim-CL-1").value().at(0);
    EXPECT_NE(e.data.find(R"("dealer_id":"D-1")"), std::string::npos) << e.data;
}

TEST_F(Handler, AWrongExpectedVersionIsAConflictAndAppendsNothing) {
    registered_dealer("D-1");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    const auto head = log->head_position();
    auto stale = handler->handle({"x-1", order_command{accept_order{"O-1", {}}}, staff(role::engineer), 0, ""});
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().what, failure::kind::conflict);
    EXPECT_EQ(log->head_position(), head);
    auto right = handler->handle({"x-2", order_command{accept_order{"O-1", {}}}, staff(role::engineer), 1, ""});
    ASSERT_TRUE(right) << right.error().message;
    EXPECT_EQ(right->version, 2u);
}

TEST_F(Handler, StateFromSnapshotAndTailEqualsStateFromFullReplay) {
    commands::handler_options options;
    options.snapshot_every = 5;
    start(options);
    registered_dealer("D-1");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    ok(order_command{accept_order{"O-1", {}}}, staff(role::engineer));
    ok(claim_command{file_claim{"CL-1", "O-1", "damage", "dented"}}, dealer("D-1"));
    ok(claim_command{assign_claim{"CL-1", "cm-1"}}, staff(role::claims_manager));
    for (int i = 0; i < 21; ++i) ok(claim_command{comment_on_claim{"CL-1", "message " + std::to_string(i)}}, dealer("D-1"));
    ok(claim_command{resolve_claim{"CL-1", "repair", 0, "fixed"}}, staff(role::claims_manager));  // version 24

    auto snap = log->get_snapshot("claim-CL-1").value();
    ASSERT_TRUE(snap.has_value());
    EXPECT_EQ(snap->version, 20u);

    commands::handler fresh(*log, {.cache_entries = 0, .snapshot_every = 0, .max_retries = 0, .clock = {}});
    auto from_snapshot = fresh.load<claim_aggregate>("claim-CL-1").value();
    (void)log->put_snapshot("claim-CL-1", {0, "{}"});  // make the next load replay everything
    auto replayed = fresh.load<claim_aggregate>("claim-CL-1").value();
    EXPECT_EQ(from_snapshot.first, 24u);
    EXPECT_EQ(from_snapshot, replayed);
    EXPECT_EQ(replayed.second.status, claim_status::resolved);
}

TEST_F(Handler, ManyThreadsOnOneClaimLoseNothing) {
    registered_dealer("D-1");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    ok(order_command{accept_order{"O-1", {}}}, staff(role::engineer));
    ok(claim_command{file_claim{"CL-1", "O-1", "defect", "d"}}, dealer("D-1"));
    constexpr int threads = 8, each = 40;
    std::atomic<int> failures{0};
    std::mutex mutex;
    std::string first_failure;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            for (int n = 0; n < each; ++n) {
                auto r = handler->handle({"c-" + std::to_string(t) + "-" + std::to_string(n),
                                          claim_command{comment_on_claim{"CL-1", "t" + std::to_string(t) + " n" + std::to_string(n)}},
                                          dealer("D-1"), std::nullopt, ""});
                if (!r && failures++ == 0) {
                    std::lock_guard lock(mutex);
                    first_failure = r.error().code + ": " + r.error().message;
                }
            }
        });
    for (auto& w : workers) w.join();
    EXPECT_EQ(failures.load(), 0) << first_failure;
    auto events = log->read_stream("claim-CL-1", 1, 10'000).value();
    ASSERT_EQ(events.size(), 1u + threads * each);
    std::set<std::string> commands_seen;
    for (std::size_t i = 0; i < events.size(); ++i) {
        EXPECT_EQ(events[i].version, i + 1);
        commands_seen.insert(events[i].command_id);
    }
    EXPECT_EQ(commands_seen.size(), events.size()) << "a command appended twice";
}

// How the server sends commands: many in flight from one thread, none of them waited for.
TEST_F(Handler, CommandsInFlightAtOnceAreEachAnsweredOnceAndTakeTurnsOnOneAggregate) {
    registered_dealer("D-1");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    ok(order_command{accept_order{"O-1", {}}}, staff(role::engineer));
    ok(claim_command{file_claim{"CL-1", "O-1", "defect", "d"}}, dealer("D-1"));
    constexpr int on_the_claim = 150, orders = 50;
    std::mutex m;
    std::condition_variable all_in;
    std::map<std::string, int> answers;  // command id → times answered
    std::vector<std::string> failures;
    int answered = 0;
    auto send_async = [&](std::string id, domain::any_command c, actor who) {
        handler->handle_async({id, std::move(c), std::move(who), std::nullopt, ""}, [&, id](commands::result<commands::outcome> r) {
            std::lock_guard lock(m);
            ++answers[id];
            if (!r) failures.push_back(id + ": " + r.error().code + " " + r.error().message);
            ++answered;
            all_in.notify_one();
        });
    };
    // Comments on one claim (one lane: they take turns) and orders of their own, interleaved.
    for (int n = 0; n < on_the_claim; ++n) {
        send_async("comment-" + std::to_string(n), claim_command{comment_on_claim{"CL-1", "n" + std::to_string(n)}}, dealer("D-1"));
        if (n < orders) send_async("order-" + std::to_string(n), order_command{order_of("O-A" + std::to_string(n), "D-1")}, dealer("D-1"));
    }
    // A refusal needs no append: it is answered at once, on this thread.
    bool refused_now = false;
    handler->handle_async({"refused", order_command{accept_order{"O-404", {}}}, staff(role::engineer), std::nullopt, ""},
                          [&](commands::result<commands::outcome> r) { refused_now = !r && r.error().what == failure::kind::not_found; });
    EXPECT_TRUE(refused_now);
    {
        std::unique_lock lock(m);
        ASSERT_TRUE(all_in.wait_for(lock, std::chrono::seconds(60), [&] { return answered == on_the_claim + orders; })) << answered;
        EXPECT_TRUE(failures.empty()) << failures.front();
        for (const auto& [id, times] : answers) EXPECT_EQ(times, 1) << id;
    }
    auto events = log->read_stream("claim-CL-1", 1, 10'000).value();
    ASSERT_EQ(events.size(), 1u + on_the_claim);
    for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].version, i + 1);
    // Each acknowledged command is in the log once.
    for (int n = 0; n < orders; ++n) EXPECT_EQ(log->stream_version("order-O-A" + std::to_string(n)).value(), 1u) << n;
    // The same ids again: duplicates, answered with the first result, nothing appended.
    const auto head = log->head_position();
    auto again = send(claim_command{comment_on_claim{"CL-1", "n7"}}, dealer("D-1"), "comment-7");
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(again->duplicate);
    EXPECT_EQ(log->head_position(), head);
}

TEST_F(Handler, AnAsynchronousCommandThatMeetsAnotherWritersAppendIsRetried) {
    registered_dealer("D-1");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    ok(order_command{accept_order{"O-1", {}}}, staff(role::engineer));
    ok(claim_command{file_claim{"CL-1", "O-1", "defect", "d"}}, dealer("D-1"));
    // This handler caches CL-1 at version 1; another handler on the same log moves it to 2.
    commands::handler other(*log);
    auto moved = other.handle({"other-1", claim_command{comment_on_claim{"CL-1", "from elsewhere"}}, dealer("D-1"), std::nullopt, ""});
    ASSERT_TRUE(moved) << moved.error().message;
    std::promise<commands::result<commands::outcome>> answer;
    handler->handle_async({"mine-1", claim_command{comment_on_claim{"CL-1", "mine"}}, dealer("D-1"), std::nullopt, ""},
                          [&](commands::result<commands::outcome> r) { answer.set_value(std::move(r)); });
    auto f = answer.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
    auto r = f.get();
    ASSERT_TRUE(r) << r.error().code << ": " << r.error().message;
    EXPECT_EQ(r->version, 3u);
    EXPECT_EQ(log->stream_version("claim-CL-1").value(), 3u);
}

TEST_F(Handler, EightThreadsReservingTheSameStockNeverDriveAvailableBelowZero) {
    ok(stock_command{receive_stock{"WH-1", "WIN-1", 100, "batch 1"}}, staff(role::storekeeper));
    // Two handlers on one log: each other's appends are only seen through version conflicts (a
    // contended command may give up with `conflict` then: nothing is appended, the caller retries).
    commands::handler other(*log);
    constexpr int threads = 8, each = 25;
    std::atomic<std::int64_t> granted{0};
    std::atomic<int> short_of_stock{0}, gave_up{0}, failures{0};
    test_seed seed(0);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&, t] {
            auto& h = t % 2 ? other : *handler;
            std::mt19937 rng(static_cast<unsigned>(seed.value) + static_cast<unsigned>(t));
            for (int n = 0; n < each; ++n) {
                const std::int64_t want = 1 + static_cast<std::int64_t>(rng() % 5);
                const auto order = "O-" + std::to_string(t) + "-" + std::to_string(n);
                auto r = h.handle({"r-" + order, stock_command{reserve_stock{"WH-1", "WIN-1", order, want}}, staff(role::system, "fulfilment"),
                                   std::nullopt, ""});
                if (r) granted += want;
                else if (r.error().code == "insufficient_stock") ++short_of_stock;
                else if (r.error().code == "conflict") ++gave_up;
                else if (failures++ == 0) ADD_FAILURE() << r.error().code << ": " << r.error().message;
            }
        });
    for (auto& w : workers) w.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_GT(short_of_stock.load(), 0) << "demand (~" << threads * each * 3 << ") exceeds the 100 on hand";
    // The log says the same: folded, nothing is reserved beyond what is on hand.
    stock_state s{};
    const auto events = log->read_stream("stock-WH-1:WIN-1", 1, 10'000).value();
    for (const auto& e : events) {
        auto decoded = codec::decode<stock_aggregate>(e.type, e.schema_version, e.data);
        ASSERT_TRUE(decoded.has_value()) << e.type << ": " << decoded.error().message;
        s = stock_aggregate::evolve(std::move(s), *decoded);
    }
    EXPECT_EQ(s.reserved, granted.load());
    EXPECT_GE(s.available(), 0);
    EXPECT_LE(s.reserved, 100);
    EXPECT_EQ(static_cast<int>(s.reservations.size()) + short_of_stock.load() + gave_up.load(), threads * each);
}

TEST_F(Handler, AnAllocationMovesThePaymentAndTheInvoiceInOneAppend) {
    registered_dealer("D-1");
    const auto accountant = staff(role::accountant, "acc-1");
    ok(invoice_command{issue_invoice{"INV-1", "D-1", "order", "O-1", {{"Window", 4, 18900}}, std::nullopt}}, accountant);
    ok(invoice_command{issue_invoice{"INV-2", "D-1", "manual", "M-1", {{"Service", 1, 10000}}, std::nullopt}}, accountant);
    ok(payment_command{record_payment{"P-1", "D-1", 80000, "bank", "2026-11-16", "BANK-1"}}, accountant);
    auto allocated = ok(payment_command{allocate_payment{"P-1", "INV-1", 75600}}, accountant);
    EXPECT_EQ(allocated.events, (std::vector<std::string>{"PaymentAllocated", "InvoicePaymentApplied"}));
    ASSERT_EQ(allocated.positions.size(), 2u);
    auto invoice = handler->load<invoice_aggregate>("invoice-INV-1");
    ASSERT_TRUE(invoice);
    EXPECT_EQ(invoice->second.status, invoice_status::paid);
    // Over what is left on the payment, or over what is open on the invoice: nothing appended.
    const auto head = log->head_position();
    auto over = send(payment_command{allocate_payment{"P-1", "INV-2", 4401}}, accountant);
    ASSERT_FALSE(over);
    EXPECT_EQ(over.error().code, "over_allocation");
    auto closed = send(payment_command{allocate_payment{"P-1", "INV-1", 1}}, accountant);
    ASSERT_FALSE(closed);
    EXPECT_EQ(closed.error().code, "over_allocation");
    EXPECT_EQ(log->head_position(), head);
    ok(payment_command{allocate_payment{"P-1", "INV-2", 4400}}, accountant);
    // A reversal reopens both invoices by what it had paid on each.
    auto reversed = ok(payment_command{reverse_payment{"P-1", "returned by the bank"}}, accountant);
    EXPECT_EQ(reversed.events, (std::vector<std::string>{"PaymentReversed", "InvoicePaymentReversed", "InvoicePaymentReversed"}));
    auto one = handler->load<invoice_aggregate>("invoice-INV-1");
    auto two = handler->load<invoice_aggregate>("invoice-INV-2");
    EXPECT_EQ(one->second.open_amount(), 75600);
    EXPECT_EQ(one->second.status, invoice_status::open);
    EXPECT_EQ(two->second.open_amount(), 10000);
}

TEST_F(Handler, ABankReferenceIsOnePaymentPerDealer) {
    registered_dealer("D-1");
    registered_dealer("D-2");
    const auto sync = staff(role::system, "bank-sync");
    ok(payment_command{record_payment{"P-1", "D-1", 100, "bank", "2026-11-16", "BANK-1"}}, sync);
    auto again = send(payment_command{record_payment{"P-2", "D-1", 100, "bank", "2026-11-16", "BANK-1"}}, sync);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code, "duplicate_external_ref");
    ok(payment_command{record_payment{"P-3", "D-2", 100, "bank", "2026-11-16", "BANK-1"}}, sync);  // another dealer's bank ref
}

TEST_F(Handler, ConcurrentAllocationsNeverExceedThePayment) {
    registered_dealer("D-1");
    const auto accountant = staff(role::accountant, "acc-1");
    constexpr int invoices = 16;
    for (int i = 0; i < invoices; ++i)
        ok(invoice_command{issue_invoice{"INV-" + std::to_string(i), "D-1", "manual", "M", {{"x", 1, 1000}}, std::nullopt}}, accountant);
    ok(payment_command{record_payment{"P-1", "D-1", 5000, "bank", "2026-11-16", "BANK-1"}}, accountant);
    std::atomic<std::int64_t> granted{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < 8; ++t)
        workers.emplace_back([&, t] {
            for (int i = t; i < invoices; i += 4) {  // two threads per invoice
                auto r = handler->handle({"a-" + std::to_string(t) + "-" + std::to_string(i),
                                          payment_command{allocate_payment{"P-1", "INV-" + std::to_string(i), 700}}, accountant, std::nullopt, ""});
                if (r) granted += 700;
                else if (r.error().code != "over_allocation" && failures++ == 0) ADD_FAILURE() << r.error().code << ": " << r.error().message;
            }
        });
    for (auto& w : workers) w.join();
    EXPECT_EQ(failures.load(), 0);
    auto p = handler->load<payment_aggregate>("payment-P-1", false);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->second.allocated, granted.load());
    EXPECT_LE(p->second.allocated, 5000);
    EXPECT_EQ(p->second.allocated, 4900) << "7 allocations of 700 fit in 5000";
    std::int64_t applied = 0;
    for (int i = 0; i < invoices; ++i) {
        auto inv = handler->load<invoice_aggregate>("invoice-INV-" + std::to_string(i), false);
        EXPECT_LE(inv->second.paid, 1000);
        applied += inv->second.paid;
    }
    EXPECT_EQ(applied, p->second.allocated) << "each allocation applied to exactly one invoice";
}

TEST_F(Handler, AStaleCacheMeetsAConflictAndTheHandlerRetries) {
    registered_dealer("D-1");
    ok(order_command{order_of("O-1", "D-1")}, dealer("D-1"));
    ok(order_command{accept_order{"O-1", {}}}, staff(role::engineer));
    ok(claim_command{file_claim{"CL-1", "O-1", "defect", "d"}}, dealer("D-1"));  // cached at version 1
    commands::handler other(*log);  // another writer's handler: our cache does not see its appends
    ASSERT_TRUE(other.handle({"other-1", claim_command{comment_on_claim{"CL-1", "from elsewhere"}}, dealer("D-1"), std::nullopt, ""}));
    auto ours = ok(claim_command{comment_on_claim{"CL-1", "ours"}}, dealer("D-1"));
    EXPECT_EQ(ours.version, 3u) << "decided again on version 2 after the conflict";
    // With an expected version the caller decides: the conflict comes back instead.
    ASSERT_TRUE(other.handle({"other-2", claim_command{comment_on_claim{"CL-1", "again"}}, dealer("D-1"), std::nullopt, ""}));
    auto stale = handler->handle({"ours-2", claim_command{comment_on_claim{"CL-1", "x"}}, dealer("D-1"), 3, ""});
    ASSERT_FALSE(stale);
    EXPECT_EQ(stale.error().what, failure::kind::conflict);
}

TEST_F(Handler, StateFoldedFromTheLogEqualsTheStateTheHandlerHeld) {
    registered_dealer("D-1");
    test_seed seed(20261123);
    std::mt19937 rng(static_cast<unsigned>(seed.value));
    const std::vector<actor> people{dealer("D-1"), staff(role::engineer), staff(role::production), staff(role::logistics)};
    for (int o = 0; o < 12; ++o) ok(order_command{order_of("O-" + std::to_string(o), "D-1")}, dealer("D-1"));
    for (int step = 0; step < 400; ++step) {
        const auto id = "O-" + std::to_string(rng() % 12);
        order_command c;
        switch (rng() % 8) {
            case 0: c = accept_order{id, {}}; break;
            case 1: c = reject_order{id, "no"}; break;
            case 2: c = start_production{id}; break;
            case 3: c = record_production_progress{id, static_cast<std::int64_t>(rng() % 5)}; break;
            case 4: c = complete_production{id}; break;
            case 5: c = ship_order{id, "c", "r", "v", "d", "p", "2026-12-05"}; break;
            case 6: c = confirm_delivery{id, {}}; break;
            default: c = cancel_order{id, "x"}; break;
        }
        (void)send(c, people[rng() % people.size()]);  // valid or rejected: both are fine here
    }
    for (int o = 0; o < 12; ++o) {
        const auto stream = "order-O-" + std::to_string(o);
        auto held = handler->load<order_aggregate>(stream).value();
        order_state folded{};
        std::uint64_t version = 0;
        const auto events = log->read_stream(stream, 1, 1000).value();  // named: a temporary would dangle
        for (const auto& e : events) {
            auto decoded = codec::decode<order_aggregate>(e.type, e.schema_version, e.data);
            ASSERT_TRUE(decoded.has_value()) << e.type << " " << e.data << ": " << decoded.error().message;
            folded = order_aggregate::evolve(folded, *decoded);
            version = e.version;
        }
        EXPECT_EQ(held.first, version) << stream;
        EXPECT_EQ(held.second, folded) << stream;
    }
}

}  // namespace
}  // namespace dealerline::testing
