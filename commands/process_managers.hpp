// The process managers of DOMAIN.md, as a pure fold: committed events in, commands out.
//  - fulfilment: OrderAccepted → ReserveStock for each line whose SKU a warehouse stocks (a
//    refusal for lack of stock → FlagStockShortage on the order); OrderShipped → IssueStock for
//    what the order holds, and IssueInvoice{source: order}; OrderCancelled → ReleaseStock.
//  - claim compensation: ClaimResolved with compensation > 0 → IssueCreditNote{claim_id}.
//  - payment allocation: PaymentRecorded → AllocatePayment to the dealer's oldest open invoices.
//  - subscription billing: SubscriptionPeriodBilled → IssueInvoice{source: subscription} (and a
//    credit note for a plan-change credit larger than the invoice).
// Every derived command's id is derived from the triggering event's position, so running the
// managers twice over the same events changes nothing (the log answers the first result).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "commands/handler.hpp"
#include "storage/event_log.hpp"
#include "storage/event_source.hpp"

namespace dealerline::commands {

struct derived_command {
    std::string command_id;
    domain::any_command command;
    domain::actor actor;
};

class process_managers {
public:
    // Folds one committed event (in position order) and returns what it causes.
    [[nodiscard]] std::vector<derived_command> on(const storage::recorded_event&);

private:
    struct line {
        std::string sku, description;
        std::int64_t quantity = 0, unit_price = 0;
    };
    struct order_info {
        std::string dealer_id;
        std::vector<line> lines;
        std::map<std::pair<std::string, std::string>, std::int64_t> held;  // (warehouse, sku) → reserved for it
    };
    struct stock_info {
        std::int64_t on_hand = 0, reserved = 0;
    };
    struct open_invoice {
        std::string invoice_id, currency;
        std::int64_t open = 0;
    };
    std::map<std::string, order_info> orders_;
    std::map<std::string, std::map<std::string, stock_info>> stock_;  // sku → warehouse → levels
    std::map<std::string, std::string> claim_dealer_;
    std::map<std::string, std::vector<open_invoice>> invoices_;     // dealer → open invoices, oldest first
    std::map<std::string, std::string> invoice_dealer_;
};

struct manager_runner_options {
    std::size_t batch = 500;
    bool use_checkpoint = true;  // false: execute for every event again (all duplicates: a check, or a repair)
};

// Runs the managers inside the process that owns the log: folds the log from the start, and
// executes the commands of every event after its checkpoint (kept beside the log as the snapshot
// named "processmanagers"; losing it only costs re-running commands that are then duplicates).
// What its own commands append is folded at once, ahead of the main loop (which then skips those
// positions): the managers never decide on a view that misses their own last decisions — two
// payments in a row both go to the oldest invoice still open. The order of folding is a function
// of the log alone (a duplicate answers the positions of the first run), so a second run derives
// the very same commands.
class manager_runner {
public:
    // Events come from `events` (null: the log's own tail); the checkpoint is kept in `log`, which
    // the managers' commands write through `handler` anyway.
    manager_runner(storage::event_log&, handler&, manager_runner_options = {}, storage::event_source* events = nullptr);
    ~manager_runner();
    manager_runner(const manager_runner&) = delete;
    manager_runner& operator=(const manager_runner&) = delete;

    void start();
    void stop();
    // True once every event through `position` has been handled (and its commands answered).
    bool wait_for(std::uint64_t position, std::chrono::steady_clock::time_point deadline) const;
    // True once the managers have handled the whole log, including what their own commands
    // appended meanwhile (nothing else writing).
    bool wait_until_idle(std::chrono::steady_clock::time_point deadline) const;
    [[nodiscard]] std::uint64_t position() const noexcept { return position_.load(); }
    // Failures so far, and what is wrong now (empty while the managers keep up): an exception
    // while handling an event is logged, counted and retried after a pause, never skipped (the
    // commands it derives have ids of their own, so a retry repeats nothing).
    struct health_report {
        std::string problem;
        std::uint64_t errors = 0;
    };
    [[nodiscard]] health_report health() const;

private:
    void run();
    // Executes a command and folds at once what it appended (see run()).
    void execute(const derived_command&, std::uint64_t current);
    void fold_early(const std::vector<std::uint64_t>& positions, std::uint64_t current);

    storage::event_log& log_;
    std::unique_ptr<storage::event_source> own_events_;
    storage::event_source& events_;
    handler& handler_;
    manager_runner_options options_;
    process_managers managers_;
    std::set<std::uint64_t> folded_early_;  // positions ahead of the main loop, already folded
    std::atomic<std::uint64_t> position_{0};
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> errors_{0};
    mutable std::mutex problem_m_;
    std::string problem_;
    std::thread thread_;
};

}  // namespace dealerline::commands
