// Every aggregate, listed once. The command type the API accepts, the codec's command table and
// its schema versions are generated from this list, so a new aggregate is one line here and a
// compile error wherever it is not handled yet. Standard library only.
#pragma once

#include <variant>

#include "domain/claim.hpp"
#include "domain/dealer.hpp"
#include "domain/finance.hpp"
#include "domain/order.hpp"
#include "domain/stock.hpp"
#include "domain/subscription.hpp"

namespace dealerline::domain {

template <class... Aggregates>
struct aggregate_list {
    using any_command = std::variant<typename Aggregates::command...>;
    using any_state = std::variant<typename Aggregates::state...>;
};

using all_aggregates = aggregate_list<dealer_aggregate, order_aggregate, claim_aggregate, stock_aggregate, invoice_aggregate,
                                      payment_aggregate, credit_note_aggregate, subscription_aggregate>;

// Any command of any aggregate: the aggregate's command group, then the command.
using any_command = all_aggregates::any_command;

// Unique keys held by a stream of their own (docs/domain.md): a dealer's order external_ref
// (`extref-<dealer>/<ref>`) and a payment's bank reference (`payref-<dealer>/<ref>`). The
// stream's first event holds the key; appended with "no stream yet", a second one fails.
struct external_ref_reserved {
    std::string order_id, dealer_id, external_ref;
    bool operator==(const external_ref_reserved&) const = default;
};
struct payment_ref_reserved {
    std::string payment_id, dealer_id, external_ref;
    bool operator==(const payment_ref_reserved&) const = default;
};
using reservation_event = std::variant<external_ref_reserved, payment_ref_reserved>;

}  // namespace dealerline::domain
