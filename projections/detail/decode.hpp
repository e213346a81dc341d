// What every projector shares: stored event → domain event (or the poison that stops the
// projection at its position), the ids events are keyed by, and the rows a projector keeps.
#pragma once

#include <cstdint>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"
#include "storage/event_log.hpp"

namespace dealerline::projections {

// A status as the read models store it: the domain's own name (to_string beside each enum, checked
// against the codec's names in tests/domain/account_test.cpp).
template <class Status>
std::string named(Status s) {
    return std::string(domain::to_string(s));
}

template <class Aggregate>
typename Aggregate::event decode_or_poison(const storage::recorded_event& e) {
    auto decoded = domain::codec::decode<Aggregate>(e.type, e.schema_version, e.data);
    if (!decoded) throw sql::poison(e.position, "cannot read " + e.type + " v" + std::to_string(e.schema_version) +
                                                    ": " + decoded.error().message);
    return std::move(decoded.value());
}

template <class Aggregate>
using decoded_events = std::vector<std::pair<const storage::recorded_event*, typename Aggregate::event>>;

// The batch's events of the aggregate's category, decoded, in order.
template <class Aggregate>
decoded_events<Aggregate> events_of(std::span<const storage::recorded_event> events) {
    decoded_events<Aggregate> out;
    for (const auto& e : events)
        if (domain::category_of(e.stream) == Aggregate::category) out.emplace_back(&e, decode_or_poison<Aggregate>(e));
    return out;
}

// The id an aggregate's events are keyed by.
inline const std::string& id_of(const domain::dealer_event& ev) {
    return std::visit([](const auto& x) -> const std::string& { return x.dealer_id; }, ev);
}
inline const std::string& id_of(const domain::order_event& ev) {
    return std::visit([](const auto& x) -> const std::string& { return x.order_id; }, ev);
}
inline const std::string& id_of(const domain::claim_event& ev) {
    return std::visit([](const auto& x) -> const std::string& { return x.claim_id; }, ev);
}

inline const std::string& id_of(const domain::invoice_event& ev) {
    return std::visit([](const auto& x) -> const std::string& { return x.invoice_id; }, ev);
}
inline const std::string& id_of(const domain::payment_event& ev) {
    return std::visit([](const auto& x) -> const std::string& { return x.payment_id; }, ev);
}

inline std::int64_t i64(std::uint64_t v) { return static_cast<std::int64_t>(v); }

// The changing rows of one table: a rebuild's deferred state, or a fresh set for one batch
// (max_rows 0: written when the batch is done).
template <class Row>
struct held_table final : projector::state {
    held_table(std::string table, std::size_t max_rows) : rows(std::move(table), max_rows) {}
    void flush(pqxx::transaction_base& tx) override { rows.flush(tx); }
    sql::row_set<Row> rows;
};

// `deferred` when the rebuild passed one, otherwise `per_batch`.
template <class Row>
held_table<Row>& held_or(projector::state* deferred, held_table<Row>& per_batch) {
    return deferred ? static_cast<held_table<Row>&>(*deferred) : per_batch;
}

}  // namespace dealerline::projections
