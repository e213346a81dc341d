// One read model: the tables it owns and how a batch of events changes them.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "storage/event_log.hpp"

namespace dealerline::projections {

// A table a projection owns. `upserted`: rows are updated in place (ON CONFLICT on the primary
// key), so a rebuild needs the key while it fills the table; other tables only gain rows and
// get every index after the bulk load.
struct table {
    std::string_view name;
    bool upserted = false;
};

class projector {
public:
    virtual ~projector() = default;
    [[nodiscard]] virtual std::string_view name() const = 0;
    [[nodiscard]] virtual std::string_view schema() const = 0;  // "portal" | "analytics"
    [[nodiscard]] virtual std::vector<table> tables() const = 0;
    // What a projection keeps between batches of one rebuild: rows it has not written yet.
    struct state {
        virtual ~state() = default;
        // Writes everything held back (at the end of a rebuild's bulk load, and before its swap).
        virtual void flush(pqxx::transaction_base&) = 0;
    };
    // A rebuild's state for `schema`: rows that change often are kept in memory across batches
    // and written when the state fills up or is flushed, so a busy order is written about once
    // instead of once per batch; at most `max_rows` per table. nullptr: the projection keeps nothing.
    [[nodiscard]] virtual std::unique_ptr<state> deferred_state(const std::string& /*schema*/, std::size_t /*max_rows*/) const {
        return nullptr;
    }

    // Applies the events (positions ascending, none applied before) to the tables in `schema`:
    // the live schema, or a rebuild's shadow schema with the same tables. The same events on the
    // same tables always produce the same rows (live == rebuild). With a deferred state (a
    // rebuild only: nobody reads those tables and a failure starts over) some rows may be
    // written later; without one everything is written in `tx`. Throws sql::poison for an event
    // it cannot apply.
    virtual void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
                       state* deferred = nullptr) const = 0;
};

// One per projection, each in projections/<name>.cpp.
std::unique_ptr<projector> make_portal_dealers();
std::unique_ptr<projector> make_portal_orders();
std::unique_ptr<projector> make_portal_claims();
std::unique_ptr<projector> make_portal_finance();
std::unique_ptr<projector> make_portal_stock();
std::unique_ptr<projector> make_portal_subscriptions();
std::unique_ptr<projector> make_analytics_events();
std::unique_ptr<projector> make_analytics_orders();
std::unique_ptr<projector> make_analytics_claims();
std::unique_ptr<projector> make_analytics_finance();
std::unique_ptr<projector> make_analytics_stock();
std::unique_ptr<projector> make_analytics_subscriptions();
// Every projector, in names() order.
const std::vector<std::unique_ptr<projector>>& all_projectors();
[[nodiscard]] const projector* find_projector(std::string_view name);

// The migrations compiled in (generated from projections/migrations/*.sql).
struct migration {
    int version;
    std::string_view name;
    std::string_view sql;
};
std::span<const migration> migrations();

// Opens a connection set up the way every projection statement expects it.
std::unique_ptr<pqxx::connection> connect(const std::string& conninfo, std::string_view application_name);

}  // namespace dealerline::projections
