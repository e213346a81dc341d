// The server: Beast over Asio, a few io threads, one strand per connection. A command waits for
// its fsync (and a query for PostgreSQL) on a separate pool so the io threads keep reading and
// writing; the answer goes back through the connection's strand. An upgrade on /api/live turns
// the connection into a live_session fed by the live hub (detail/live.hpp).
#include "api/server.hpp"

#include <pthread.h>
#include <sys/resource.h>

#include <cerrno>

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
#include <unordered_map>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/detail/command_input.hpp"
#include "api/detail/live.hpp"
#include "api/detail/portal_page.hpp"
#include "api/detail/request_input.hpp"
#include "api/metrics.hpp"
#include "domain/codec.hpp"
#include "domain/time.hpp"

namespace dealerline::api {
namespace {

using detail::bad_request;
using detail::command_request;
using detail::parse_command_request;
using detail::parse_json;

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
using steady = std::chrono::steady_clock;

std::int64_t unix_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

response json_response(http::status status, const json::value& body, bool keep_alive) {
    response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(keep_alive);
    res.body() = json::serialize(body);
    res.prepare_payload();
    return res;
}

// API.md: every error body is {"error", "code", "message"}.
response error_response(http::status status, std::string_view error, std::string_view code, std::string_view message,
                        bool keep_alive) {
    return json_response(status, json::object{{"error", error}, {"code", code}, {"message", message}}, keep_alive);
}

http::status status_of(commands::failure::kind k) {
    using kind = commands::failure::kind;
    switch (k) {
        case kind::rejected: return http::status::unprocessable_entity;
        case kind::forbidden: return http::status::forbidden;
        case kind::not_found: return http::status::not_found;
        case kind::conflict: return http::status::conflict;
        case kind::unavailable: return http::status::service_unavailable;
    }
    return http::status::internal_server_error;
}

std::string_view error_of(commands::failure::kind k) {
    using kind = commands::failure::kind;
    switch (k) {
        case kind::rejected: return "rejected";
        case kind::forbidden: return "forbidden";
        case kind::not_found: return "not_found";
        case kind::conflict: return "conflict";
        case kind::unavailable: return "unavailable";
    }
    return "internal";
}

using detail::parse_query;
using detail::unsigned_of;

// Token buckets per token subject. Memory stays bounded: past many subjects the table starts
// over, which only ever grants a little more than the limit.
class rate_limiter {
public:
    rate_limiter(double per_second, double burst) : rate_(per_second), burst_(std::max(1.0, burst)) {}
    // Takes `n` tokens, all or none.
    bool allow(const std::string& key, double n = 1) {
        if (rate_ <= 0) return true;
        const auto now = steady::now();
        std::lock_guard lock(m_);
        if (buckets_.size() > 100'000) buckets_.clear();
        auto [it, fresh] = buckets_.try_emplace(key, bucket{burst_, now});
        auto& b = it->second;
        b.tokens = std::min(burst_, b.tokens + rate_ * std::chrono::duration<double>(now - b.at).count());
        b.at = now;
        if (b.tokens < n) return false;
        b.tokens -= n;
        return true;
    }

private:
    struct bucket {
        double tokens;
        steady::time_point at;
    };
    double rate_, burst_;
    std::mutex m_;
    std::unordered_map<std::string, bucket> buckets_;
};

constexpr std::size_t max_bulk_commands = 1000;

std::string rate_key(const token_claims& who) {
    return std::string(domain::to_string(who.role)) + '\n' + who.subject + '\n' + who.dealer_id;
}

// An answer before it becomes an HTTP response or a websocket reply.
struct answer {
    http::status status = http::status::ok;
    json::value body;
};

answer error_answer(http::status status, std::string_view error, std::string_view code, std::string_view message) {
    return {status, json::object{{"error", error}, {"code", code}, {"message", message}}};
}

answer too_many() {
    return error_answer(http::status::too_many_requests, "rate_limited", "rate_limited", "too many requests for this token; slow down");
}

// A stored event as the raw-event endpoints show it.
json::object event_json(const storage::recorded_event& e) {
    auto parsed = [](const std::string& text) -> json::value {
        if (text.empty()) return nullptr;
        boost::system::error_code ec;
        auto v = json::parse(text, ec);
        return ec ? json::value(text) : v;
    };
    return json::object{{"position", e.position},
                        {"stream", e.stream},
                        {"version", e.version},
                        {"type", e.type},
                        {"schema_version", e.schema_version},
                        {"recorded_at", domain::iso8601(e.recorded_at_us)},
                        {"actor", e.actor},
                        {"command_id", e.command_id},
                        {"correlation_id", e.correlation_id},
                        {"data", parsed(e.data)},
                        {"metadata", parsed(e.metadata)},
                        {"hash", storage::to_hex(e.hash)}};
}

// The token of "Authorization: Bearer <token>", or empty.
std::string_view bearer_token(const request& req) {
    constexpr std::string_view bearer = "Bearer ";
    const auto auth = req[http::field::authorization];
    if (!auth.starts_with(bearer)) return {};
    return {auth.data() + bearer.size(), auth.size() - bearer.size()};
}

class session;
class live_session;

}  // namespace

// Handlers and sessions refer to this by plain pointer: server::stop() joins every thread that
// could run them before it goes, and the counters outlive the io_context (declared first), whose
// destructor destroys the sessions still queued in it.
struct server::impl {
    impl(server_options o, storage::event_log& l, commands::handler& h, const projections::runner* r, projections::queries* q)
        : options(std::move(o)),
          log(l),
          handler(h),
          runner(r),
          reads(q),
          limiter(options.rate_limit, options.rate_burst),
          hub(l),
          pool(options.command_threads) {}

    server_options options;
    storage::event_log& log;
    commands::handler& handler;
    const projections::runner* runner;
    projections::queries* reads;
    std::atomic<std::size_t> connections{0}, in_flight{0}, live_connections{0};
    std::atomic<std::size_t> pending{0};  // tasks given to the pool and not finished
    api::metrics stats;
    rate_limiter limiter;
    detail::live_hub hub;
    std::atomic<std::uint64_t> next_request{0};
    std::atomic<bool> stopping{false}, stopped{false};
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
    // What the answer to a command needs once the handler has taken the command itself.
    struct command_note {
        std::string command_id, type;
        steady::time_point started;
    };
    // A command parsed strictly and ready for the handler, or the answer refusing it.
    struct prepared {
        commands::envelope env;
        command_note note;
    };
    tl::expected<prepared, answer> prepare(const token_claims& who, const json::value& body, std::string_view correlation_id);
    answer answer_of(const command_note&, const commands::result<commands::outcome>&);
    // One command, waiting for it (bulk requests, websocket messages: on the pool).
    answer execute(const token_claims& who, const json::value& body, std::string_view correlation_id);
    // POST /api/commands on the io thread: a single command goes to the handler without waiting
    // and is answered from its completion; a bulk request runs on the pool.
    void take_command(request req, const std::shared_ptr<session>& s, const std::string& id, steady::time_point started,
                      const std::string& what);
    response handle_bulk(const token_claims& who, const json::array& many, const request& req);
    response handle_query(const request& req, const std::string& path, const std::string& query);
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

namespace {

response to_response(answer a, bool keep_alive) {
    auto res = json_response(a.status, a.body, keep_alive);
    if (a.status == http::status::too_many_requests) res.set(http::field::retry_after, "1");
    return res;
}

// A write-behind layer under a live websocket: frames written while a send is in flight wait in
// a buffer and leave together in the next send, so a client that is behind costs one syscall for
// many small messages instead of one each. Everything Beast writes (the handshake, data, pings,
// pongs, close) passes through here in order, so frames never interleave. Past `max_waiting`
// bytes a writer's completion is held back until the buffer drains: a slow client still backs up
// into the session's bounded queue.
class coalescing_stream {
public:
    using executor_type = beast::tcp_stream::executor_type;
    using next_layer_type = beast::tcp_stream;
    static constexpr std::size_t max_waiting = 16 << 10;

