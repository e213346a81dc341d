// Read-model queries for the API (API.md "Queries"), answered as JSON text so that the API never
// sees libpqxx. A small pool of connections serves concurrent requests.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "projections/projections.hpp"

namespace dealerline::projections {

struct order_page_request {
    std::optional<std::string> dealer_id;  // set from the token for dealers, never from their request
    std::optional<std::string> status;
    std::size_t limit = 50;                // 1..200
    std::optional<std::uint64_t> cursor;   // the next_cursor of the previous page
};

struct claim_page_request {
    std::optional<std::string> dealer_id;  // from the token for dealers
    std::optional<std::string> status;
    std::optional<std::string> order_id;
    std::size_t limit = 50;                // 1..200
    std::optional<std::uint64_t> cursor;   // the next_cursor of the previous page
};

struct subscription_page_request {
    std::optional<std::string> dealer_id;  // from the token for dealers
    std::optional<std::string> status;
    std::size_t limit = 50;
    std::optional<std::uint64_t> cursor;
};

struct stock_request {
    std::optional<std::string> warehouse, sku;
    std::size_t limit = 100;                // 1..500
    std::optional<std::string> after;       // the next_cursor of the previous page (a stock id)
};

class queries {
public:
    explicit queries(std::string conninfo, std::size_t connections = 4);
    ~queries();
    queries(const queries&) = delete;
    queries& operator=(const queries&) = delete;

    // {"orders":[…], "next_cursor": n|null}: newest first (by the position of OrderPlaced).
    [[nodiscard]] result<std::string> orders(const order_page_request&);
    // The order with "lines" and "timeline", or nullopt when there is none visible to
    // `dealer_id` (a dealer asking for another dealer's order gets the same "no such order").
    [[nodiscard]] result<std::optional<std::string>> order(const std::string& order_id,
                                                           const std::optional<std::string>& dealer_id);
    // {"claims":[…], "next_cursor": n|null}: newest first (by the position of ClaimFiled).
    [[nodiscard]] result<std::string> claims(const claim_page_request&);
    // The claim with its conversation ("messages", oldest first), or nullopt as for order().
    [[nodiscard]] result<std::optional<std::string>> claim(const std::string& claim_id,
                                                           const std::optional<std::string>& dealer_id);
    // The dealer's account: balance, overdue amount, open invoices (oldest first) and a page of
    // the statement (newest first, each entry with the running balance after it); nullopt when
    // the dealer has no account.
    [[nodiscard]] result<std::optional<std::string>> account(const std::string& dealer_id, std::size_t limit,
                                                             std::optional<std::uint64_t> cursor);
    // {"stock":[…], "next_cursor": "<stock id>"|null}: by warehouse and SKU.
    [[nodiscard]] result<std::string> stock(const stock_request&);
    // {"subscriptions":[…], "next_cursor"}: newest first.
    [[nodiscard]] result<std::string> subscriptions(const subscription_page_request&);
    // The checkpoint of the projection behind these answers (X-Projection-Position).
    [[nodiscard]] result<std::uint64_t> position(const std::string& projection);

private:
    result<std::string> page(const std::string& table, const std::string& key, const std::string& where, std::size_t limit,
                             std::optional<std::uint64_t> cursor, const std::string& field);
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace dealerline::projections
