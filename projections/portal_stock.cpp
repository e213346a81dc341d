// The portal_stock projection: how each event moves the rows of portal.stock_levels. One projection
// per file; what they share is in projections/detail/ (docs/projections.md).
#include <boost/json/object.hpp>

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "projections/detail/decode.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;

struct stock_row {
    std::string stock_id, warehouse, sku;
    std::int64_t on_hand = 0, reserved = 0, available = 0;
    std::optional<timestamp> last_counted_at;
    timestamp updated_at;
    std::int64_t last_position = 0;
};
BOOST_DESCRIBE_STRUCT(stock_row, (), (stock_id, warehouse, sku, on_hand, reserved, available, last_counted_at, updated_at, last_position))

class stock_projector final : public projector {
public:
    std::string_view name() const override { return "portal_stock"; }
    std::string_view schema() const override { return "portal"; }
    std::vector<table> tables() const override { return {{"stock_levels", true}}; }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state*) const override {
        sql::row_set<stock_row> set(schema + ".stock_levels", 0);
        auto& rows = set.rows;
        const auto mine = events_of<stock_aggregate>(events);
        if (mine.empty()) return;
        auto key = [](const stock_event& ev) {
            return std::visit([](const auto& x) { return x.warehouse + ":" + x.sku; }, ev);
        };
        for (const auto& [e, ev] : mine) rows.want(key(ev));
        rows.load(tx);
        for (const auto& [e, ev] : mine) {
            const timestamp at{e->recorded_at_us};
            const auto k = key(ev);
            stock_row* row = rows.find(k);
            if (!row) {
                const auto colon = k.find(':');
                row = &rows.create(stock_row{k, k.substr(0, colon), k.substr(colon + 1), 0, 0, 0, std::nullopt, at, 0});
            }
            std::visit(overloaded{
                           [&](const stock_received& x) { row->on_hand += x.quantity; },
                           [&](const stock_reserved& x) { row->reserved += x.quantity; },
                           [&](const stock_released& x) { row->reserved -= x.quantity; },
                           [&](const stock_issued& x) {
                               row->reserved -= x.quantity;
                               row->on_hand -= x.quantity;
                           },
                           [&](const stock_written_off& x) { row->on_hand -= x.quantity; },
                           [&](const stock_counted& x) {
                               row->on_hand = x.counted;
                               row->last_counted_at = at;
                           },
                       },
                       ev);
            row->available = row->on_hand - row->reserved;
            row->updated_at = at;
            row->last_position = i64(e->position);
        }
        set.batch_done(tx);
    }
};

}  // namespace

std::unique_ptr<projector> make_portal_stock() { return std::make_unique<stock_projector>(); }

}  // namespace dealerline::projections