    explicit coalescing_stream(beast::tcp_stream&& s) : next_(std::move(s)), st_(std::make_shared<state>()) {}
    ~coalescing_stream() { st_->stream = nullptr; }  // a send still in flight finds nobody
    coalescing_stream(const coalescing_stream&) = delete;
    coalescing_stream& operator=(const coalescing_stream&) = delete;

    executor_type get_executor() noexcept { return next_.get_executor(); }
    next_layer_type& next_layer() noexcept { return next_; }
    const next_layer_type& next_layer() const noexcept { return next_; }

    template <class Buffers, class Handler>
    auto async_read_some(const Buffers& buffers, Handler&& handler) {
        return next_.async_read_some(buffers, std::forward<Handler>(handler));
    }

    template <class Buffers, class Handler>
    auto async_write_some(const Buffers& buffers, Handler&& handler) {
        return net::async_initiate<Handler, void(beast::error_code, std::size_t)>(
            [this](auto h, const Buffers& b) {
                std::size_t n = 0;
                for (auto it = net::buffer_sequence_begin(b); it != net::buffer_sequence_end(b); ++it) {
                    const net::const_buffer piece(*it);
                    if (!st_->failed) st_->waiting.append(static_cast<const char*>(piece.data()), piece.size());
                    n += piece.size();
                }
                if (st_->failed) return complete(std::move(h), st_->failed, 0);
                send();
                if (st_->waiting.size() <= max_waiting) return complete(std::move(h), {}, n);
                st_->held.push_back(std::make_unique<held<decltype(h)>>(std::move(h), n, get_executor()));
            },
            handler, buffers);
    }

    // Runs `then(ec)` once everything written so far has been sent (or the connection failed).
    template <class F>
    void after_sent(F then) {
        if (st_->failed || (!st_->busy && st_->waiting.empty()))
            return net::post(get_executor(), [then = std::move(then), ec = st_->failed]() mutable { then(ec); });
        st_->held.push_back(std::make_unique<held<F>>(std::move(then), 0, get_executor(), /*drained=*/true));
    }

private:
    struct waiter {
        virtual ~waiter() = default;
        bool drained = false;  // waits for the whole buffer, not just for room
        virtual void done(beast::error_code) = 0;
    };
    template <class Handler>
    struct held final : waiter {
        held(Handler h, std::size_t n, executor_type ex, bool all = false) : h_(std::move(h)), n_(n), ex_(std::move(ex)) { drained = all; }
        void done(beast::error_code ec) override {
            if constexpr (std::is_invocable_v<Handler&, beast::error_code, std::size_t>) {
                auto where = net::get_associated_executor(h_, ex_);
                net::post(where, beast::bind_front_handler(std::move(h_), ec, ec ? 0 : n_));
            } else {
                net::post(ex_, [h = std::move(h_), ec]() mutable { h(ec); });
            }
        }
        Handler h_;
        std::size_t n_;
        executor_type ex_;
    };
    struct state {
        coalescing_stream* stream = nullptr;
        std::string waiting, out;  // written since the send in flight began; in flight
        bool busy = false;          // a send is in flight
        beast::error_code failed;
        std::deque<std::unique_ptr<waiter>> held;
    };

    template <class Handler>
    void complete(Handler h, beast::error_code ec, std::size_t n) {
        auto where = net::get_associated_executor(h, get_executor());
        net::post(where, beast::bind_front_handler(std::move(h), ec, n));
    }

    void send() {
        auto& st = *st_;
        if (st.busy || st.waiting.empty() || st.failed) return;
        st.busy = true;
        st.stream = this;
        st.out.swap(st.waiting);
        net::async_write(next_, net::buffer(st.out), [st = st_](beast::error_code ec, std::size_t) {
            st->out.clear();
            st->busy = false;
            if (ec) {
                st->failed = ec;
                st->waiting.clear();  // it cannot be sent any more
            }
            // Writers waiting for room, then those waiting for everything to be sent.
            while (!st->held.empty() && (st->failed || (!st->held.front()->drained && st->waiting.size() <= max_waiting) ||
                                         (st->held.front()->drained && st->waiting.empty()))) {
                auto w = std::move(st->held.front());
                st->held.pop_front();
                w->done(st->failed);
            }
            if (st->stream) st->stream->send();
        });
    }

    beast::tcp_stream next_;
    std::shared_ptr<state> st_;
};

// Beast tears a websocket down through its lowest layer once the close handshake is done; the
// close frame must have left our buffer first.
template <class Handler>
void async_teardown(beast::role_type role, coalescing_stream& s, Handler&& handler) {
    s.after_sent([&s, role, h = std::forward<Handler>(handler)](beast::error_code) mutable {
        using beast::websocket::async_teardown;
        async_teardown(role, s.next_layer().socket(), std::move(h));
    });
}

// One live-feed websocket (API.md "Live feed"). Catch-up is read from the log a page at a time,
// paced by the socket (the next page once the last is written); live updates the hub delivers
// meanwhile wait in `held_` and follow `caught_up`. Everything here runs on the connection's
// strand except deliver(), which only counts and posts.
class live_session : public detail::live_subscriber, public std::enable_shared_from_this<live_session> {
public:
    live_session(beast::tcp_stream&& stream, server::impl* app, token_claims who, detail::live_filter filter,
                 std::optional<std::uint64_t> from)
        : ws_(std::move(stream)), app_(app), who_(std::move(who)), filter_(std::move(filter)), from_(from) {
        app_->stats.connections(++app_->connections);
        app_->stats.live_connections(++app_->live_connections);
    }
    ~live_session() override {
        if (who_.role == domain::role::dealer) app_->release_live_socket(who_.dealer_id);
        app_->stats.live_connections(--app_->live_connections);
        app_->stats.connections(--app_->connections);
    }

    void start(request req) {
        beast::get_lowest_layer(ws_).expires_never();  // the websocket's own timeouts from here on
        beast::error_code ignored;
        if (app_->options.live_send_buffer_bytes)
            beast::get_lowest_layer(ws_).socket().set_option(
                net::socket_base::send_buffer_size(static_cast<int>(app_->options.live_send_buffer_bytes)), ignored);
        websocket::stream_base::timeout timeouts;
        timeouts.handshake_timeout = std::chrono::seconds(15);
        timeouts.idle_timeout = app_->options.idle_timeout;  // pings at half of it keep an idle client honest
        timeouts.keep_alive_pings = true;
        ws_.set_option(timeouts);
        ws_.read_message_max(app_->options.max_ws_message_bytes);
        ws_.set_option(websocket::stream_base::decorator([](websocket::response_type& res) { res.set(http::field::server, "dealerline"); }));
        auto held = std::make_shared<request>(std::move(req));
        ws_.async_accept(*held, [self = shared_from_this(), held](beast::error_code ec) { self->on_accept(ec); });
    }

    [[nodiscard]] const detail::live_filter& filter() const override { return filter_; }

    // The hub's thread, under the hub's lock: count, and past the bound give up on this client.
    void deliver(const detail::update_ptr& u) override {
        if (dropped_) return;
        if (queued_.fetch_add(1) >= app_->options.live_queue_messages) {
            dropped_ = true;
            net::post(ws_.get_executor(), [self = shared_from_this()] { self->drop_slow(); });
            return;
        }
        net::post(ws_.get_executor(), [self = shared_from_this(), u] { self->on_live(u); });
    }

    // From any thread: the server is stopping.
    void going_away() {
        net::post(ws_.get_executor(), [self = shared_from_this()] { self->close(websocket::close_code::going_away, "server stopping"); });
    }

    // Only when no io thread runs any more.
    void close_now() {
        beast::error_code ec;
        beast::get_lowest_layer(ws_).socket().close(ec);
    }

private:
    struct outgoing {
        std::shared_ptr<const std::string> text;
        bool counted = false;  // one of the hub's deliveries (queued_)
    };

    void on_accept(beast::error_code ec) {
        if (ec) return;  // the handshake failed or timed out: nothing was subscribed
        const auto hub_at = app_->hub.subscribe(shared_from_this());
        // Everything after hub_at comes from the hub; (from, hub_at] is read from the log. A
        // client ahead of the hub (it resumed from a position the hub has not reached yet)
        // simply skips the hub's updates up to its own position.
        caught_up_at_ = std::max(hub_at, from_.value_or(hub_at));
        cursor_ = from_.value_or(hub_at);
        read_next();
        catch_up();
    }

