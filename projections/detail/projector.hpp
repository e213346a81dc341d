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

class projector {
public:
    virtual ~projector() = default;
    [[nodiscard]] virtual std::string_view name() const = 0;
    [[nodiscard]] virtual std::string_view schema() const = 0;  // "portal" | "analytics"
    [[nodiscard]] virtual std::vector<std::string_view> tables() const = 0;
    // Applies the events (positions ascending, none applied before) to the tables in `schema`:
    // the live schema, or a rebuild's shadow schema with the same tables. The same events on the
    // same tables always produce the same rows (live == rebuild). Throws sql::poison for an
    // event it cannot apply.
    virtual void apply(pqxx::transaction_base& tx, const std::string& schema,
                       std::span<const storage::recorded_event> events) const = 0;
};

std::vector<std::unique_ptr<projector>> portal_projectors();
std::vector<std::unique_ptr<projector>> analytics_projectors();
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
