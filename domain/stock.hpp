// Stock — stream `stock-<warehouse>:<sku>`: what a warehouse holds of one SKU and what of it is
// promised to orders. available = on hand − reserved never goes below zero through a command
// (a physical count may show less than is reserved: reality wins, and reservations wait).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "domain/decider.hpp"

namespace dealerline::domain {

// Commands
struct receive_stock {
    std::string warehouse, sku;
    std::int64_t quantity = 0;
    std::string reference;  // delivery note, production batch, …
};
struct reserve_stock {
    std::string warehouse, sku, order_id;
    std::int64_t quantity = 0;
};
struct release_stock {
    std::string warehouse, sku, order_id;
};
struct issue_stock {
    std::string warehouse, sku, order_id;
};
struct write_off_stock {
    std::string warehouse, sku;
    std::int64_t quantity = 0;
    std::string reason;
};
struct count_stock {
    std::string warehouse, sku;
    std::int64_t counted = 0;
};
using stock_command = std::variant<receive_stock, reserve_stock, release_stock, issue_stock, write_off_stock, count_stock>;

// Events
struct stock_received {
    std::string warehouse, sku;
    std::int64_t quantity = 0;
    std::string reference;
    bool operator==(const stock_received&) const = default;
};
struct stock_reserved {
    std::string warehouse, sku, order_id;
    std::int64_t quantity = 0;
    bool operator==(const stock_reserved&) const = default;
};
struct stock_released {
    std::string warehouse, sku, order_id;
    std::int64_t quantity = 0;
    bool operator==(const stock_released&) const = default;
};
struct stock_issued {
    std::string warehouse, sku, order_id;
    std::int64_t quantity = 0;
    bool operator==(const stock_issued&) const = default;
};
struct stock_written_off {
    std::string warehouse, sku;
    std::int64_t quantity = 0;
    std::string reason;
    bool operator==(const stock_written_off&) const = default;
};
struct stock_counted {
    std::string warehouse, sku;
    std::int64_t counted = 0, difference = 0;  // difference = counted − on hand before the count
    bool operator==(const stock_counted&) const = default;
};
using stock_event = std::variant<stock_received, stock_reserved, stock_released, stock_issued, stock_written_off, stock_counted>;

struct stock_reservation {
    std::string order_id;
    std::int64_t quantity = 0;
    bool operator==(const stock_reservation&) const = default;
};

struct stock_state {
    bool exists = false;  // anything ever happened to it
    std::int64_t on_hand = 0, reserved = 0;
    std::vector<stock_reservation> reservations;  // one per order
    [[nodiscard]] std::int64_t available() const noexcept { return on_hand - reserved; }
    bool operator==(const stock_state&) const = default;
};

struct stock_aggregate {
    using command = stock_command;
    using event = stock_event;
    using state = stock_state;
    static constexpr std::string_view category = "stock";
    [[nodiscard]] static std::string stream_id(const command&);  // "<warehouse>:<sku>"
    [[nodiscard]] static result<std::vector<event>> decide(const command&, const state&, const context&);
    [[nodiscard]] static state evolve(state, const event&);
};
static_assert(aggregate<stock_aggregate>);

}  // namespace dealerline::domain
