#include "domain/codec.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace dealerline::testing {
namespace {

using namespace domain;
namespace json = boost::json;

result<domain::any_command> parse(std::string_view type, std::string_view data) {
    return codec::parse_command(type, json::parse(data));
}

void expect_bad(std::string_view type, std::string_view data, std::string_view names) {
    auto r = parse(type, data);
    ASSERT_FALSE(r.has_value()) << type << " " << data << " was accepted";
    EXPECT_EQ(r.error().code, "bad_request");
    EXPECT_NE(r.error().message.find(names), std::string::npos) << "message: " << r.error().message << " should name " << names;
}

const std::vector<domain::any_command> every_command{
    dealer_command{register_dealer{"D-1", "Okna", "EUR", 30, 500}},
    dealer_command{update_dealer_terms{"D-1", 45, std::nullopt}},
    dealer_command{set_opening_balance{"D-1", -1200}},
    order_command{place_order{"O-1", "D-1", "EUR", {{"WIN-1", "Window", 4, 18900}}, "Main St 1", std::nullopt}},
    order_command{accept_order{"O-1", "2026-12-01"}},
    order_command{reject_order{"O-1", "no"}},
    order_command{start_production{"O-1"}},
    order_command{record_production_progress{"O-1", 3}},
    order_command{complete_production{"O-1"}},
    order_command{ship_order{"O-1", "c", "r", "v", "d", "p", "2026-12-05"}},
    order_command{confirm_delivery{"O-1", "Anna"}},
    order_command{cancel_order{"O-1", "why"}},
    claim_command{file_claim{"CL-1", "O-1", "defect", "cracked"}},
    claim_command{assign_claim{"CL-1", "cm-3"}},
    claim_command{comment_on_claim{"CL-1", "hello"}},
    claim_command{resolve_claim{"CL-1", "refund", 100, "sorry"}},
    claim_command{reopen_claim{"CL-1", "again"}},
    claim_command{close_claim{"CL-1"}},
    order_command{flag_stock_shortage{"O-1", "WIN-1", 8, 6}},
    stock_command{receive_stock{"WH-1", "WIN-1", 10, "batch 7"}},
    stock_command{reserve_stock{"WH-1", "WIN-1", "O-1", 2}},
    stock_command{release_stock{"WH-1", "WIN-1", "O-1"}},
    stock_command{issue_stock{"WH-1", "WIN-1", "O-1"}},
    stock_command{write_off_stock{"WH-1", "WIN-1", 1, "broken"}},
    stock_command{count_stock{"WH-1", "WIN-1", 7}},
    invoice_command{issue_invoice{"INV-1", "D-1", "order", "O-1", {{"Window", 2, 100}}, "2026-12-01"}},
    invoice_command{void_invoice{"INV-1", "wrong"}},
    invoice_command{mark_invoice_overdue{"INV-1"}},
    payment_command{record_payment{"P-1", "D-1", 500, "bank", "2026-11-16", "B-1"}},
    payment_command{allocate_payment{"P-1", "INV-1", 200}},
    payment_command{reverse_payment{"P-1", "returned"}},
    credit_note_command{issue_credit_note{"CN-1", "D-1", 300, "compensation", "CL-1"}},
    subscription_command{start_subscription{"S-1", "D-1", "PBX", 3000, "monthly", "2026-11-01"}},
    subscription_command{change_subscription_plan{"S-1", "PBX 20", 6000, "2026-11-16"}},
    subscription_command{pause_subscription{"S-1"}},
    subscription_command{resume_subscription{"S-1"}},
    subscription_command{cancel_subscription{"S-1", "2027-01-01"}},
    subscription_command{bill_subscription_period{"S-1", "2026-11-01"}},
};

TEST(CommandCodec, EveryCommandRoundTrips) {
    for (const auto& c : every_command) {
        const auto type = codec::command_type(c);
        const auto text = json::serialize(codec::command_data(c));
        auto back = parse(type, text);
        ASSERT_TRUE(back.has_value()) << type << ": " << back.error().message;
        EXPECT_EQ(codec::command_type(*back), type);
        EXPECT_EQ(json::serialize(codec::command_data(*back)), text) << type;
    }
}

TEST(CommandCodec, AbsentOptionalsStayAbsent) {
    auto r = parse("AcceptOrder", R"({"order_id":"O-1"})");
    ASSERT_TRUE(r.has_value()) << r.error().message;
    EXPECT_EQ(json::serialize(codec::command_data(*r)), R"({"order_id":"O-1"})");
    EXPECT_TRUE(parse("AcceptOrder", R"({"order_id":"O-1","planned_production_date":null})").has_value());
}

TEST(CommandCodec, StrictParsingNamesTheField) {
    expect_bad("ShipOrder", R"({"order_id":"O-1"})", "carrier: is required");
    expect_bad("RecordProductionProgress", R"({"order_id":"O-1","completed_units":"3"})", "completed_units: expected an integer");
    expect_bad("RecordProductionProgress", R"({"order_id":"O-1","completed_units":2.5})", "completed_units");
    expect_bad("CancelOrder", R"({"order_id":"O-1","reason":"x","colour":"red"})", "unknown field colour");
    expect_bad("PlaceOrder",
               R"({"order_id":"O-1","dealer_id":"D-1","currency":"EUR","lines":[{"sku":"A","description":"","quantity":1,"unit_price":1},{"sku":"B","description":"","quantity":"two","unit_price":1}]})",
               "lines[1].quantity");
    expect_bad("PlaceOrder", R"({"order_id":"O-1","dealer_id":"D-1","currency":"EUR","lines":{}})", "lines: expected an array");
    expect_bad("PlaceOrder",
               R"({"order_id":"O-1","dealer_id":"D-1","currency":"EUR","lines":[{"sku":"A","description":"","quantity":1,"unit_price":1,"x":1}]})",
               "lines[0]: unknown field x");
    expect_bad("StartProduction", R"(["O-1"])", "expected an object");
    expect_bad("ConfirmDelivery", R"({"order_id":7})", "order_id: expected a string");
    auto unknown = parse("LaunchRocket", R"({})");
    ASSERT_FALSE(unknown);
    EXPECT_EQ(unknown.error().code, "unknown_command");  // a kind of its own, not a message to match
    EXPECT_EQ(unknown.error().message, "unknown command type LaunchRocket");
}

TEST(Codec, ReservationEventsAreEncodedFromTheCodecsTableWithTheirSchemaVersion) {
    const auto extref = codec::encode(reservation_event{external_ref_reserved{"O-1", "D-1", "PO-7"}});
    EXPECT_EQ(extref.type, "ExternalRefReserved");
    EXPECT_EQ(extref.schema_version, 1u);
    // Byte for byte what the handler wrote before these were codec events.
    EXPECT_EQ(extref.data, R"({"order_id":"O-1","dealer_id":"D-1","external_ref":"PO-7"})");
    const auto payref = codec::encode(reservation_event{payment_ref_reserved{"P-1", "D-1", "BANK-77"}});
    EXPECT_EQ(payref.type, "PaymentRefReserved");
    EXPECT_EQ(payref.data, R"({"payment_id":"P-1","dealer_id":"D-1","external_ref":"BANK-77"})");
    EXPECT_EQ(codec::current_schema_version("ExternalRefReserved"), 1u);
    EXPECT_EQ(codec::current_schema_version("PaymentRefReserved"), 1u);
    EXPECT_EQ(codec::current_schema_version("OrderPlaced"), 1u);
    EXPECT_EQ(codec::current_schema_version("NoSuchEvent"), 0u);
}

template <class Aggregate, class Event>
void expect_round_trip(const Event& e) {
    const auto stored = codec::encode(typename Aggregate::event{e});
    auto back = codec::decode<Aggregate>(stored.type, stored.schema_version, stored.data);
    ASSERT_TRUE(back.has_value()) << stored.type << ": " << back.error().message;
    EXPECT_TRUE(std::holds_alternative<Event>(*back)) << stored.type;
    if (std::holds_alternative<Event>(*back)) {
        EXPECT_EQ(std::get<Event>(*back), e) << stored.type;
    }
}

TEST(EventCodec, EveryEventRoundTripsUnderItsStoredName) {
    expect_round_trip<dealer_aggregate>(dealer_registered{"D-1", "Okna", "EUR", 30, 500});
    expect_round_trip<dealer_aggregate>(dealer_terms_updated{"D-1", std::nullopt, 7});
    expect_round_trip<dealer_aggregate>(opening_balance_set{"D-1", -5, "EUR"});
    expect_round_trip<order_aggregate>(order_placed{"O-1", "D-1", "EUR", {{"W", "d", 2, 3}}, std::nullopt, "X-1", 6, 2});
    expect_round_trip<order_aggregate>(order_accepted{"O-1", "2026-12-01"});
    expect_round_trip<order_aggregate>(order_rejected{"O-1", "no"});
    expect_round_trip<order_aggregate>(production_started{"O-1"});
    expect_round_trip<order_aggregate>(production_progressed{"O-1", 1, 2});
    expect_round_trip<order_aggregate>(production_completed{"O-1"});
    expect_round_trip<order_aggregate>(order_shipped{"O-1", "c", "r", "v", "d", "p", "2026-12-05"});
    expect_round_trip<order_aggregate>(order_delivered{"O-1", std::nullopt});
    expect_round_trip<order_aggregate>(order_cancelled{"O-1", "x", true});
    expect_round_trip<claim_aggregate>(claim_filed{"CL-1", "O-1", "D-1", "defect", "d"});
    expect_round_trip<claim_aggregate>(claim_assigned{"CL-1", "cm"});
    expect_round_trip<claim_aggregate>(claim_commented{"CL-1", "t", "dealer:D-1"});
    expect_round_trip<claim_aggregate>(claim_resolved{"CL-1", "refund", 5, "n", "2026-11-23T10:15:00Z"});
    expect_round_trip<claim_aggregate>(claim_reopened{"CL-1", "r"});
    expect_round_trip<claim_aggregate>(claim_closed{"CL-1"});
    expect_round_trip<order_aggregate>(order_stock_shortage_flagged{"O-1", "WIN-1", 8, 6});
    expect_round_trip<stock_aggregate>(stock_received{"WH-1", "WIN-1", 10, "batch 7"});
    expect_round_trip<stock_aggregate>(stock_reserved{"WH-1", "WIN-1", "O-1", 2});
    expect_round_trip<stock_aggregate>(stock_released{"WH-1", "WIN-1", "O-1", 2});
    expect_round_trip<stock_aggregate>(stock_issued{"WH-1", "WIN-1", "O-1", 2});
    expect_round_trip<stock_aggregate>(stock_written_off{"WH-1", "WIN-1", 1, "broken"});
    expect_round_trip<stock_aggregate>(stock_counted{"WH-1", "WIN-1", 7, -1});
    expect_round_trip<invoice_aggregate>(invoice_issued{"INV-1", "D-1", "EUR", "order", "O-1", {{"Window", 2, 100}}, 200, "2026-11-17", "2026-12-17"});
    expect_round_trip<invoice_aggregate>(invoice_payment_applied{"INV-1", "P-1", 200});
    expect_round_trip<invoice_aggregate>(invoice_payment_reversed{"INV-1", "P-1", 200});
    expect_round_trip<invoice_aggregate>(invoice_voided{"INV-1", "wrong"});
    expect_round_trip<invoice_aggregate>(invoice_overdue{"INV-1", "2026-12-17", 200});
    expect_round_trip<payment_aggregate>(payment_recorded{"P-1", "D-1", "EUR", 500, "bank", "2026-11-16", "B-1"});
    expect_round_trip<payment_aggregate>(payment_allocated{"P-1", "INV-1", 200});
    expect_round_trip<payment_aggregate>(payment_reversed{"P-1", "returned", {{"INV-1", 200}}});
    expect_round_trip<credit_note_aggregate>(credit_note_issued{"CN-1", "D-1", "EUR", 300, "compensation", std::nullopt});
    expect_round_trip<subscription_aggregate>(subscription_started{"S-1", "D-1", "EUR", "PBX", 3000, "monthly", "2026-11-01"});
    expect_round_trip<subscription_aggregate>(subscription_plan_changed{"S-1", "PBX 20", 6000, "2026-11-16"});
    expect_round_trip<subscription_aggregate>(subscription_paused{"S-1", "2026-11-20"});
    expect_round_trip<subscription_aggregate>(subscription_resumed{"S-1", "2026-11-21"});
    expect_round_trip<subscription_aggregate>(subscription_cancelled{"S-1", "2027-01-01"});
    expect_round_trip<subscription_aggregate>(subscription_period_billed{"S-1", "D-1", "EUR", "2026-12-01", "2027-01-01", 7500, {{"a", 6000}, {"b", 1500}}});
    expect_round_trip<subscription_aggregate>(subscription_period_skipped{"S-1", "2026-12-01", "2027-01-01", "paused"});
}

TEST(StateCodec, FinanceSnapshotsRoundTrip) {
    invoice_state i{invoice_status::open, "D-1", "EUR", "2026-12-17", 500, 200, true};
    EXPECT_EQ(*codec::decode_state<invoice_aggregate>(codec::encode_state<invoice_aggregate>(i)), i);
    payment_state p{true, false, "D-1", "EUR", 500, 200, {{"INV-1", 200}}};
    EXPECT_EQ(*codec::decode_state<payment_aggregate>(codec::encode_state<payment_aggregate>(p)), p);
    subscription_state s{subscription_status::paused, "D-1", "EUR", "monthly", "2026-11-01", "", "2026-12-01", "2026-11-01", "2026-12-01",
                         3000, {{"2026-11-01", "PBX", 3000}, {"2026-11-16", "PBX 20", 6000}}};
    EXPECT_EQ(*codec::decode_state<subscription_aggregate>(codec::encode_state<subscription_aggregate>(s)), s);
}

TEST(StateCodec, AStockSnapshotRoundTripsWithItsReservations) {
    stock_state s{true, 10, 3, {{"O-1", 2}, {"O-2", 1}}};
    auto back = codec::decode_state<stock_aggregate>(codec::encode_state<stock_aggregate>(s));
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(*back, s);
}

TEST(EventCodec, StoredNamesAreStable) {
    EXPECT_EQ(codec::encode(order_event{order_shipped{}}).type, "OrderShipped");
    EXPECT_EQ(codec::encode(claim_event{claim_filed{}}).type, "ClaimFiled");
    EXPECT_EQ(codec::encode(order_event{order_cancelled{}}).schema_version, 2u);
}

TEST(EventCodec, AVersionOneOrderCancelledIsUpcast) {
    auto e = codec::decode<order_aggregate>("OrderCancelled", 1, R"({"order_id":"O-1","reason":"late"})");
    ASSERT_TRUE(e.has_value()) << e.error().message;
    EXPECT_EQ(std::get<order_cancelled>(*e), (order_cancelled{"O-1", "late", false}));
}

TEST(EventCodec, AnEarlyOrderPlacedWithoutTotalsGetsThemFromItsLines) {
    // The first logs were written before OrderPlaced carried total and total_units.
    auto e = codec::decode<order_aggregate>(
        "OrderPlaced", 1,
        R"({"order_id":"O-1","dealer_id":"D-1","currency":"EUR","lines":[{"sku":"W","description":"","quantity":4,"unit_price":18900},)"
        R"({"sku":"D","description":"","quantity":1,"unit_price":52000}]})");
    ASSERT_TRUE(e.has_value()) << e.error().message;
    EXPECT_EQ(std::get<order_placed>(*e).total, 4 * 18900 + 52000);
    EXPECT_EQ(std::get<order_placed>(*e).total_units, 5);
    auto stored = codec::decode<order_aggregate>(
        "OrderPlaced", 1, R"({"order_id":"O-1","dealer_id":"D-1","currency":"EUR","lines":[],"total":7,"total_units":1})");
    ASSERT_TRUE(stored.has_value());
    EXPECT_EQ(std::get<order_placed>(*stored).total, 7) << "stored values win";
}

TEST(EventCodec, ReadingIsTolerantOfNewFieldsButNotOfMissingOnes) {
    auto extra = codec::decode<order_aggregate>("ProductionStarted", 1, R"({"order_id":"O-1","shift":"night"})");
    ASSERT_TRUE(extra.has_value()) << extra.error().message;
    auto missing = codec::decode<order_aggregate>("ProductionProgressed", 1, R"({"order_id":"O-1"})");
    ASSERT_FALSE(missing.has_value());
    EXPECT_NE(missing.error().message.find("completed_units"), std::string::npos) << missing.error().message;
}

TEST(EventCodec, UnknownOrFutureEventsAreReportedNotGuessed) {
    EXPECT_FALSE(codec::decode<order_aggregate>("OrderTeleported", 1, "{}").has_value());
    EXPECT_FALSE(codec::decode<order_aggregate>("OrderShipped", 9, "{}").has_value());
    EXPECT_FALSE(codec::decode<order_aggregate>("ClaimFiled", 1, "{}").has_value()) << "another aggregate's event";
}

}  // namespace
}  // namespace dealerline::testing