    void catch_up() {
        if (reading_log_ || closing_) return;
        if (cursor_ >= caught_up_at_) {
            live_ = true;
            enqueue(std::make_shared<const std::string>(
                        json::serialize(json::object{{"type", "caught_up"}, {"position", caught_up_at_}})),
                    false);
            for (auto& u : held_) {
                if (u->position > caught_up_at_) enqueue(std::shared_ptr<const std::string>(u, &u->json), true);
                else --queued_;
            }
            held_.clear();
            return;
        }
        reading_log_ = true;
        const bool taken = app_->offload([self = shared_from_this(), after = cursor_, to = caught_up_at_] {
            auto page = self->app_->hub.read(after, to, 500, self->filter_);
            net::post(self->ws_.get_executor(), [self, after, page = std::move(page)]() mutable { self->on_page(after, std::move(page)); });
        });
        if (!taken) reading_log_ = false;  // stopping: going_away() follows
    }

    void on_page(std::uint64_t after, storage::result<detail::live_hub::page> page) {
        reading_log_ = false;
        if (!page || page->last <= after) {
            spdlog::error("live feed: catch-up after position {} failed: {}", after, page ? "no progress" : page.error().message);
            return close(websocket::close_code::internal_error, "cannot read the log; reconnect later");
        }
        for (auto& u : page->updates) enqueue(std::shared_ptr<const std::string>(u, &u->json), false);
        cursor_ = page->last;
        if (out_.empty()) catch_up();  // nothing of it was for this client: read on
    }

    void on_live(const detail::update_ptr& u) {
        if (closing_) {
            --queued_;
            return;
        }
        if (expired()) return;
        if (!live_) return held_.push_back(u);
        if (u->position <= caught_up_at_) {
            --queued_;
            return;
        }
        enqueue(std::shared_ptr<const std::string>(u, &u->json), true);
    }

    bool expired() {
        if (who_.expires_at > unix_seconds()) return false;
        close(websocket::close_code::policy_error, "token expired");
        return true;
    }

    void enqueue(std::shared_ptr<const std::string> text, bool counted) {
        if (closing_) {
            if (counted) --queued_;
            return;
        }
        out_.push_back({std::move(text), counted});
        write_next();
    }

    void write_next() {
        if (writing_ || out_.empty() || closing_) return;
        writing_ = true;
        ws_.text(true);
        ws_.async_write(net::buffer(*out_.front().text), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            self->on_write(ec, n);
        });
    }

    void on_write(beast::error_code ec, std::size_t bytes) {
        writing_ = false;
        if (out_.front().counted) --queued_;
        out_.pop_front();
        if (ec) return drop_queue();  // the connection is gone; the read side ends the session
        app_->stats.live_sent(bytes);
        if (!live_ && out_.empty()) catch_up();
        write_next();
    }

    // Commands over the socket: {"command": {…as POST /api/commands…}} → {"reply": {…}}. One at a
    // time per socket: the next message is read once the reply is queued.
    void read_next() {
        ws_.async_read(in_, [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec) {
        if (ec) return drop_queue();  // closed by the peer, too big (Beast answered 1009), timed out
        const std::string text = beast::buffers_to_string(in_.data());
        in_.consume(in_.size());
        if (expired()) return;
        auto reply = [self = shared_from_this()](answer a) {
            json::object body = a.body.is_object() ? std::move(a.body.get_object()) : json::object{};
            body["status"] = static_cast<unsigned>(a.status);
            self->enqueue(std::make_shared<const std::string>(json::serialize(json::object{{"reply", std::move(body)}})), false);
            self->read_next();
        };
        auto command = detail::parse_live_message(text, app_->options.max_json_depth);
        if (!command) return reply(error_answer(http::status::bad_request, "bad_request", command.error().code, command.error().message));
        if (!app_->within_rate(who_)) return reply(too_many());
        const bool taken = app_->offload([self = shared_from_this(), command = std::move(*command), reply]() mutable {
            auto a = self->app_->execute(self->who_, command, "");
            net::post(self->ws_.get_executor(), [reply, a = std::move(a)]() mutable { reply(std::move(a)); });
        });
        if (!taken) reply(error_answer(http::status::service_unavailable, "unavailable", "shutting_down", "the server is stopping"));
    }

    void drop_slow() {
        app_->stats.live_dropped_slow();
        spdlog::warn("live feed: closing a slow client ({} updates waiting)", queued_.load());
        close(websocket::close_code::try_again_later, "too slow: reconnect with from_position of the last update you got");
    }

    void close(websocket::close_code code, std::string_view reason) {
        if (closing_) return;
        closing_ = true;
        drop_queue();
        ws_.async_close(websocket::close_reason(code, reason), [self = shared_from_this()](beast::error_code) {});
    }

    // Frees what waits to be sent (not the message being written: its buffer is in use).
    void drop_queue() {
        closing_ = true;
        for (std::size_t i = writing_ ? 1 : 0; i < out_.size(); ++i)
            if (out_[i].counted) --queued_;
        out_.erase(out_.begin() + (writing_ && !out_.empty() ? 1 : 0), out_.end());
        for (std::size_t i = 0; i < held_.size(); ++i) --queued_;
        held_.clear();
    }

    websocket::stream<coalescing_stream> ws_;
    server::impl* app_;
    token_claims who_;
    detail::live_filter filter_;
    std::optional<std::uint64_t> from_;
    std::uint64_t caught_up_at_ = 0, cursor_ = 0;
    bool live_ = false, writing_ = false, reading_log_ = false, closing_ = false;
    std::deque<outgoing> out_;
    std::vector<detail::update_ptr> held_;  // live updates that arrived during catch-up
    std::atomic<std::size_t> queued_{0};    // delivered by the hub and not yet written or dropped
    std::atomic<bool> dropped_{false};
    beast::flat_buffer in_;
};

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& socket, server::impl* app) : stream_(std::move(socket)), app_(app) {}
    ~session() { app_->stats.connections(--app_->connections); }

    void run() {
        net::dispatch(stream_.get_executor(), beast::bind_front_handler(&session::read, shared_from_this()));
    }

    // From any thread: the response goes out on this connection's strand.
    void send(response res, std::string request_id, steady::time_point started, std::string what) {
        replied_ = true;
        net::post(stream_.get_executor(), [self = shared_from_this(), res = std::move(res), id = std::move(request_id), started,
                                           what = std::move(what)]() mutable {
            self->write(std::move(res), id, started, what);
        });
    }

    // On this connection's strand (route()): hands the socket to a live session. Whatever the
    // client sent after the upgrade request before our 101 is lost; clients wait for the 101.
    std::shared_ptr<live_session> upgrade(request req, token_claims who, detail::live_filter filter, std::optional<std::uint64_t> from,
                                          const std::string& id, steady::time_point started) {
        --app_->in_flight;
        app_->stats.request(101);
        spdlog::info("request {} {} GET /api/live 101 {:.1f} ms", id, peer_.address().to_string(),
                     std::chrono::duration<double, std::milli>(steady::now() - started).count());
        auto live = std::make_shared<live_session>(std::move(stream_), app_, std::move(who), std::move(filter), from);
        live->start(std::move(req));
        return live;
    }

    // Only when no io thread runs any more (the end of server::stop()).
    void close_now() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
        stream_.socket().close(ec);
    }

    // From any thread: drop the connection (server stopping); a pending read ends at once.
    void cancel() {
        net::post(stream_.get_executor(), [self = shared_from_this()] {
            beast::error_code ec;
            self->stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
            self->stream_.socket().close(ec);
        });
    }

private:
    void read() {
        beast::error_code ec;
        peer_ = stream_.socket().remote_endpoint(ec);
        parser_.emplace();
        parser_->body_limit(app_->options.max_body_bytes);
        parser_->header_limit(static_cast<std::uint32_t>(app_->options.max_header_bytes));
        admitted_.reset();
        stream_.expires_after(app_->options.request_timeout);
        // The headers first: a body is read only for a request whose token and rate admit it, so
        // that nobody without a valid token makes us buffer megabytes.
        http::async_read_header(stream_, buffer_, *parser_, beast::bind_front_handler(&session::on_header, shared_from_this()));
    }

