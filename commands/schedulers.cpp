#include "commands/schedulers.hpp"

#include <atomic>
#include <map>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>

#include "domain/codec.hpp"

namespace dealerline::commands {
namespace {

using namespace domain;

const actor scheduler{role::system, "billing", {}};

// Folds every stream of one category from the log (one pass over it).
template <class A>
result<std::map<std::string, typename A::state>> fold_category(const storage::event_log& log) {
    std::map<std::string, typename A::state> out;
    const std::string prefix = std::string(A::category) + "-";
    std::optional<failure> bad;
    auto scanned = log.scan(1, log.head_position(), [&](const storage::event_view& e) {
        if (!e.stream.starts_with(prefix)) return true;
        auto decoded = codec::decode<A>(e.type, e.schema_version, e.data);
        if (!decoded) {
            bad = failure{failure::kind::unavailable, "corrupt", "event " + std::to_string(e.position) + ": " + decoded.error().message};
            return false;
        }
        auto& s = out[std::string(e.stream.substr(prefix.size()))];
        s = A::evolve(std::move(s), *decoded);
        return true;
    });
    if (!scanned) return tl::unexpected(failure{failure::kind::unavailable, "unavailable", scanned.error().message});
    if (bad) return tl::unexpected(*bad);
    return out;
}

}  // namespace

result<billing_report> run_billing(storage::event_log& log, handler& h, const std::string& until, std::size_t threads) {
    auto subscriptions = fold_category<subscription_aggregate>(log);
    if (!subscriptions) return tl::unexpected(subscriptions.error());
    std::vector<const std::pair<const std::string, subscription_state>*> work;
    for (const auto& entry : *subscriptions) work.push_back(&entry);
    std::atomic<std::size_t> next_item{0};
    std::atomic<std::uint64_t> billed{0}, skipped{0}, already{0}, refused{0};
    // Each subscription's periods in order on one thread; subscriptions side by side (each bill
    // waits for its fsync; group commit takes many at once).
    auto worker = [&] {
        for (std::size_t i; (i = next_item++) < work.size();) {
            const auto& [id, s] = *work[i];
            for (auto next = s.next_billing; !next.empty() && next <= until && (s.cancel_on.empty() || next < s.cancel_on);) {
                auto r = h.handle({"bill:" + id + ":" + next, subscription_command{bill_subscription_period{id, next}}, scheduler, std::nullopt, ""});
                if (!r) {
                    ++refused;
                    spdlog::warn("billing: subscription {} period {}: {}", id, next, r.error().message);
                    break;
                }
                if (r->duplicate || r->events.empty()) ++already;
                else if (r->events.front() == "SubscriptionPeriodSkipped") ++skipped;
                else ++billed;
                next = period_end(next, s.period, s.starts_on);  // billed or skipped, the next period follows this one
            }
        }
    };
    std::vector<std::thread> pool;
    for (std::size_t t = 1; t < std::max<std::size_t>(1, threads); ++t) pool.emplace_back(worker);
    worker();
    for (auto& t : pool) t.join();
    return billing_report{work.size(), billed, skipped, already, refused};
}

result<overdue_report> run_overdue(storage::event_log& log, handler& h, const std::string& today) {
    auto invoices = fold_category<invoice_aggregate>(log);
    if (!invoices) return tl::unexpected(invoices.error());
    overdue_report report;
    for (const auto& [id, s] : *invoices) {
        if (s.status != invoice_status::open) continue;
        ++report.invoices;
        if (s.overdue || s.due_date >= today) continue;
        auto r = h.handle({"overdue:" + id, invoice_command{mark_invoice_overdue{id}}, scheduler, std::nullopt, ""});
        if (r && !r->duplicate && !r->events.empty()) ++report.marked;
        else if (!r) spdlog::warn("overdue: invoice {}: {}", id, r.error().message);
    }
    return report;
}

}  // namespace dealerline::commands
