// The server: Beast over Asio, a few io threads, one strand per connection. A command waits for
// its fsync (and a query for PostgreSQL) on a separate pool so the io threads keep reading and
// writing; the answer goes back through the connection's strand. An upgrade on /api/live turns
// the connection into a live_session fed by the live hub (detail/live.hpp).
// This file: the listener, the HTTP and live sessions, routing and the websocket upgrade, start
// and stop. Commands are answered in command_routes.cpp, queries in query_routes.cpp, /readyz in
// readiness.cpp; the state they share is server::impl (detail/server_impl.hpp).
#include "api/server.hpp"

#include <pthread.h>
#include <sys/resource.h>

#include <cerrno>

#include <algorithm>
#include <array>
#include <deque>
#include <optional>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/serialize.hpp>

#include "api/detail/coalescing_stream.hpp"
#include "api/detail/command_input.hpp"
#include "api/detail/portal_page.hpp"
#include "api/detail/request_input.hpp"
#include "api/detail/server_impl.hpp"
#include "domain/codec.hpp"

namespace dealerline::api {

using detail::parse_json;
using detail::parse_query;
using detail::unsigned_of;

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
        if (!command) return reply(error_answer(http_status::bad_request, "bad_request", command.error().code, command.error().message));
        if (!app_->within_rate(who_)) return reply(too_many());
        const bool taken = app_->offload([self = shared_from_this(), command = std::move(*command), reply]() mutable {
            auto a = execute_command(self->app_->routes, self->who_, command, "");
            net::post(self->ws_.get_executor(), [reply, a = std::move(a)]() mutable { reply(std::move(a)); });
        });
        if (!taken) reply(error_answer(http_status::service_unavailable, "unavailable", "shutting_down", "the server is stopping"));
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
            if (who.error().status == http_status::unauthorized && parser_->get().target().starts_with("/api/commands"))
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
    const api::route* r = find_route(path, reads != nullptr);
    if (!r) return reply(error_response(http::status::not_found, "not_found", "no_route", "no such path: " + path, keep_alive));
    if (req.method_string() != r->method)
        return reply(error_response(http::status::method_not_allowed, "bad_request", "method_not_allowed", "use " + std::string(r->method),
                                    keep_alive));
    switch (r->kind) {
        case route_kind::health: return reply(json_response(http::status::ok, json::object{{"status", "ok"}}, keep_alive));
        case route_kind::page: {
            response res{http::status::ok, 11};
            res.set(http::field::content_type, "text/html; charset=utf-8");
            res.set(http::field::cache_control, "no-cache");
            res.keep_alive(keep_alive);
            res.body() = std::string(detail::portal_page);
            res.prepare_payload();
            return reply(std::move(res));
        }
        case route_kind::metrics: {
            response res{http::status::ok, 11};
            res.set(http::field::content_type, "text/plain; version=0.0.4");
            res.keep_alive(keep_alive);
            res.body() = stats.render(log.head_position(), runner ? runner->statuses() : std::vector<projections::status>{});
            res.prepare_payload();
            return reply(std::move(res));
        }
        case route_kind::readiness: return reply(readiness(keep_alive));
        case route_kind::live:
            if (stopping)
                return reply(error_response(http::status::service_unavailable, "unavailable", "shutting_down", "the server is stopping", false));
            return upgrade(std::move(req), s, query, id, started);
        case route_kind::commands: return take_command(std::move(req), s, id, started, what);
        case route_kind::query: {
            auto shared = std::make_shared<request>(std::move(req));
            return answer_on_pool(s, id, started, what, [this, r, shared, path, query] { return run_query(*r, *shared, path, query); });
        }
    }
}

response server::impl::run_query(const api::route& r, const request& req, const std::string& path, const std::string& query) {
    const bool keep_alive = req.keep_alive();
    auto who = admit(bearer_token(req));
    if (!who) return to_response(std::move(who.error()), keep_alive);
    auto params = detail::parse_query(query);
    if (!params) return error_response(http::status::bad_request, "bad_request", "bad_request", params.error(), keep_alive);
    return to_response(r.query(routes, query_input{std::move(*who), path, std::move(*params)}), keep_alive);
}

