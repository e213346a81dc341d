// The analytics_stock projection: how each event moves the rows of analytics.stock_movements. One
// projection per file; what they share is in projections/detail/ (docs/projections.md).
// Folded from the log in position order like every projection, so a rebuild gives the same rows
// as the live tables.
#include <map>
#include <ranges>
#include <set>
#include <tuple>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "domain/time.hpp"
#include "projections/detail/decode.hpp"
#include "projections/detail/months.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;

struct stock_movement_row {
    sql::date day;
    std::string warehouse, sku, actor;
    std::int64_t received = 0, reserved = 0, released = 0, issued = 0, written_off = 0, count_difference = 0, movements = 0;
};
BOOST_DESCRIBE_STRUCT(stock_movement_row, (), (day, warehouse, sku, actor, received, reserved, released, issued, written_off,
                                               count_difference, movements))

class stock_analytics_projector final : public projector {
public:
    std::string_view name() const override { return "analytics_stock"; }
    std::string_view schema() const override { return "analytics"; }
    std::vector<table> tables() const override { return {{"stock_movements", true}}; }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state*) const override {
        const auto mine = events_of<stock_aggregate>(events);
        if (mine.empty()) return;
        std::map<std::tuple<std::string, std::string, std::string, std::string>, stock_movement_row> movements;
        for (const auto& [e, ev] : mine) {
            const auto day = sql::day_of(e->recorded_at_us);
            const auto& [warehouse, sku] =
                std::visit([](const auto& x) { return std::pair<const std::string&, const std::string&>{x.warehouse, x.sku}; }, ev);
            auto& m = movements[{day.text, warehouse, sku, e->actor}];
            if (m.actor.empty()) {
                m.day = day;
                m.warehouse = warehouse;
                m.sku = sku;
                m.actor = e->actor;
            }
            ++m.movements;
            std::visit(overloaded{
                           [&](const stock_received& x) { m.received += x.quantity; },
                           [&](const stock_reserved& x) { m.reserved += x.quantity; },
                           [&](const stock_released& x) { m.released += x.quantity; },
                           [&](const stock_issued& x) { m.issued += x.quantity; },
                           [&](const stock_written_off& x) { m.written_off += x.quantity; },
                           [&](const stock_counted& x) { m.count_difference += x.difference; },
                       },
                       ev);
        }
        sql::add_to_counters<stock_movement_row>(tx, schema + ".stock_movements", std::views::values(movements), 4);  // (day, warehouse, sku, actor)
    }
};

}  // namespace

std::unique_ptr<projector> make_analytics_stock() { return std::make_unique<stock_analytics_projector>(); }

}  // namespace dealerline::projections
