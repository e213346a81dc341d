// JSON for commands and events (its own target, dealerline_domain_codec, so that the deciders
// compile without Boost.JSON).
//
// Commands come from outside and are parsed strictly: a missing, mistyped or unknown field is an
// error that names the field. Events come from our own log and are read tolerantly (unknown
// fields ignored) through their stored name and schema version, older versions upcast first.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include <boost/json/value.hpp>

#include "domain/aggregates.hpp"

namespace dealerline::domain::codec {

using domain::any_command;

// "PlaceOrder" + data → the command; a rejection names what is wrong: code "unknown_command" for
// a type no aggregate has, "bad_request" for the data ("lines[1].quantity: expected an
// integer", "unknown field colour").
[[nodiscard]] result<any_command> parse_command(std::string_view type, const boost::json::value& data);
[[nodiscard]] std::string_view command_type(const any_command&);
[[nodiscard]] boost::json::object command_data(const any_command&);

struct stored_event {
    std::string type;                // stable stored name: "OrderPlaced"
    std::uint32_t schema_version = 1;
    std::string data;                // JSON text
};

[[nodiscard]] stored_event encode(const dealer_event&);
[[nodiscard]] stored_event encode(const order_event&);
[[nodiscard]] stored_event encode(const claim_event&);
[[nodiscard]] stored_event encode(const stock_event&);
[[nodiscard]] stored_event encode(const invoice_event&);
[[nodiscard]] stored_event encode(const payment_event&);
[[nodiscard]] stored_event encode(const credit_note_event&);
[[nodiscard]] stored_event encode(const subscription_event&);
[[nodiscard]] stored_event encode(const reservation_event&);

// Reads a stored event of the aggregate; a rejection with code "corrupt" when it cannot.
template <class Aggregate>
[[nodiscard]] result<typename Aggregate::event> decode(std::string_view type, std::uint32_t schema_version,
                                                       std::string_view data);

// Aggregate states, for snapshots. A snapshot that does not decode is "corrupt" (the caller
// replays the stream instead).
template <class Aggregate>
[[nodiscard]] std::string encode_state(const typename Aggregate::state&);
template <class Aggregate>
[[nodiscard]] result<typename Aggregate::state> decode_state(std::string_view);

// The current schema version of a stored event type (0: unknown type).
[[nodiscard]] std::uint32_t current_schema_version(std::string_view type);

}  // namespace dealerline::domain::codec
