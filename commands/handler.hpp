// The command handler: load the aggregate (cache, snapshot + tail of its stream), decide, append
// with the loaded version as the expected version, retry on conflict. Written once for every
// aggregate (domain::aggregate); knows nothing of HTTP or PostgreSQL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "domain/aggregates.hpp"
#include "storage/event_log.hpp"

namespace dealerline::commands {

struct envelope {
    std::string command_id;
    domain::any_command command;
    domain::actor actor;
    std::optional<std::uint64_t> expected_version;  // absent: the handler retries conflicts itself
    std::string correlation_id;                      // empty: the command id
};

struct outcome {
    std::string stream;
    std::uint64_t version = 0;             // the stream's version after the command
    std::vector<std::uint64_t> positions;  // empty when the command changed nothing
    std::vector<std::string> events;       // stored event names, in position order
    bool duplicate = false;                // a retried command id: the first result
};

struct failure {
    enum class kind {
        rejected,     // the domain said no (422), `code` says why
        forbidden,    // 403
        not_found,    // 404
        conflict,     // 409: expected version, or a command id reused for another command
        unavailable,  // 503: the log failed or is closing
    };
    kind what;
    std::string code;
    std::string message;
};

template <class T>
using result = tl::expected<T, failure>;

struct handler_options {
    std::size_t cache_entries = 10'000;  // aggregate states kept in memory (LRU)
    std::uint64_t snapshot_every = 100;  // events between snapshots of a stream; 0: never
    int max_retries = 16;                // conflicts retried when the caller gave no expected version
    std::function<std::int64_t()> clock;  // microseconds since the epoch; default: system clock
};

class handler {
public:
    explicit handler(storage::event_log& log, handler_options options = {});
    ~handler();
    handler(const handler&) = delete;
    handler& operator=(const handler&) = delete;

    // Thread-safe: many callers at once, on the same aggregate too. Waits until the command's
    // events are durable (or it was refused). Not from inside a completion of handle_async or of
    // the log's own callbacks: those threads are what it waits for.
    [[nodiscard]] result<outcome> handle(const envelope&);

    // The same without waiting: `done` is called exactly once — on this thread when there is
    // nothing to append (a refusal, a duplicate, a no-op), otherwise on the log's answering
    // thread once the events are durable. It must not block.
    using completion = std::function<void(result<outcome>)>;
    void handle_async(envelope, completion done);

    // The aggregate's state and version as the handler loads them (cache, snapshot, tail).
    template <domain::aggregate A>
    [[nodiscard]] result<std::pair<std::uint64_t, typename A::state>> load(const std::string& stream, bool use_cache = true);

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace dealerline::commands