    void on_header(beast::error_code ec, std::size_t) {
        if (ec || parser_->is_done()) return on_read(ec, 0);  // errors and body-less requests as before
        auto who = app_->admit(bearer_token(parser_->get()));
        if (!who) {
            // Refused before its body: answer and close (the unread body makes the stream unusable).
            ++app_->in_flight;
            drain_ = true;
            if (who.error().status == http::status::unauthorized && parser_->get().target().starts_with("/api/commands"))
                app_->stats.command("unknown", "unauthorized", 0, 0);
            auto res = to_response(std::move(who.error()), false);
            return write(std::move(res), std::to_string(++app_->next_request), steady::now(),
                         std::string(parser_->get().method_string()) + " " + std::string(parser_->get().target().substr(0, parser_->get().target().find('?'))));
        }
        admitted_ = std::move(*who);
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

public:
    // The claims of a request already admitted when its headers came (requests with a body),
    // once: the rate token is not charged twice.
    std::optional<token_claims> take_admitted() {
        auto out = std::move(admitted_);
        admitted_.reset();
        return out;
    }

private:

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted) return close();
        const auto started = steady::now();
        const auto id = std::to_string(++app_->next_request);
        ++app_->in_flight;  // until its response is written
        if (ec == http::error::body_limit)
            return write(error_response(http::status::payload_too_large, "payload_too_large", "body_too_large",
                                        "the body is over " + std::to_string(app_->options.max_body_bytes) + " bytes", false),
                         id, started, "(body too large)");
        if (ec == http::error::header_limit)
            return write(error_response(http::status::request_header_fields_too_large, "bad_request", "headers_too_large",
                                        "the headers are too large", false),
                         id, started, "(headers too large)");
        if (ec)  // not HTTP, or the peer went away: say so if it still listens, then close
            return write(error_response(http::status::bad_request, "bad_request", "malformed_http", ec.message(), false), id,
                         started, "(malformed)");
        // The last place a request's exception can be caught: answer 500 (unless an answer is
        // already on its way) and go on serving everyone else.
        replied_ = false;
        auto route = [&] { app_->route(parser_->release(), shared_from_this(), id, started); };
        if (!app_->last_resort("request " + id, route) && !replied_.load())
            write(app_->internal_response(id, "(routing)", "see the error above"), id, started, "(failed)");
    }

    void write(response res, const std::string& id, steady::time_point started, const std::string& what) {
        res.set("X-Request-Id", id);
        if (app_->stopping) res.keep_alive(false);
        app_->stats.request(res.result_int());
        spdlog::info("request {} {} {} {} {:.1f} ms", id, peer_.address().to_string(), what, res.result_int(),
                     std::chrono::duration<double, std::milli>(steady::now() - started).count());
        auto held = std::make_shared<response>(std::move(res));
        // A fresh deadline for the answer: the request's may have run out while a command
        // waited on the pool, and a client that does not read must not hold us forever.
        stream_.expires_after(app_->options.request_timeout);
        http::async_write(stream_, *held, [self = shared_from_this(), held](beast::error_code ec, std::size_t) {
            self->on_write(ec, held->keep_alive());
        });
    }

    void on_write(beast::error_code ec, bool keep_alive) {
        --app_->in_flight;
        if (!ec && drain_) return linger();
        if (ec || !keep_alive) return close();
        read();
    }

    // After refusing a request before its body: stop sending, then read and drop what the client
    // still sends (a little, for a short while), so that closing with unread bytes does not reset
    // the connection before the client has read our answer.
    void linger() {
        close();
        drained_ = 0;
        stream_.expires_after(std::chrono::seconds(2));
        drop_some();
    }
    void drop_some() {
        stream_.async_read_some(net::buffer(discard_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            self->drained_ += n;
            if (!ec && self->drained_ < (4u << 20)) self->drop_some();
        });
    }

    void close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    server::impl* app_;
    tcp::endpoint peer_;
    std::atomic<bool> replied_{false};  // send() was called for the request being routed
    std::optional<token_claims> admitted_;
    bool drain_ = false;  // the request was refused before its body: linger, then close
    std::size_t drained_ = 0;
    std::array<char, 4096> discard_{};
};

}  // namespace

template <class F>
void server::impl::answer_on_pool(const std::shared_ptr<session>& s, const std::string& id, steady::time_point started,
                                  const std::string& what, F make) {
    auto task = [this, s, id, started, what, make = std::move(make)]() mutable {
        std::optional<response> res;
        auto run = [&] { res.emplace(make()); };
        if (!last_resort("request " + id + " " + what, run)) res.emplace(internal_response(id, what, "see the error above"));
        s->send(std::move(*res), id, started, what);
    };
    if (!offload(std::move(task)))
        s->send(error_response(http::status::service_unavailable, "unavailable", "shutting_down", "the server is stopping", false), id,
                started, what);
}

void server::impl::accept() {
    acceptor->async_accept(net::make_strand(ioc), [self = this](beast::error_code ec, tcp::socket socket) {
        if (self->stopping) return;
        if (ec && ec.category() == boost::system::system_category() &&
            (ec.value() == EMFILE || ec.value() == ENFILE || ec.value() == ENOBUFS || ec.value() == ENOMEM)) {
            // Out of descriptors or memory: accepting again at once would spin on the same error.
            // Wait for connections to close, longer each time it happens again.
            spdlog::warn("cannot accept connections: {}; trying again in {} ms", ec.message(), self->accept_backoff.count());
            self->stats.internal_error("accept");
            self->accept_timer->expires_after(self->accept_backoff);
            self->accept_backoff = std::min(self->accept_backoff * 2, std::chrono::milliseconds(1000));
            self->accept_timer->async_wait([self](beast::error_code) {
                if (!self->stopping) self->accept();
            });
            return;
        }
        if (!ec) self->accept_backoff = std::chrono::milliseconds(10);
        if (!ec) {
            if (self->connections.load() >= self->options.max_connections) {
                beast::error_code ignored;
                socket.close(ignored);  // over the cap: refused at once rather than slowing everyone
            } else {
                self->stats.connections(++self->connections);
                auto s = std::make_shared<session>(std::move(socket), self);
                {
                    std::lock_guard lock(self->sessions_m);
                    if (self->sessions.size() > 2 * self->connections.load() + 64)
                        std::erase_if(self->sessions, [](const auto& w) { return w.expired(); });
                    self->sessions.push_back(s);
                }
                s->run();
            }
        }
        self->accept();
    });
}

