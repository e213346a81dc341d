#include "domain/order.hpp"

#include <gtest/gtest.h>

#include "tests/domain/scenario.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;
using order = scenario<order_aggregate>;

const domain::dealer_facts eur_dealer{true, "EUR"};

place_order a_place() {
    return place_order{"O-1", "D-1", "EUR", {{"WIN-1", "Window", 4, 18900}, {"DOOR-2", "Door", 1, 52000}}, "Main St 1", "CAD-77"};
}
order_placed placed() {
    return order_placed{"O-1", "D-1", "EUR", {{"WIN-1", "Window", 4, 18900}, {"DOOR-2", "Door", 1, 52000}}, "Main St 1", "CAD-77",
                        4 * 18900 + 52000, 5};
}
const order_accepted accepted{"O-1", std::nullopt};
const production_started started{"O-1"};
const production_completed produced{"O-1"};
const order_shipped shipped{"O-1", "Own fleet", "R-12", "TRK-7", "Jan", "+48 600", "2026-12-05"};
const ship_order ship{"O-1", "Own fleet", "R-12", "TRK-7", "Jan", "+48 600", "2026-12-05"};

// PlaceOrder
TEST(OrderDecider, ADealerPlacesItsOwnOrder) {
    order().as(dealer("D-1")).knowing(eur_dealer).when(a_place()).then({placed()});
}
TEST(OrderDecider, StaffPlaceAnOrderForADealer) {
    order().as(staff(role::engineer)).knowing(eur_dealer).when(a_place()).then({placed()});
}
TEST(OrderDecider, ADealerCannotPlaceAnOrderForAnotherDealer) {
    order().as(dealer("D-2")).knowing(eur_dealer).when(a_place()).then_rejected(codes::forbidden);
}
TEST(OrderDecider, AnAuditorIssuesNoCommands) {
    order().as(staff(role::auditor)).knowing(eur_dealer).when(a_place()).then_rejected(codes::forbidden);
}
TEST(OrderDecider, PlacingTwiceIsRejected) {
    order({placed()}).knowing(eur_dealer).when(a_place()).then_rejected(codes::already_exists);
}
TEST(OrderDecider, AnOrderNeedsLines) {
    auto c = a_place();
    c.lines.clear();
    order().knowing(eur_dealer).when(c).then_rejected(codes::validation_failed);
}
TEST(OrderDecider, QuantitiesArePositiveAndPricesNotNegative) {
    auto zero = a_place();
    zero.lines[1].quantity = 0;
    auto negative = a_place();
    negative.lines[0].unit_price = -1;
    order().knowing(eur_dealer).when(zero).then_rejected(codes::validation_failed);
    order().knowing(eur_dealer).when(negative).then_rejected(codes::validation_failed);
    auto message = order().knowing(eur_dealer).when(zero).result().error().message;
    EXPECT_NE(message.find("lines[1].quantity"), std::string::npos) << message;
}
TEST(OrderDecider, TextWithControlCharactersIsRejected) {
    // A NUL could not even be stored in the read models; other control characters are noise.
    auto nul = a_place();
    nul.lines[0].description = std::string("Win\0dow", 7);
    auto bell = a_place();
    bell.delivery_address = "Main St 1\a";
    auto lines_ok = a_place();
    lines_ok.delivery_address = "Main St 1\nFloor 2\tGate B";
    order().knowing(eur_dealer).when(nul).then_rejected(codes::validation_failed);
    order().knowing(eur_dealer).when(bell).then_rejected(codes::validation_failed);
    auto message = order().knowing(eur_dealer).when(nul).result().error().message;
    EXPECT_NE(message.find("lines[0].description"), std::string::npos) << message;
    EXPECT_TRUE(order().knowing(eur_dealer).when(lines_ok).result().has_value());
}
TEST(OrderDecider, AFreeLineIsFine) {
    auto c = a_place();
    c.lines[1].unit_price = 0;
    auto e = placed();
    e.lines[1].unit_price = 0;
    e.total = 4 * 18900;
    order().knowing(eur_dealer).when(c).then({e});
}
TEST(OrderDecider, TheCurrencyMustBeTheDealers) {
    auto c = a_place();
    c.currency = "PLN";
    order().knowing(eur_dealer).when(c).then_rejected(codes::currency_mismatch);
    c.currency = "euro";
    order().knowing(eur_dealer).when(c).then_rejected(codes::validation_failed);
}
TEST(OrderDecider, TheDealerMustBeRegistered) {
    order().knowing(domain::dealer_facts{false, ""}).when(a_place()).then_rejected(codes::dealer_not_registered);
    order().when(a_place()).then_rejected(codes::dealer_not_registered);
}

