// The read models: PostgreSQL tables that the portal and analysts read, derived from the log.
//
// Each projection owns a few tables and a row in dealerline.projection_checkpoints. A batch of
// events and the checkpoint move together in one transaction, so a projection has applied every
// event up to its checkpoint exactly once, whatever crashes in between. Any projection can be
// rebuilt from position 0 into shadow tables and swapped in while the live one keeps serving.
//
// This header is all the rest of the program sees: libpqxx stays inside projections/.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "storage/event_source.hpp"

namespace dealerline::projections {

struct error {
    std::string message;
};
template <class T>
using result = tl::expected<T, error>;

// The projections there are, in the order they are listed and rebuilt.
[[nodiscard]] const std::vector<std::string>& names();

// Applies the versioned schema migrations that are not applied yet (under an advisory lock, so
// concurrent starts are safe). Returns the versions it applied now.
[[nodiscard]] result<std::vector<int>> migrate(const std::string& conninfo);

// One projection as dealerline.projection_checkpoints and the log's head see it.
struct status {
    std::string name;
    std::uint64_t position = 0;              // checkpoint: every event up to here is applied
    std::uint64_t head = 0;                  // the event source's head when asked
    std::uint64_t lag_events = 0;            // head − position
    std::optional<double> newest_event_age_seconds;  // now − time of the newest applied event
    std::string state;                       // "running", "reconnecting", "failed", "stopped", "idle"
    std::optional<std::uint64_t> failed_position;    // the poison event, when failed
    std::string error;
};

// Reads the checkpoints table (for `projections status` and /readyz in another process).
[[nodiscard]] result<std::vector<status>> read_status(const std::string& conninfo, std::uint64_t head);

struct runner_options {
    std::size_t max_batch = 1000;                          // events per transaction
    std::chrono::milliseconds max_wait{20};                // how long a batch waits to fill
    std::chrono::milliseconds max_backoff{5000};           // reconnect backoff ceiling
    std::vector<std::string> only;                         // empty: every projection
    std::string application_name = "dealerline-projections";
};

// Runs every projection on its own thread and connection, from its checkpoint, until stopped.
// One failing projection (PostgreSQL away, a poison event) does not hold up the others.
class runner {
public:
    runner(std::string conninfo, storage::event_source& source, runner_options = {});
    ~runner();  // stops
    runner(const runner&) = delete;
    runner& operator=(const runner&) = delete;

    void start();
    // Finishes the batch in flight (committed or rolled back) and joins the threads.
    void stop();

    [[nodiscard]] std::vector<status> statuses() const;
    // True once every projection (not failed) has applied `position`, false at the deadline.
    [[nodiscard]] bool wait_for(std::uint64_t position, std::chrono::steady_clock::time_point deadline) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

struct rebuild_progress {
    std::string name;
    std::uint64_t position = 0, head = 0;
    double events_per_second = 0;
    bool swapped = false;
};

struct rebuild_options {
    std::size_t batch = 20000;  // events per transaction
    // Rows that change often (an order's) are held in memory across batches and written when
    // this many are held, or at the end: a busy order is written about once, not once per batch.
    std::size_t max_held_rows = 200'000;
    // Called after each batch and once after the swap.
    std::function<void(const rebuild_progress&)> progress;
    // Called before reading past what the source has: lets a read-only follower catch up with the
    // writer of the log. Returns the new head.
    std::function<std::uint64_t()> catch_up;
};

struct rebuild_report {
    std::string name;
    std::uint64_t position = 0;   // the checkpoint of the swapped-in tables
    std::uint64_t events = 0;     // events read
    double seconds = 0;
};

// Builds the projection from position 0 into shadow tables (schema rebuild_<name>), catches up
// to the head, then swaps the tables and the checkpoint in one transaction: readers see the old
// model or the new one, never a half-built one. A live runner of the same projection simply
// continues from the new checkpoint.
[[nodiscard]] result<rebuild_report> rebuild(const std::string& conninfo, storage::event_source& source,
                                             const std::string& name, const rebuild_options& = {});

// Rebuilds several projections at once, each on its own thread and connection (PostgreSQL works
// on them in parallel). Every one swaps in on its own; the first error is returned after all
// have finished.
[[nodiscard]] result<std::vector<rebuild_report>> rebuild_all(const std::string& conninfo, storage::event_source& source,
                                                             const std::vector<std::string>& which,
                                                             const rebuild_options& = {});

}  // namespace dealerline::projections
