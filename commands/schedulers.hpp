// The schedulers of DOMAIN.md: subscription billing and overdue marking. Each run folds the
// subscriptions and invoices from the log and sends the commands that are due; command ids are
// derived from what they do ("bill:<subscription>:<period start>", "overdue:<invoice>"), so a run
// repeated, or two runs at once, bill each period exactly once.
#pragma once

#include <cstdint>
#include <string>

#include "commands/handler.hpp"
#include "storage/event_log.hpp"

namespace dealerline::commands {

struct billing_report {
    std::uint64_t subscriptions = 0;  // seen
    std::uint64_t billed = 0;         // periods billed by this run
    std::uint64_t skipped = 0;        // periods skipped (paused) by this run
    std::uint64_t already = 0;        // periods another run had billed (duplicates)
    std::uint64_t refused = 0;        // the domain said no (logged)
};

// Bills every period that starts on or before `until` (YYYY-MM-DD) — which must not be after the
// handler's clock's date: the domain bills no period before it starts.
[[nodiscard]] result<billing_report> run_billing(storage::event_log&, handler&, const std::string& until, std::size_t threads = 16);

struct overdue_report {
    std::uint64_t invoices = 0;  // open invoices seen
    std::uint64_t marked = 0;    // newly overdue
};

// Marks every open invoice whose due date is before `today` (YYYY-MM-DD) overdue, once.
[[nodiscard]] result<overdue_report> run_overdue(storage::event_log&, handler&, const std::string& today);

}  // namespace dealerline::commands