// The happy path, step by step, with the role that may take it and one that may not.
TEST(OrderDecider, AnEngineerAcceptsAPlacedOrder) {
    order({placed()}).as(staff(role::engineer)).when(accept_order{"O-1", "2026-12-01"}).then({order_accepted{"O-1", "2026-12-01"}});
    order({placed()}).as(staff(role::logistics)).when(accept_order{"O-1", {}}).then_rejected(codes::forbidden);
    order({placed()}).as(dealer("D-1")).when(accept_order{"O-1", {}}).then_rejected(codes::forbidden);
    order({placed()}).when(accept_order{"O-1", "2026-02-30"}).then_rejected(codes::validation_failed);
}
TEST(OrderDecider, AnEngineerRejectsAPlacedOrderWithAReason) {
    order({placed()}).as(staff(role::engineer)).when(reject_order{"O-1", "size out of range"}).then({order_rejected{"O-1", "size out of range"}});
    order({placed()}).as(staff(role::engineer)).when(reject_order{"O-1", ""}).then_rejected(codes::validation_failed);
    order({placed(), accepted}).as(staff(role::engineer)).when(reject_order{"O-1", "late"}).then_rejected(codes::invalid_transition);
}
TEST(OrderDecider, ProductionStartsAnAcceptedOrder) {
    order({placed(), accepted}).as(staff(role::production)).when(start_production{"O-1"}).then({started});
    order({placed()}).as(staff(role::production)).when(start_production{"O-1"}).then_rejected(codes::invalid_transition);
    order({placed(), accepted}).as(staff(role::engineer)).when(start_production{"O-1"}).then_rejected(codes::forbidden);
}
TEST(OrderDecider, ProgressIsMonotonicAndAtMostTheOrderedUnits) {
    const std::vector<order_event> running{placed(), accepted, started};
    order(running).as(staff(role::production)).when(record_production_progress{"O-1", 2}).then({production_progressed{"O-1", 2, 5}});
    order({placed(), accepted, started, production_progressed{"O-1", 3, 5}})
        .as(staff(role::production))
        .when(record_production_progress{"O-1", 2})
        .then_rejected(codes::validation_failed);
    order(running).as(staff(role::production)).when(record_production_progress{"O-1", 6}).then_rejected(codes::validation_failed);
    order({placed(), accepted, started, production_progressed{"O-1", 3, 5}})
        .as(staff(role::production))
        .when(record_production_progress{"O-1", 3})
        .then_nothing();
    order({placed(), accepted}).as(staff(role::production)).when(record_production_progress{"O-1", 1}).then_rejected(codes::invalid_transition);
}
TEST(OrderDecider, ProductionCompletesARunningOrder) {
    order({placed(), accepted, started}).as(staff(role::production)).when(complete_production{"O-1"}).then({produced});
    order({placed(), accepted}).as(staff(role::production)).when(complete_production{"O-1"}).then_rejected(codes::invalid_transition);
}
TEST(OrderDecider, LogisticsShipAProducedOrder) {
    order({placed(), accepted, started, produced}).as(staff(role::logistics)).when(ship).then({shipped});
    order({placed(), accepted, started}).as(staff(role::logistics)).when(ship).then_rejected(codes::invalid_transition);
    order({placed(), accepted, started, produced}).as(staff(role::production)).when(ship).then_rejected(codes::forbidden);
    auto no_driver = ship;
    no_driver.driver_name.clear();
    order({placed(), accepted, started, produced}).as(staff(role::logistics)).when(no_driver).then_rejected(codes::validation_failed);
}
TEST(OrderDecider, TheDealerOrLogisticsConfirmDelivery) {
    const std::vector<order_event> on_the_road{placed(), accepted, started, produced, shipped};
    order(on_the_road).as(dealer("D-1")).when(confirm_delivery{"O-1", "Anna"}).then({order_delivered{"O-1", "Anna"}});
    order(on_the_road).as(staff(role::logistics)).when(confirm_delivery{"O-1", {}}).then({order_delivered{"O-1", {}}});
    order(on_the_road).as(dealer("D-2")).when(confirm_delivery{"O-1", {}}).then_rejected(codes::forbidden);
    order({placed(), accepted, started, produced}).as(dealer("D-1")).when(confirm_delivery{"O-1", {}}).then_rejected(codes::invalid_transition);
}

