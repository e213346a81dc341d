// The server's shared state (api/server.cpp: listener, sessions and routing; readiness.cpp). What
// each route answers is Beast-free, in detail/routes.hpp. Internal to api/.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include "api/detail/http_answers.hpp"
#include "api/detail/live.hpp"
#include "api/detail/rate_limiter.hpp"
#include "api/detail/routes.hpp"
#include "api/metrics.hpp"
#include "api/server.hpp"

namespace dealerline::api {

using tcp = net::ip::tcp;

class session;       // one HTTP connection (server.cpp)
class live_session;  // one live-feed websocket (server.cpp)

// Handlers and sessions refer to this by plain pointer: server::stop() joins every thread that
// could run them before it goes, and the counters outlive the io_context (declared first), whose
// destructor destroys the sessions still queued in it.
struct server::impl {
    impl(server_options o, storage::event_log& l, commands::handler& h, const projections::runner* r, projections::queries* q,
         storage::event_source* events)
        : options(std::move(o)),
          log(l),
          handler(h),
          runner(r),
          reads(q),
          own_events(events ? nullptr : std::make_unique<storage::local_event_source>(l)),
          limiter(options.rate_limit, options.rate_burst),
          hub(l, events ? *events : *own_events),
          routes{l, h, q, r, stats, limiter, stopping},
          pool(options.command_threads) {}

    server_options options;
    storage::event_log& log;
    commands::handler& handler;
    const projections::runner* runner;
    projections::queries* reads;
    std::unique_ptr<storage::event_source> own_events;  // the log's tail, unless given a source
    std::atomic<std::size_t> connections{0}, in_flight{0}, live_connections{0};
    std::atomic<std::size_t> pending{0};  // tasks given to the pool and not finished
    api::metrics stats;
    rate_limiter limiter;
    std::atomic<bool> stopping{false}, stopped{false};
    detail::live_hub hub;
    route_context routes;  // what the route functions (detail/routes.hpp) work with
    std::atomic<std::uint64_t> next_request{0};
    std::uint16_t port = 0;
    net::io_context ioc;
    // Keeps the io threads running while a connection waits for the pool (nothing of it is in
    // the io_context then): without it run() returns once the acceptor closes, and answers
    // posted afterwards are never written. stop() ends it.
    net::executor_work_guard<net::io_context::executor_type> keep_running = net::make_work_guard(ioc);
    std::optional<tcp::acceptor> acceptor;
    // Out of descriptors, accept() waits on this before it tries again (instead of spinning).
    std::optional<net::steady_timer> accept_timer;
    std::chrono::milliseconds accept_backoff{10};
    // Live sockets per dealer (dealer tokens), for max_live_per_dealer.
    std::mutex live_per_dealer_m;
    std::unordered_map<std::string, std::size_t> live_per_dealer;
    bool claim_live_socket(const std::string& dealer_id) {
        std::lock_guard lock(live_per_dealer_m);
        auto& n = live_per_dealer[dealer_id];
        if (n >= options.max_live_per_dealer) return false;
        ++n;
        return true;
    }
    void release_live_socket(const std::string& dealer_id) {
        std::lock_guard lock(live_per_dealer_m);
        if (auto it = live_per_dealer.find(dealer_id); it != live_per_dealer.end() && --it->second == 0) live_per_dealer.erase(it);
    }
    net::thread_pool pool;
    std::vector<std::thread> threads;
    std::mutex sessions_m;
    std::vector<std::weak_ptr<session>> sessions;  // to close them all on stop
    std::vector<std::weak_ptr<live_session>> live_sessions;

    // Runs `task` on the pool unless the server is stopping (then false). Counting before looking
    // at `stopping` (and stop() setting it before waiting for the count) means no task slips in
    // after stop() has drained the pool.
    template <class F>
    bool offload(F task) {
        ++pending;
        if (stopping) {
            --pending;
            return false;
        }
        net::post(pool, [this, task = std::move(task)]() mutable {
            last_resort("a pool task", task);
            --pending;
        });
        return true;
    }

    // Runs `f`; an exception is logged and counted here, the last place that can (an exception
    // out of a thread ends the process). Returns whether `f` finished normally.
    template <class F>
    bool last_resort(std::string_view where, F& f) noexcept {
        try {
            f();
            return true;
        } catch (const std::exception& e) {
            internal_error(where, e.what());
        } catch (...) {
            internal_error(where, "an exception of unknown type");
        }
        return false;
    }
    void internal_error(std::string_view where, std::string_view what) noexcept {
        try {
            stats.internal_error("api");
            spdlog::error("internal error in {}: {}", where, what);
        } catch (...) {
        }
    }
    // The answer to a request that failed on our side: 500 with its id; the details are only in
    // our log (they may name tables or files).
    response internal_response(const std::string& id, const std::string& what, std::string_view why) {
        internal_error("request " + id + " " + what, why);
        return error_response(http::status::internal_server_error, "internal", "internal",
                              "the server failed to answer this request; quote request id " + id + " to the operator", false);
    }
    // Answers a request from the pool with what `make` returns, or 500 if it throws.
    template <class F>
    void answer_on_pool(const std::shared_ptr<session>& s, const std::string& id, steady::time_point started, const std::string& what,
                        F make);

    void accept();
    void route(request req, std::shared_ptr<session> s, std::string id, steady::time_point started);
    void upgrade(request req, const std::shared_ptr<session>& s, const std::string& query, std::string id, steady::time_point started);
    // POST /api/commands on the io thread: a single command goes to the handler without waiting
    // and is answered from its completion; a bulk request runs on the pool.
    void take_command(request req, const std::shared_ptr<session>& s, const std::string& id, steady::time_point started,
                      const std::string& what);
    // A query route's answer: admitted, its parameters checked, then the route's function (on the pool).
    response run_query(const api::route& r, const request& req, const std::string& path, const std::string& query);
    tl::expected<token_claims, answer> authenticate(std::string_view bearer_token);
    // The token's rate: false (and counted) when it is over it.
    bool within_rate(const token_claims& who) {
        if (limiter.allow(rate_key(who))) return true;
        stats.rate_limited();
        return false;
    }
    // Who asks, if they may ask now: a valid token (401 otherwise) within its rate (429).
    tl::expected<token_claims, answer> admit(std::string_view bearer_token) {
        auto who = authenticate(bearer_token);
        if (who && !within_rate(*who)) return tl::unexpected(too_many());
        return who;
    }
    response readiness(bool keep_alive);
    // Each connection is a file descriptor: raise RLIMIT_NOFILE to what max_connections needs,
    // or serve fewer connections than asked (and say so).
    void fit_connections_to_descriptors();
    // /readyz answers from this, refreshed in the background: a probe never waits for
    // PostgreSQL or opens a connection.
    void refresh_readiness();
    std::mutex ready_m;
    json::value ready_body;
    bool ready_now = false;
    // What refresh_readiness (one thread) last logged about the log, to log each change once.
    bool log_failure_told = false, space_low_told = false;
    std::thread ready_thread;
    std::mutex ready_stop_m;
    std::condition_variable ready_stop_cv;
    bool ready_stopping = false;
};

}  // namespace dealerline::api
