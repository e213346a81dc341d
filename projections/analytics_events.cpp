// The analytics_events projection: how each event moves the rows of analytics.events. One projection
// per file; what they share is in projections/detail/ (docs/projections.md).
#include <map>
#include <ranges>
#include <tuple>

#include "domain/stream_name.hpp"
#include "projections/detail/decode.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;
using opt_time = std::optional<timestamp>;

struct event_row {
    std::int64_t position = 0;
    std::string stream, category;
    std::int64_t stream_version = 0;
    std::string type;
    std::int64_t schema_version = 0;
    std::string actor, actor_role, command_id, correlation_id;
    timestamp recorded_at;
    sql::json data;
    std::optional<std::string> metadata;
};
BOOST_DESCRIBE_STRUCT(event_row, (), (position, stream, category, stream_version, type, schema_version, actor, actor_role,
                                      command_id, correlation_id, recorded_at, data, metadata))

class events_projector final : public projector {
public:
    std::string_view name() const override { return "analytics_events"; }
    std::string_view schema() const override { return "analytics"; }
    std::vector<table> tables() const override { return {{"events", false}}; }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state*) const override {
        std::vector<event_row> rows(events.size());
        for (std::size_t i = 0; i < events.size(); ++i) {
            const auto& e = events[i];
            auto& row = rows[i];
            row.position = i64(e.position);
            row.stream = e.stream;
            row.category = category_of(e.stream);
            row.stream_version = i64(e.version);
            row.type = e.type;
            row.schema_version = e.schema_version;
            row.actor = e.actor;
            row.actor_role = e.actor.substr(0, e.actor.find(':'));
            row.command_id = e.command_id;
            row.correlation_id = e.correlation_id;
            row.recorded_at = timestamp{e.recorded_at_us};
            row.data.text = e.data;
            row.metadata = e.metadata.empty() ? std::nullopt : std::optional<std::string>(e.metadata);
        }
        sql::copy_rows<event_row>(tx, schema + ".events", rows);
    }
};

}  // namespace

std::unique_ptr<projector> make_analytics_events() { return std::make_unique<events_projector>(); }

}  // namespace dealerline::projections
