// Stored event → domain event, or the poison that stops the projection at its position.
#pragma once

#include "domain/codec.hpp"
#include "projections/detail/sql.hpp"
#include "storage/event_log.hpp"

namespace dealerline::projections {

template <class Aggregate>
typename Aggregate::event decode_or_poison(const storage::recorded_event& e) {
    auto decoded = domain::codec::decode<Aggregate>(e.type, e.schema_version, e.data);
    if (!decoded) throw sql::poison(e.position, "cannot read " + e.type + " v" + std::to_string(e.schema_version) +
                                                    ": " + decoded.error().message);
    return std::move(decoded.value());
}

}  // namespace dealerline::projections