tl::expected<token_claims, answer> server::impl::authenticate(std::string_view token) {
    if (token.empty())
        return tl::unexpected(error_answer(http_status::unauthorized, "unauthorized", "missing_token", "send Authorization: Bearer <token>"));
    auto claims = verify_token(options.jwt_secret, token, unix_seconds());
    if (!claims) return tl::unexpected(error_answer(http_status::unauthorized, "unauthorized", claims.error().code, claims.error().message));
    return *claims;
}

// GET /api/live: everything is checked before the upgrade, so a refused client gets a plain
// HTTP answer (401, 403, 400, 429) and never a socket.
void server::impl::upgrade(request req, const std::shared_ptr<session>& s, const std::string& query, std::string id,
                           steady::time_point started) {
    const bool keep_alive = req.keep_alive();
    auto refuse = [&](answer a) { s->send(to_response(std::move(a), keep_alive), id, started, "GET /api/live"); };
    auto bad = [&](const std::string& message) { refuse(error_answer(http_status::bad_request, "bad_request", "bad_request", message)); };
    if (!websocket::is_upgrade(req))
        return refuse(error_answer(http_status::upgrade_required, "bad_request", "upgrade_required", "GET /api/live is a websocket: upgrade"));
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
            return refuse(error_answer(http_status::forbidden, "forbidden", "origin_not_allowed",
                                       "websocket upgrades from " + std::string(origin) + " are not allowed"));
    }
    detail::live_filter filter;
    filter.dealer_id = param("dealer_id");
    if (who->role == domain::role::dealer) {
        if (filter.dealer_id && *filter.dealer_id != who->dealer_id)
            return refuse(error_answer(http_status::forbidden, "forbidden", "forbidden", "a dealer receives only its own updates"));
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
        return refuse(error_answer(http_status::too_many_requests, "rate_limited", "too_many_live_sockets",
                                   "dealer " + who->dealer_id + " has " + std::to_string(options.max_live_per_dealer) +
                                       " live sockets open already; close one first"));
    auto live = s->upgrade(std::move(req), std::move(*who), std::move(filter), from, id, started);
    std::lock_guard lock(sessions_m);
    if (live_sessions.size() > 2 * live_connections.load() + 64)
        std::erase_if(live_sessions, [](const auto& w) { return w.expired(); });
    live_sessions.push_back(std::move(live));
}

void server::impl::take_command(request req, const std::shared_ptr<session>& s, const std::string& id, steady::time_point started,
                                const std::string& what) {
    const bool keep_alive = req.keep_alive();
    auto reply = [s, id, started, what](response res) { s->send(std::move(res), id, started, what); };
    auto pre = s->take_admitted();
    auto who = pre ? tl::expected<token_claims, answer>(std::move(*pre)) : admit(bearer_token(req));
    if (!who) {
        if (who.error().status == http_status::unauthorized) stats.command("unknown", "unauthorized", 0, 0);
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
            auto a = bulk_commands(routes, who, many, (*shared)["X-Correlation-Id"]);
            return to_response(std::move(a), shared->keep_alive() && !stopping);  // `stopping` read after the bulk ran
        });
    }
    // Counted like a pool task, before prepare_command() looks at `stopping`: stop() waits until its
    // answer is on its way.
    ++pending;
    auto p = prepare_command(routes, *who, *body, req["X-Correlation-Id"]);
    if (!p) {
        const bool keep = keep_alive && p.error().status != http_status::service_unavailable;
        reply(to_response(std::move(p.error()), keep));
        --pending;
        return;
    }
    handler.handle_async(std::move(p->env), [this, reply, keep_alive, id, what, note = std::move(p->note)](
                                                 commands::result<commands::outcome> outcome) {
        // On one of the log's threads: nothing may escape from here.
        auto answer = [&] {
            auto a = command_answer(routes, note, outcome);
            const bool keep = keep_alive && a.status != http_status::service_unavailable;
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

server::server(server_options options, storage::event_log& log, commands::handler& handler, const projections::runner* runner,
               projections::queries* queries, storage::event_source* events)
    : impl_(std::make_unique<impl>(std::move(options), log, handler, runner, queries, events)) {}

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
