#include "domain/stock.hpp"

#include <gtest/gtest.h>

#include "tests/domain/scenario.hpp"

namespace dealerline::testing {
namespace {

using namespace domain;
using stock = scenario<stock_aggregate>;

const auto keeper = staff(role::storekeeper, "sk-1");
const auto pm = staff(role::system, "fulfilment");
const stock_received ten{"WH-1", "WIN-1", 10, "batch 7"};
const stock_reserved o1_holds_4{"WH-1", "WIN-1", "O-1", 4};

TEST(StockDecider, AStorekeeperReceivesStock) {
    stock().as(keeper).when(receive_stock{"WH-1", "WIN-1", 10, "batch 7"}).then({ten});
}
TEST(StockDecider, ReceivingNeedsAPositiveQuantityAndAReference) {
    stock().as(keeper).when(receive_stock{"WH-1", "WIN-1", 0, "batch 7"}).then_rejected(codes::validation_failed);
    stock().as(keeper).when(receive_stock{"WH-1", "WIN-1", -3, "batch 7"}).then_rejected(codes::validation_failed);
    stock().as(keeper).when(receive_stock{"WH-1", "WIN-1", 3, ""}).then_rejected(codes::validation_failed);
    stock().as(keeper).when(receive_stock{"WH:1", "WIN-1", 3, "x"}).then_rejected(codes::validation_failed);
}
TEST(StockDecider, AReservationTakesFromAvailable) {
    stock({ten}).as(pm).when(reserve_stock{"WH-1", "WIN-1", "O-1", 4}).then({o1_holds_4});
    const auto s = stock({ten, o1_holds_4}).state();
    EXPECT_EQ(s.on_hand, 10);
    EXPECT_EQ(s.reserved, 4);
    EXPECT_EQ(s.available(), 6);
}
TEST(StockDecider, ReservingMoreThanIsAvailableIsInsufficientStock) {
    stock({ten, o1_holds_4}).as(pm).when(reserve_stock{"WH-1", "WIN-1", "O-2", 7}).then_rejected(codes::insufficient_stock);
    stock({ten, o1_holds_4}).as(pm).when(reserve_stock{"WH-1", "WIN-1", "O-2", 6}).then({stock_reserved{"WH-1", "WIN-1", "O-2", 6}});
    stock().as(pm).when(reserve_stock{"WH-1", "WIN-1", "O-2", 1}).then_rejected(codes::insufficient_stock);
}
TEST(StockDecider, ReservingTheSameAgainChangesNothingAndADifferentAmountIsRefused) {
    stock({ten, o1_holds_4}).as(pm).when(reserve_stock{"WH-1", "WIN-1", "O-1", 4}).then_nothing();
    stock({ten, o1_holds_4}).as(pm).when(reserve_stock{"WH-1", "WIN-1", "O-1", 5}).then_rejected(codes::invalid_transition);
}
TEST(StockDecider, ReleasingGivesTheReservationBackAndTwiceIsNothing) {
    stock({ten, o1_holds_4}).as(pm).when(release_stock{"WH-1", "WIN-1", "O-1"}).then({stock_released{"WH-1", "WIN-1", "O-1", 4}});
    const stock_released released{"WH-1", "WIN-1", "O-1", 4};
    EXPECT_EQ(stock({ten, o1_holds_4, released}).state().available(), 10);
    stock({ten, o1_holds_4, released}).as(pm).when(release_stock{"WH-1", "WIN-1", "O-1"}).then_nothing();
}
TEST(StockDecider, IssuingTakesTheReservationOutOfTheWarehouse) {
    stock({ten, o1_holds_4}).as(pm).when(issue_stock{"WH-1", "WIN-1", "O-1"}).then({stock_issued{"WH-1", "WIN-1", "O-1", 4}});
    const auto s = stock({ten, o1_holds_4, stock_issued{"WH-1", "WIN-1", "O-1", 4}}).state();
    EXPECT_EQ(s.on_hand, 6);
    EXPECT_EQ(s.reserved, 0);
    EXPECT_TRUE(s.reservations.empty());
    stock({ten}).as(pm).when(issue_stock{"WH-1", "WIN-1", "O-1"}).then_rejected(codes::invalid_transition);
}
TEST(StockDecider, WritingOffNeverGoesBelowZeroNorTouchesReservations) {
    stock({ten, o1_holds_4}).as(keeper).when(write_off_stock{"WH-1", "WIN-1", 6, "water damage"}).then({stock_written_off{"WH-1", "WIN-1", 6, "water damage"}});
    stock({ten, o1_holds_4}).as(keeper).when(write_off_stock{"WH-1", "WIN-1", 7, "water damage"}).then_rejected(codes::insufficient_stock);
    stock({ten}).as(keeper).when(write_off_stock{"WH-1", "WIN-1", 1, ""}).then_rejected(codes::validation_failed);
}
TEST(StockDecider, ACountRecordsTheDifference) {
    stock({ten}).as(keeper).when(count_stock{"WH-1", "WIN-1", 8}).then({stock_counted{"WH-1", "WIN-1", 8, -2}});
    stock({ten}).as(keeper).when(count_stock{"WH-1", "WIN-1", 12}).then({stock_counted{"WH-1", "WIN-1", 12, 2}});
    EXPECT_EQ(stock({ten, stock_counted{"WH-1", "WIN-1", 8, -2}}).state().on_hand, 8);
    stock({ten}).as(keeper).when(count_stock{"WH-1", "WIN-1", -1}).then_rejected(codes::validation_failed);
}
TEST(StockDecider, ACountBelowTheReservationsWinsAndFurtherReservationsWait) {
    const stock_counted two{"WH-1", "WIN-1", 2, -8};
    EXPECT_EQ(stock({ten, o1_holds_4, two}).state().available(), -2);
    stock({ten, o1_holds_4, two}).as(pm).when(reserve_stock{"WH-1", "WIN-1", "O-2", 1}).then_rejected(codes::insufficient_stock);
    stock({ten, o1_holds_4, two}).as(pm).when(issue_stock{"WH-1", "WIN-1", "O-1"}).then_rejected(codes::insufficient_stock);
}
TEST(StockDecider, DealersAndOtherStaffDoNotMoveStock) {
    stock({ten}).as(dealer("D-1")).when(reserve_stock{"WH-1", "WIN-1", "O-1", 1}).then_rejected(codes::forbidden);
    stock({ten}).as(staff(role::engineer)).when(write_off_stock{"WH-1", "WIN-1", 1, "x"}).then_rejected(codes::forbidden);
    stock({ten}).as(staff(role::auditor)).when(count_stock{"WH-1", "WIN-1", 1}).then_rejected(codes::forbidden);
}
TEST(StockDecider, TheStreamIsWarehouseColonSku) {
    EXPECT_EQ(stock_aggregate::stream_id(reserve_stock{"WH-1", "WIN-1", "O-1", 1}), "WH-1:WIN-1");
}

}  // namespace
}  // namespace dealerline::testing