void server::impl::route(request req, std::shared_ptr<session> s, std::string id, steady::time_point started) {
    const std::string target(req.target());
    const auto question = target.find('?');
    const std::string path = target.substr(0, question);
    const std::string query = question == std::string::npos ? "" : target.substr(question + 1);
    const std::string what = std::string(req.method_string()) + " " + path;  // never the query: it may hold a token
    const bool keep_alive = req.keep_alive();
    auto reply = [&](response res) { s->send(std::move(res), id, started, what); };
    auto only = [&](http::verb verb) {
        if (req.method() == verb) return true;
        reply(error_response(http::status::method_not_allowed, "bad_request", "method_not_allowed",
                             "use " + std::string(http::to_string(verb)), keep_alive));
        return false;
    };
    auto shutting_down = [&] {
        reply(error_response(http::status::service_unavailable, "unavailable", "shutting_down", "the server is stopping", false));
    };

    if (path == "/healthz") {
        if (only(http::verb::get)) reply(json_response(http::status::ok, json::object{{"status", "ok"}}, keep_alive));
        return;
    }
    if (path == "/" || path == "/index.html") {
        if (!only(http::verb::get)) return;
        response res{http::status::ok, 11};
        res.set(http::field::content_type, "text/html; charset=utf-8");
        res.set(http::field::cache_control, "no-cache");
        res.keep_alive(keep_alive);
        res.body() = std::string(detail::portal_page);
        res.prepare_payload();
        return reply(std::move(res));
    }
    if (path == "/metrics") {
        if (!only(http::verb::get)) return;
        response res{http::status::ok, 11};
        res.set(http::field::content_type, "text/plain; version=0.0.4");
        res.keep_alive(keep_alive);
        res.body() = stats.render(log.head_position(), runner ? runner->statuses() : std::vector<projections::status>{});
        res.prepare_payload();
        return reply(std::move(res));
    }
    if (path == "/readyz") {
        if (!only(http::verb::get)) return;
        return reply(readiness(keep_alive));
    }
    if (path == "/api/live") {
        if (!only(http::verb::get)) return;
        if (stopping) return shutting_down();
        return upgrade(std::move(req), s, query, id, started);
    }
    if (path == "/api/commands") {
        if (!only(http::verb::post)) return;
        return take_command(std::move(req), s, id, started, what);
    }
    const bool read_model = reads && (path == "/api/orders" || path.starts_with("/api/orders/") || path == "/api/claims" ||
                                      path.starts_with("/api/claims/") || path.starts_with("/api/dealers/") || path == "/api/stock" ||
                                      path == "/api/subscriptions");
    if (read_model || path == "/api/events" || path.starts_with("/api/streams/")) {
        if (!only(http::verb::get)) return;
        auto shared = std::make_shared<request>(std::move(req));
        return answer_on_pool(s, id, started, what, [this, shared, path, query] { return handle_query(*shared, path, query); });
    }
    reply(error_response(http::status::not_found, "not_found", "no_route", "no such path: " + path, keep_alive));
}

// GET /api/live: everything is checked before the upgrade, so a refused client gets a plain
// HTTP answer (401, 403, 400, 429) and never a socket.
void server::impl::upgrade(request req, const std::shared_ptr<session>& s, const std::string& query, std::string id,
                           steady::time_point started) {
    const bool keep_alive = req.keep_alive();
    auto refuse = [&](answer a) { s->send(to_response(std::move(a), keep_alive), id, started, "GET /api/live"); };
    auto bad = [&](const std::string& message) { refuse(error_answer(http::status::bad_request, "bad_request", "bad_request", message)); };
    if (!websocket::is_upgrade(req))
        return refuse(error_answer(http::status::upgrade_required, "bad_request", "upgrade_required", "GET /api/live is a websocket: upgrade"));
    const auto params = parse_query(query);
    if (!params) return bad(params.error());
    for (const auto& [key, _] : *params)
        if (key != "from_position" && key != "dealer_id" && key != "types" && key != "access_token") return bad("unknown parameter " + key);
    auto param = [&](const char* key) -> std::optional<std::string> {
        auto it = params->find(key);
        return it == params->end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    // Browsers cannot set headers on a websocket: the token may come in the URL instead.
    std::string token(bearer_token(req));
    if (auto t = param("access_token"); token.empty() && t) token = *t;
    auto who = admit(token);
    if (!who) return refuse(std::move(who.error()));
    // A browser says where the page came from: our own page, or an allowed origin.
    if (const auto origin = req[http::field::origin]; !origin.empty()) {
        const std::string host(req[http::field::host]);
        bool allowed = origin == "http://" + host || origin == "https://" + host;
        for (const auto& o : options.allowed_origins) allowed = allowed || origin == o;
        if (!allowed)
            return refuse(error_answer(http::status::forbidden, "forbidden", "origin_not_allowed",
                                       "websocket upgrades from " + std::string(origin) + " are not allowed"));
    }
    detail::live_filter filter;
    filter.dealer_id = param("dealer_id");
    if (who->role == domain::role::dealer) {
        if (filter.dealer_id && *filter.dealer_id != who->dealer_id)
            return refuse(error_answer(http::status::forbidden, "forbidden", "forbidden", "a dealer receives only its own updates"));
        filter.dealer_id = who->dealer_id;
    }
    if (auto types = param("types")) {
        std::string_view rest = *types;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const auto type = rest.substr(0, comma);
            rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
            if (type != "order_status" && type != "claim_status" && type != "account_entry")
                return bad("types: expected order_status, claim_status and/or account_entry");
            filter.types.emplace(type);
        }
    }
    std::optional<std::uint64_t> from;
    if (auto f = param("from_position")) {
        from = unsigned_of(*f);
        if (!from) return bad("from_position: expected a non-negative integer");
        if (*from > log.head_position()) return bad("from_position: the log has no position " + *f + " yet");
    }
    // One dealer's sockets are capped: a script gone wrong must not take every connection.
    if (who->role == domain::role::dealer && !claim_live_socket(who->dealer_id))
        return refuse(error_answer(http::status::too_many_requests, "rate_limited", "too_many_live_sockets",
                                   "dealer " + who->dealer_id + " has " + std::to_string(options.max_live_per_dealer) +
                                       " live sockets open already; close one first"));
    auto live = s->upgrade(std::move(req), std::move(*who), std::move(filter), from, id, started);
    std::lock_guard lock(sessions_m);
    if (live_sessions.size() > 2 * live_connections.load() + 64)
        std::erase_if(live_sessions, [](const auto& w) { return w.expired(); });
    live_sessions.push_back(std::move(live));
}

// One command, from POST /api/commands or a websocket: parse strictly, run, answer.
tl::expected<server::impl::prepared, answer> server::impl::prepare(const token_claims& who, const json::value& body,
                                                                   std::string_view correlation_id) {
    const auto started = steady::now();
    auto parsed = parse_command_request(body);
    if (!parsed) {
        stats.command("unknown", "bad_request", std::chrono::duration<double>(steady::now() - started).count(), 0);
        return tl::unexpected(error_answer(http::status::bad_request, "bad_request", parsed.error().code, parsed.error().message));
    }
    if (stopping)
        return tl::unexpected(error_answer(http::status::service_unavailable, "unavailable", "shutting_down", "the server is stopping"));
    command_note note{parsed->command_id, std::string(domain::codec::command_type(parsed->command)), started};
    return prepared{commands::envelope{std::move(parsed->command_id), std::move(parsed->command), who.actor(),
                                       parsed->expected_version, std::string(correlation_id.substr(0, 128))},
                    std::move(note)};
}

answer server::impl::answer_of(const command_note& p, const commands::result<commands::outcome>& outcome) {
    stats.command(p.type, outcome ? (outcome->duplicate ? "duplicate" : "ok") : error_of(outcome.error().what),
                  std::chrono::duration<double>(steady::now() - p.started).count(),
                  outcome && !outcome->duplicate ? outcome->positions.size() : 0);
    if (!outcome) return error_answer(status_of(outcome.error().what), error_of(outcome.error().what), outcome.error().code, outcome.error().message);
    json::array positions, events;
    for (auto position : outcome->positions) positions.emplace_back(position);
    for (const auto& e : outcome->events) events.emplace_back(e);
    return {http::status::ok, json::object{{"command_id", p.command_id},
                                           {"stream", outcome->stream},
                                           {"version", outcome->version},
                                           {"positions", std::move(positions)},
                                           {"events", std::move(events)},
                                           {"duplicate", outcome->duplicate}}};
}

answer server::impl::execute(const token_claims& who, const json::value& body, std::string_view correlation_id) {
    auto p = prepare(who, body, correlation_id);
    if (!p) return std::move(p.error());
    return answer_of(p->note, handler.handle(p->env));
}

