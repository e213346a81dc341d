// The live feed's core (API.md "Live feed"), without any networking: committed events become
// updates (order_status, claim_status), and a hub tails the log and hands each update to the
// subscribers whose filter wants it. The websocket side lives in server.cpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <variant>
#include <vector>

#include "domain/claim.hpp"
#include "domain/finance.hpp"
#include "domain/order.hpp"
#include "storage/event_log.hpp"
#include "storage/event_source.hpp"

namespace dealerline::api::detail {

struct live_update {
    std::uint64_t position = 0;
    std::string dealer_id;
    std::string type;  // "order_status" | "claim_status" | "account_entry"
    std::string json;  // serialised once, shared by every recipient
};
using update_ptr = std::shared_ptr<const live_update>;

// Who wants what: a dealer token is always pinned to its dealer; staff may narrow.
struct live_filter {
    std::optional<std::string> dealer_id;
    std::set<std::string> types;  // empty: all
    [[nodiscard]] bool wants(const live_update& u) const {
        return (!dealer_id || u.dealer_id == *dealer_id) && (types.empty() || types.contains(u.type));
    }
};

// Derives the update an event causes. The status after an event and the owning dealer come from
// folding the aggregate's stream with the domain's own evolve, so the feed can never disagree
// with the command side. A cache of each stream's newest state makes the live path O(1); an
// event behind the cache (a client catching up from long ago) folds its stream's prefix again.
class update_deriver {
public:
    explicit update_deriver(const storage::event_log& log) : log_(log) {}
    [[nodiscard]] storage::result<std::optional<live_update>> derive(const storage::recorded_event&);

private:
    struct folded {
        std::uint64_t version = 0;
        std::variant<domain::order_state, domain::claim_state, domain::invoice_state, domain::payment_state> state;
    };
    storage::result<folded> fold(const std::string& stream, std::uint64_t through_version);
    storage::result<std::optional<live_update>> derive_account(const storage::recorded_event&);

    const storage::event_log& log_;
    std::mutex m_;
    std::unordered_map<std::string, folded> cache_;
};

// Implemented by a live connection. Called on the hub's thread with the hub's lock held: it must
// only queue, never block.
class live_subscriber {
public:
    virtual ~live_subscriber() = default;
    [[nodiscard]] virtual const live_filter& filter() const = 0;
    virtual void deliver(const update_ptr&) = 0;
};

class live_hub {
public:
    // Events come from `source` (the log's own tail in one process; JetStream for a gateway:
    // DESIGN.md); a stream's state for deriving an update is read from `log`.
    live_hub(const storage::event_log& log, storage::event_source& source) : source_(source), deriver_(log) {}
    ~live_hub() { stop(); }
    live_hub(const live_hub&) = delete;
    live_hub& operator=(const live_hub&) = delete;

    void start();
    void stop();

    // From now on `s` receives every update it wants with a position after the returned one;
    // what came before is the caller's to read with read(). The hub holds `s` weakly.
    std::uint64_t subscribe(const std::shared_ptr<live_subscriber>& s);

    struct page {
        std::vector<update_ptr> updates;  // already filtered
        std::uint64_t last = 0;           // the last position read
    };
    // Catch-up: the updates `filter` wants among the events in (after, to], reading at most
    // `max_events` events.
    [[nodiscard]] storage::result<page> read(std::uint64_t after, std::uint64_t to, std::size_t max_events, const live_filter&);

    [[nodiscard]] std::uint64_t position() const noexcept { return position_.load(); }
    // Failures so far (events skipped, reads that failed or threw), and what is wrong now (empty
    // while the feed is delivering): /readyz and /metrics show both.
    [[nodiscard]] std::uint64_t errors() const noexcept { return errors_.load(); }
    [[nodiscard]] std::string problem() const;

private:
    void run();
    void run_once(std::chrono::milliseconds& backoff);
    void set_problem(std::string);
    // The update of one event, or an error; never throws (a throw becomes the error).
    storage::result<std::optional<live_update>> derive(const storage::recorded_event&);

    storage::event_source& source_;
    update_deriver deriver_;
    std::mutex m_;  // subscribers and the delivered position change together (gapless hand-over)
    std::unordered_map<std::string, std::vector<std::weak_ptr<live_subscriber>>> by_dealer_;
    std::vector<std::weak_ptr<live_subscriber>> everyone_;
    std::atomic<std::uint64_t> position_{0};
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> errors_{0};
    mutable std::mutex problem_m_;
    std::string problem_;
    std::thread thread_;
};

}  // namespace dealerline::api::detail