// Cancelling
TEST(OrderDecider, ADealerCancelsBeforeProductionStarts) {
    order({placed()}).as(dealer("D-1")).when(cancel_order{"O-1", "changed my mind"}).then({order_cancelled{"O-1", "changed my mind", true}});
    order({placed(), accepted}).as(dealer("D-1")).when(cancel_order{"O-1", "x"}).then({order_cancelled{"O-1", "x", true}});
    order({placed(), accepted, started}).as(dealer("D-1")).when(cancel_order{"O-1", "x"}).then_rejected(codes::invalid_transition);
}
TEST(OrderDecider, StaffCancelBeforeShipment) {
    order({placed(), accepted, started}).as(staff(role::engineer)).when(cancel_order{"O-1", "x"}).then({order_cancelled{"O-1", "x", false}});
    order({placed(), accepted, started, produced}).as(staff(role::logistics)).when(cancel_order{"O-1", "x"}).then({order_cancelled{"O-1", "x", false}});
    order({placed(), accepted, started, produced, shipped}).as(staff(role::admin)).when(cancel_order{"O-1", "x"}).then_rejected(codes::invalid_transition);
    order({placed()}).as(staff(role::accountant)).when(cancel_order{"O-1", "x"}).then_rejected(codes::forbidden);
}
TEST(OrderDecider, NothingMovesAfterTheEnd) {
    const std::vector<std::vector<order_event>> ends{{placed(), order_rejected{"O-1", "r"}},
                                                     {placed(), order_cancelled{"O-1", "r", true}},
                                                     {placed(), accepted, started, produced, shipped, order_delivered{"O-1", {}}}};
    for (const auto& history : ends) {
        order(history).when(accept_order{"O-1", {}}).then_rejected(codes::invalid_transition);
        order(history).when(start_production{"O-1"}).then_rejected(codes::invalid_transition);
        order(history).when(ship).then_rejected(codes::invalid_transition);
        order(history).when(cancel_order{"O-1", "x"}).then_rejected(codes::invalid_transition);
    }
}

// Isolation and existence
TEST(OrderDecider, ADealerCannotTouchAnotherDealersOrder) {
    const std::vector<order_event> on_the_road{placed(), accepted, started, produced, shipped};
    order({placed()}).as(dealer("D-2")).when(cancel_order{"O-1", "mine now"}).then_rejected(codes::forbidden);
    order(on_the_road).as(dealer("D-2")).when(confirm_delivery{"O-1", {}}).then_rejected(codes::forbidden);
}
TEST(OrderDecider, CommandsOnAMissingOrderAreNotFound) {
    order().when(accept_order{"O-9", {}}).then_rejected(codes::not_found);
    order().as(dealer("D-1")).when(cancel_order{"O-9", "x"}).then_rejected(codes::not_found);
}

TEST(OrderEvolve, FoldsTheLifeOfAnOrder) {
    const auto s = order({placed(), accepted, started, production_progressed{"O-1", 2, 5}}).state();
    EXPECT_EQ(s.status, order_status::in_production);
    EXPECT_EQ(s.dealer_id, "D-1");
    EXPECT_EQ(s.total_units, 5);
    EXPECT_EQ(s.completed_units, 2);
    EXPECT_EQ(order({placed(), accepted, started, produced}).state().completed_units, 5);
}

}  // namespace
}  // namespace dealerline::testing