void server::impl::take_command(request req, const std::shared_ptr<session>& s, const std::string& id, steady::time_point started,
                                const std::string& what) {
    const bool keep_alive = req.keep_alive();
    auto reply = [s, id, started, what](response res) { s->send(std::move(res), id, started, what); };
    auto pre = s->take_admitted();
    auto who = pre ? tl::expected<token_claims, answer>(std::move(*pre)) : admit(bearer_token(req));
    if (!who) {
        if (who.error().status == http::status::unauthorized) stats.command("unknown", "unauthorized", 0, 0);
        return reply(to_response(std::move(who.error()), keep_alive));
    }
    auto body = parse_json(req.body(), options.max_json_depth, "the body");
    if (!body) {
        stats.command("unknown", "bad_request", 0, 0);
        return reply(error_response(http::status::bad_request, "bad_request", body.error().code, body.error().message, keep_alive));
    }
    if (body->is_array()) {
        // Bulk: each command waits for the one before, so the whole request runs on the pool.
        auto shared = std::make_shared<request>(std::move(req));
        return answer_on_pool(s, id, started, what, [this, who = std::move(*who), many = std::move(body->get_array()), shared] {
            return handle_bulk(who, many, *shared);
        });
    }
    // Counted like a pool task, before prepare() looks at `stopping`: stop() waits until its
    // answer is on its way.
    ++pending;
    auto p = prepare(*who, *body, req["X-Correlation-Id"]);
    if (!p) {
        const bool keep = keep_alive && p.error().status != http::status::service_unavailable;
        reply(to_response(std::move(p.error()), keep));
        --pending;
        return;
    }
    handler.handle_async(std::move(p->env), [this, reply, keep_alive, id, what, note = std::move(p->note)](
                                                 commands::result<commands::outcome> outcome) {
        // On one of the log's threads: nothing may escape from here.
        auto answer = [&] {
            auto a = answer_of(note, outcome);
            const bool keep = keep_alive && a.status != http::status::service_unavailable;
            reply(to_response(std::move(a), keep));
        };
        if (!last_resort("the answer to command " + note.command_id, answer)) {
            try {
                reply(internal_response(id, what, "answering the command failed"));
            } catch (...) {
            }
        }
        --pending;
    });
}

response server::impl::handle_bulk(const token_claims& who, const json::array& many, const request& req) {
    const bool keep_alive = req.keep_alive();
    // In bulk (the accounting sync): an array of commands, run in order, each answered as alone;
    // one refused does not stop the others. 200 with every result.
    if (many.empty() || many.size() > max_bulk_commands)
        return error_response(http::status::bad_request, "bad_request", "bad_request",
                              "a bulk request holds 1 to " + std::to_string(max_bulk_commands) + " commands", keep_alive);
    // Not a list of commands at all: refused whole, before anything runs.
    for (std::size_t i = 0; i < many.size(); ++i)
        if (!many[i].is_object())
            return error_response(http::status::bad_request, "bad_request", "bad_request",
                                  "the body must be a JSON object, or an array of them (element " + std::to_string(i) + " is not)",
                                  keep_alive);
    // One rate token per command: the request was admitted with one, the rest are taken now,
    // all or none (a bulk larger than the token's burst never fits: send smaller ones).
    if (many.size() > 1 && !limiter.allow(rate_key(who), static_cast<double>(many.size() - 1))) {
        stats.rate_limited();
        auto res = error_response(http::status::too_many_requests, "rate_limited", "rate_limited",
                                  "a bulk of " + std::to_string(many.size()) +
                                      " commands needs as many rate tokens; this token has fewer now: send smaller bulks or wait",
                                  keep_alive);
        res.set(http::field::retry_after, "1");
        return res;
    }
    json::array results;
    for (const auto& one : many) {
        auto a = execute(who, one, req["X-Correlation-Id"]);
        json::object r = a.body.is_object() ? std::move(a.body.get_object()) : json::object{};
        r["status"] = static_cast<unsigned>(a.status);
        results.emplace_back(std::move(r));
    }
    return json_response(http::status::ok, json::object{{"results", std::move(results)}}, keep_alive && !stopping);
}

tl::expected<token_claims, answer> server::impl::authenticate(std::string_view token) {
    if (token.empty())
        return tl::unexpected(error_answer(http::status::unauthorized, "unauthorized", "missing_token", "send Authorization: Bearer <token>"));
    auto claims = verify_token(options.jwt_secret, token, unix_seconds());
    if (!claims) return tl::unexpected(error_answer(http::status::unauthorized, "unauthorized", claims.error().code, claims.error().message));
    return *claims;
}

// The GET endpoints: orders and claims from the read models (dealer-scoped for dealer tokens),
// raw events and streams from the log (auditors and admins).
response server::impl::handle_query(const request& req, const std::string& path, const std::string& query) {
    const bool keep_alive = req.keep_alive();
    auto who = admit(bearer_token(req));
    if (!who) return to_response(std::move(who.error()), keep_alive);
    auto bad = [&](const std::string& message) {
        return error_response(http::status::bad_request, "bad_request", "bad_request", message, keep_alive);
    };
    auto unavailable = [&](const std::string& message) {
        return error_response(http::status::service_unavailable, "unavailable", "read_models_unavailable", message, keep_alive);
    };
    const auto params = parse_query(query);
    if (!params) return bad(params.error());
    auto param = [&](const char* key) -> std::optional<std::string> {
        auto it = params->find(key);
        return it == params->end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    auto accept_only = [&](std::initializer_list<std::string_view> keys) -> std::optional<std::string> {
        for (const auto& [key, _] : *params)
            if (std::find(keys.begin(), keys.end(), key) == keys.end()) return "unknown parameter " + key;
        return std::nullopt;
    };
    auto limit_of = [&](std::size_t fallback, std::size_t max) -> std::optional<std::size_t> {
        auto text = param("limit");
        if (!text) return fallback;
        const auto n = unsigned_of(*text);
        if (!n || *n < 1 || *n > max) return std::nullopt;
        return static_cast<std::size_t>(*n);
    };
    auto json_body = [&](std::string text) {
        response res{http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        res.set(http::field::cache_control, "no-store");
        res.keep_alive(keep_alive);
        res.body() = std::move(text);
        res.prepare_payload();
        return res;
    };

    // Raw events, straight from the log.
    if (path == "/api/events" || path.starts_with("/api/streams/")) {
        if (who->role != domain::role::auditor && who->role != domain::role::admin)
            return error_response(http::status::forbidden, "forbidden", "forbidden", "raw events are for auditors and admins", keep_alive);
        const auto limit = limit_of(100, 1000);
        if (!limit) return bad("limit: expected an integer from 1 to 1000");
        json::array list;
        json::object out;
        if (path == "/api/events") {
            if (auto wrong = accept_only({"from_position", "limit", "type"})) return bad(*wrong);
            std::uint64_t from = 1;
            if (auto f = param("from_position")) {
                const auto n = unsigned_of(*f);
                if (!n) return bad("from_position: expected a non-negative integer");
                from = std::max<std::uint64_t>(1, *n);
            }
            std::set<std::string, std::less<>> types;
            if (auto t = param("type")) {
                std::string_view rest = *t;
                while (!rest.empty()) {
                    const auto comma = rest.find(',');
                    types.emplace(rest.substr(0, comma));
                    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
                }
            }
            // A type filter scans at most this far per page; next_position says where to go on.
            const std::uint64_t head = log.head_position();
            const std::uint64_t scan_to = std::min(head, from + std::max<std::uint64_t>(*limit, 10'000) - 1);
            std::uint64_t next = from;
            while (list.size() < *limit && next <= scan_to) {
                auto events = log.read_all(next, std::min<std::uint64_t>(1000, scan_to - next + 1));
                if (!events) return unavailable(events.error().message);
                if (events->empty()) break;
                for (const auto& e : *events) {
                    next = e.position + 1;
                    if (types.empty() || types.contains(e.type)) list.emplace_back(event_json(e));
                    if (list.size() == *limit) break;
                }
            }
            out["events"] = std::move(list);
            out["next_position"] = next <= head ? json::value(next) : json::value(nullptr);
            out["head"] = head;
        } else {
            if (auto wrong = accept_only({"from_version", "limit"})) return bad(*wrong);
            const auto stream_or = detail::path_stream(std::string_view(path).substr(std::string_view("/api/streams/").size()));
            if (!stream_or) return bad(stream_or.error());
            const std::string& stream = *stream_or;
            std::uint64_t from = 1;
            if (auto f = param("from_version")) {
                const auto n = unsigned_of(*f);
                if (!n) return bad("from_version: expected a non-negative integer");
                from = std::max<std::uint64_t>(1, *n);
            }
            auto version = log.stream_version(stream);
            if (!version) return unavailable(version.error().message);
            if (*version == 0) return error_response(http::status::not_found, "not_found", "not_found", "no stream " + stream, keep_alive);
            auto events = log.read_stream(stream, from, *limit);
            if (!events) return unavailable(events.error().message);
            for (const auto& e : *events) list.emplace_back(event_json(e));
            const std::uint64_t next = events->empty() ? from : events->back().version + 1;
            out["stream"] = stream;
            out["version"] = *version;
            out["events"] = std::move(list);
            out["next_version"] = next <= *version ? json::value(next) : json::value(nullptr);
        }
        auto res = json_body(json::serialize(out));
        res.set("X-Log-Head", std::to_string(log.head_position()));
        return res;
    }

    // Read your own writes: wait (bounded) for the read models to reach min_position.
    // The next_cursor of a previous page (numeric cursors), or the 400 for a bad one.
    std::optional<std::uint64_t> cursor;
    if (auto c = param("cursor"); c && path != "/api/stock") {
        cursor = unsigned_of(*c);
        if (!cursor) return bad("cursor: expected the next_cursor of a previous page");
    }
    auto wait_for_min = [&]() -> std::optional<response> {
        if (auto min = param("min_position")) {
            const auto wanted = unsigned_of(*min);
            if (!wanted) return bad("min_position: expected a non-negative integer");
            // Beyond the head nothing can come within the wait: say so at once, holding no thread.
            if (const auto head = log.head_position(); *wanted > head)
                return bad("min_position: the log has no position " + *min + " yet (its head is " + std::to_string(head) + ")");
            if (runner) (void)runner->wait_for(*wanted, steady::now() + std::chrono::seconds(5));
        }
        return std::nullopt;
    };
    auto at_position = [&](const char* projection, response res) {
        auto at = reads->position(projection);
        if (!at) return unavailable(at.error().message);
        res.set("X-Projection-Position", std::to_string(*at));
        return res;
    };
    // GET /api/dealers/{id}/account: the dealer's settlements; a dealer sees its own only.
    if (path.starts_with("/api/dealers/")) {
        const std::string rest = path.substr(std::string_view("/api/dealers/").size());
        const auto slash = rest.find('/');
        if (slash == std::string::npos || rest.substr(slash) != "/account" || slash == 0 || slash > 3 * 64)
            return error_response(http::status::not_found, "not_found", "no_route", "no such path: " + path, keep_alive);
        const auto dealer_or = detail::path_id(std::string_view(rest).substr(0, slash), "dealer id");
        if (!dealer_or) return bad(dealer_or.error());
        const std::string& dealer_id = *dealer_or;
        if (auto wrong = accept_only({"limit", "cursor", "min_position"})) return bad(*wrong);
        if (who->role == domain::role::dealer && dealer_id != who->dealer_id)
            return error_response(http::status::forbidden, "forbidden", "forbidden", "a dealer sees only its own account", keep_alive);
        if (auto early = wait_for_min()) return std::move(*early);
        const auto limit = limit_of(50, 500);
        if (!limit) return bad("limit: expected an integer from 1 to 500");
        auto account = reads->account(dealer_id, *limit, cursor);
        if (!account) return unavailable(account.error().message);
        if (!*account)
            return at_position("portal_finance", error_response(http::status::not_found, "not_found", "not_found",
                                                                "dealer " + dealer_id + " has no account", keep_alive));
        return at_position("portal_finance", json_body(std::move(**account)));
    }
    if (path == "/api/stock") {
        if (who->role == domain::role::dealer)
            return error_response(http::status::forbidden, "forbidden", "forbidden", "stock levels are for the plant's staff", keep_alive);
        if (auto wrong = accept_only({"warehouse", "sku", "limit", "cursor", "min_position"})) return bad(*wrong);
        if (auto early = wait_for_min()) return std::move(*early);
        const auto limit = limit_of(100, 500);
        if (!limit) return bad("limit: expected an integer from 1 to 500");
        auto list = reads->stock({param("warehouse"), param("sku"), *limit, param("cursor")});
        if (!list) return unavailable(list.error().message);
        return at_position("portal_stock", json_body(std::move(*list)));
    }
    if (path == "/api/subscriptions") {
        if (auto wrong = accept_only({"status", "dealer_id", "limit", "cursor", "min_position"})) return bad(*wrong);
        std::optional<std::string> owner = param("dealer_id");
        if (who->role == domain::role::dealer) {
            if (owner && *owner != who->dealer_id)
                return error_response(http::status::forbidden, "forbidden", "forbidden", "a dealer sees only its own data", keep_alive);
            owner = who->dealer_id;
        }
        if (auto early = wait_for_min()) return std::move(*early);
        const auto limit = limit_of(50, 200);
        if (!limit) return bad("limit: expected an integer from 1 to 200");
        auto list = reads->subscriptions({owner, param("status"), *limit, cursor});
        if (!list) return unavailable(list.error().message);
        return at_position("portal_subscriptions", json_body(std::move(*list)));
    }

    const bool claims = path == "/api/claims" || path.starts_with("/api/claims/");
    const bool list = path == "/api/orders" || path == "/api/claims";
    if (auto wrong = list ? (claims ? accept_only({"status", "dealer_id", "order_id", "limit", "cursor", "min_position"})
                                    : accept_only({"status", "dealer_id", "limit", "cursor", "min_position"}))
                          : accept_only({"min_position"}))
        return bad(*wrong);
    // The dealer id of a dealer token is the only one it may see.
    std::optional<std::string> scope = param("dealer_id");
    if (who->role == domain::role::dealer) {
        if (scope && *scope != who->dealer_id)
            return error_response(http::status::forbidden, "forbidden", "forbidden", "a dealer sees only its own data", keep_alive);
        scope = who->dealer_id;
    }
    if (auto early = wait_for_min()) return std::move(*early);
    const char* projection = claims ? "portal_claims" : "portal_orders";
    auto status = param("status");
    if (status && status->size() > 32) return bad("status: unknown status");
    if (list) {
        const auto limit = limit_of(50, 200);
        if (!limit) return bad("limit: expected an integer from 1 to 200");
        auto page = claims ? reads->claims({scope, status, param("order_id"), *limit, cursor})
                                          : reads->orders({scope, status, *limit, cursor});
        if (!page) return unavailable(page.error().message);
        return at_position(projection, json_body(std::move(*page)));
    }
    const std::string prefix = claims ? "/api/claims/" : "/api/orders/";
    const std::string what = claims ? "claim" : "order";
    const std::string_view segment = std::string_view(path).substr(prefix.size());
    if (segment.find('/') != std::string_view::npos) return bad("expected " + prefix + "{id}");
    const auto id_or = detail::path_id(segment, what + " id");
    if (!id_or) return bad(id_or.error());
    const std::string& id = *id_or;
    auto one = claims ? reads->claim(id, scope) : reads->order(id, scope);
    if (!one) return unavailable(one.error().message);
    // Another dealer's order or claim looks exactly like one that does not exist.
    if (!*one)
        return at_position(projection,
                           error_response(http::status::not_found, "not_found", "not_found", what + " " + id + " does not exist", keep_alive));
    return at_position(projection, json_body(std::move(**one)));
}

// What /readyz says, worked out every half second off the request path (a probe that asked
// PostgreSQL itself would open a connection per call and hang with it).
void server::impl::refresh_readiness() {
    const auto head = log.head_position();
    bool ready = true;
    json::object log_state{{"open", true}, {"head", head}};
    const auto failure = log.failure();
    if (failure) {
        // Appends are refused until a restart: not ready, and why.
        log_state["open"] = false;
        log_state["error"] = *failure;
        ready = false;
        if (!std::exchange(log_failure_told, true))
            spdlog::critical("event log failed, appends are refused until a restart: {}", *failure);
    }
    const auto space = log.space();
    if (space.floor > 0) {
        log_state["free_bytes"] = space.free_bytes;
        log_state["min_free_bytes"] = space.floor;
        if (space.low()) {
            // Appends are refused until space returns (no restart needed).
            log_state["disk"] = "free space " + std::to_string(space.free_bytes) + " bytes is under the floor of " +
                                std::to_string(space.floor) + " (--min-free-bytes): appends are refused";
            ready = false;
        }
    }
    if (space.low() != space_low_told) {
        space_low_told = space.low();
        if (space_low_told)
            spdlog::error("event log's disk has {} bytes free, under --min-free-bytes {}: appends are refused until space returns",
                          space.free_bytes, space.floor);
        else
            spdlog::info("event log's disk has {} bytes free again: appends resume", space.free_bytes);
    }
    stats.log_state(failure.has_value(), space.free_bytes, space.low());
    json::object body{{"log", std::move(log_state)}};
    if (reads) {
        auto checked = reads->position("portal_orders");
        body["postgres"] = checked ? "ok" : checked.error().message;
        ready = ready && checked.has_value();
    } else if (!options.postgres.empty()) {
        auto checked = projections::read_status(options.postgres, head);
        body["postgres"] = checked ? "ok" : checked.error().message;
        ready = ready && checked.has_value();
    }
    if (runner) {
        json::array list;
        for (const auto& s : runner->statuses()) {
            const bool ok = s.state != "failed" && s.lag_events <= options.ready_max_lag;
            ready = ready && ok;
            json::object p{{"name", s.name}, {"position", s.position}, {"lag_events", s.lag_events}, {"state", s.state}};
            if (s.failed_position) {
                p["failed_position"] = *s.failed_position;
                p["error"] = s.error;
            }
            list.emplace_back(std::move(p));
        }
        body["projections"] = std::move(list);
    }
    json::object live{{"position", hub.position()}, {"connections", live_connections.load()}, {"errors", hub.errors()}};
    if (auto problem = hub.problem(); !problem.empty()) {
        live["error"] = problem;
        ready = false;
    }
    body["live"] = std::move(live);
    if (!options.background.empty()) {
        json::array list;
        for (const auto& c : options.background) {
            const auto h = c.health();
            json::object one{{"name", c.name}, {"ok", h.problem.empty()}, {"errors", h.errors}};
            if (!h.problem.empty()) one["error"] = h.problem;
            ready = ready && h.problem.empty();
            stats.component_errors(c.name, h.errors);
            list.emplace_back(std::move(one));
        }
        body["background"] = std::move(list);
    }
    body["checked_at"] = domain::iso8601(std::chrono::duration_cast<std::chrono::microseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    stats.component_errors("live", hub.errors());
    std::lock_guard lock(ready_m);
    ready_body = std::move(body);
    ready_now = ready;
}

void server::impl::fit_connections_to_descriptors() {
    constexpr rlim_t reserve = 512;  // the log's files, PostgreSQL connections, the process's own
    const rlim_t wanted = static_cast<rlim_t>(options.max_connections) + reserve;
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < wanted) {
        rlimit raised = limit;
        raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
    }
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted) return;
    const auto fits = limit.rlim_cur > 2 * reserve ? static_cast<std::size_t>(limit.rlim_cur - reserve)
                                                   : static_cast<std::size_t>(limit.rlim_cur / 2);
    spdlog::warn("the process may open {} files (RLIMIT_NOFILE, hard limit {}): serving at most {} connections instead of {}",
                 limit.rlim_cur, limit.rlim_max, fits, options.max_connections);
    options.max_connections = fits;
}

response server::impl::readiness(bool keep_alive) {
    json::value body;
    bool ready = false;
    {
        std::lock_guard lock(ready_m);
        body = ready_body;
        ready = ready_now && !stopping;
    }
    if (auto* o = body.if_object()) (*o)["ready"] = ready;
    return json_response(ready ? http::status::ok : http::status::service_unavailable, body, keep_alive);
}

server::server(server_options options, storage::event_log& log, commands::handler& handler, const projections::runner* runner,
               projections::queries* queries)
    : impl_(std::make_unique<impl>(std::move(options), log, handler, runner, queries)) {}

server::~server() { stop(); }

void server::start() {
    auto& i = *impl_;
    if (i.options.jwt_secret.size() < min_secret_bytes)
        throw std::runtime_error("the JWT secret must be at least " + std::to_string(min_secret_bytes) + " bytes");
    beast::error_code ec;
    const auto address = net::ip::make_address(i.options.host, ec);
    if (ec) throw std::runtime_error("cannot listen on " + i.options.host + ": " + ec.message());
    const tcp::endpoint endpoint{address, i.options.port};
    i.acceptor.emplace(net::make_strand(i.ioc));
    i.acceptor->open(endpoint.protocol(), ec);
    if (!ec) i.acceptor->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) i.acceptor->bind(endpoint, ec);
    if (!ec) i.acceptor->listen(net::socket_base::max_listen_connections, ec);
    if (ec) throw std::runtime_error("cannot listen on " + i.options.host + ":" + std::to_string(i.options.port) + ": " + ec.message());
    i.port = i.acceptor->local_endpoint().port();
    i.accept_timer.emplace(i.acceptor->get_executor());
    i.fit_connections_to_descriptors();
    i.hub.start();
    i.refresh_readiness();
    i.ready_thread = std::thread([&i] {
        pthread_setname_np(pthread_self(), "dl-ready");
        std::unique_lock lock(i.ready_stop_m);
        while (!i.ready_stop_cv.wait_for(lock, std::chrono::milliseconds(500), [&i] { return i.ready_stopping; })) {
            lock.unlock();
            auto refresh = [&i] { i.refresh_readiness(); };
            (void)i.last_resort("the readiness check", refresh);
            lock.lock();
        }
    });
    i.accept();
    for (std::size_t t = 0; t < i.options.io_threads; ++t)
        i.threads.emplace_back([&i] {
            pthread_setname_np(pthread_self(), "dl-io");  // for top -H and perf
            // An exception out of a handler leaves run(); the thread logs it and runs on.
            for (bool done = false; !done;) {
                auto run = [&] {
                    i.ioc.run();
                    done = true;
                };
                (void)i.last_resort("an io thread", run);
            }
        });
    spdlog::info("listening on http://{}:{}", i.options.host, i.port);
}

std::uint16_t server::port() const noexcept { return impl_->port; }

void server::stop() {
    auto& i = *impl_;
    if (i.stopped.exchange(true)) return;
    i.stopping = true;
    {
        std::lock_guard lock(i.ready_stop_m);
        i.ready_stopping = true;
    }
    i.ready_stop_cv.notify_all();
    if (i.ready_thread.joinable()) i.ready_thread.join();
    if (i.acceptor) net::post(i.acceptor->get_executor(), [&i] {
        beast::error_code ec;
        i.acceptor->close(ec);  // no new connections
        i.accept_timer->cancel();
    });
    auto wait_until = [](auto done, std::chrono::milliseconds at_most) {
        const auto deadline = steady::now() + at_most;
        while (!done() && steady::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    // Every command taken is answered (acknowledged means durable); none is taken any more.
    wait_until([&i] { return i.pending.load() == 0; }, std::chrono::seconds(30));
    i.pool.join();
    wait_until([&i] { return i.in_flight.load() == 0; }, std::chrono::seconds(5));  // the answers are written
    // Live clients are told we are going (1001) and reconnect elsewhere or later.
    i.hub.stop();
    auto alive = [&i](auto& list) {
        std::vector<std::shared_ptr<typename std::decay_t<decltype(list)>::value_type::element_type>> out;
        std::lock_guard lock(i.sessions_m);
        for (const auto& w : list)
            if (auto s = w.lock()) out.push_back(std::move(s));
        return out;
    };
    for (const auto& l : alive(i.live_sessions)) l->going_away();
    wait_until([&i] { return i.live_connections.load() == 0; }, std::chrono::seconds(2));
    for (const auto& s : alive(i.sessions)) s->cancel();
    wait_until([&i] { return i.connections.load() == 0; }, std::chrono::seconds(2));
    i.ioc.stop();
    for (auto& t : i.threads)
        if (t.joinable()) t.join();
    // Nothing runs any more: whatever is still open (a connection whose request came in too late
    // to be taken) is closed here, so no client waits for an answer that cannot come.
    beast::error_code ec;
    if (i.acceptor) i.acceptor->close(ec);
    for (const auto& s : alive(i.sessions)) s->close_now();
    for (const auto& l : alive(i.live_sessions)) l->close_now();
}

}  // namespace dealerline::api
