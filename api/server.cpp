// The HTTP server: Beast over Asio, a few io threads, one strand per connection. A command
// waits for its fsync on a separate pool so the io threads keep reading and writing; the
// response goes back through the connection's strand.
#include "api/server.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <optional>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/metrics.hpp"
#include "domain/codec.hpp"

namespace dealerline::api {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
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

struct bad_request {
    std::string code, message;
};

// The body of POST /api/commands, strictly: {"command_id", "type", "data", "expected_version"?}.
struct command_request {
    std::string command_id;
    domain::codec::any_command command;
    std::optional<std::uint64_t> expected_version;
};

tl::expected<command_request, bad_request> parse_command_request(std::string_view body, std::size_t max_depth) {
    json::parse_options options;
    options.max_depth = max_depth;
    boost::system::error_code ec;
    const json::value v = json::parse(body, ec, {}, options);
    if (ec == json::error::too_deep)
        return tl::unexpected(bad_request{"too_deep", "the JSON is nested more than " + std::to_string(max_depth) + " levels deep"});
    if (ec) return tl::unexpected(bad_request{"malformed_json", "the body is not JSON: " + ec.message()});
    const auto* o = v.if_object();
    if (!o) return tl::unexpected(bad_request{"bad_request", "the body must be a JSON object"});
    for (const auto& [key, _] : *o)
        if (key != "command_id" && key != "type" && key != "data" && key != "expected_version")
            return tl::unexpected(bad_request{"bad_request", "unknown field " + std::string(key)});
    const auto* id = o->if_contains("command_id");
    if (!id || !id->is_string() || id->get_string().empty() || id->get_string().size() > 128)
        return tl::unexpected(bad_request{"bad_request", "command_id: expected a string of 1 to 128 characters"});
    const auto* type = o->if_contains("type");
    if (!type || !type->is_string()) return tl::unexpected(bad_request{"bad_request", "type: expected a string"});
    const auto* data = o->if_contains("data");
    if (!data || !data->is_object()) return tl::unexpected(bad_request{"bad_request", "data: expected an object"});
    command_request out;
    out.command_id = std::string(id->get_string());
    if (const auto* ev = o->if_contains("expected_version")) {
        if (ev->is_uint64()) out.expected_version = ev->get_uint64();
        else if (ev->is_int64() && ev->get_int64() >= 0) out.expected_version = static_cast<std::uint64_t>(ev->get_int64());
        else return tl::unexpected(bad_request{"bad_request", "expected_version: expected a non-negative integer"});
    }
    auto command = domain::codec::parse_command(type->get_string(), *data);
    if (!command) {
        const bool unknown = command.error().message.rfind("unknown command type", 0) == 0;
        return tl::unexpected(bad_request{unknown ? "unknown_command" : "bad_request", command.error().message});
    }
    out.command = command.value();
    return out;
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

// "a=1&b=x%20y" → {a: "1", b: "x y"}; nullopt for malformed percent escapes.
std::optional<std::map<std::string, std::string>> parse_query(std::string_view q) {
    auto decode = [](std::string_view in) -> std::optional<std::string> {
        std::string out;
        for (std::size_t i = 0; i < in.size(); ++i) {
            if (in[i] == '+') out += ' ';
            else if (in[i] != '%') out += in[i];
            else {
                if (i + 2 >= in.size()) return std::nullopt;  // "%" needs two hex digits
                const auto hex = [](char c) -> int {
                    if (c >= '0' && c <= '9') return c - '0';
                    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
                    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
                    return -1;
                };
                const int h = hex(in[i + 1]), l = hex(in[i + 2]);
                if (h < 0 || l < 0) return std::nullopt;
                out += static_cast<char>(h * 16 + l);
                i += 2;
            }
        }
        return out;
    };
    std::map<std::string, std::string> out;
    while (!q.empty()) {
        const auto amp = q.find('&');
        const auto part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        if (part.empty()) continue;
        const auto eq = part.find('=');
        auto key = decode(part.substr(0, eq));
        auto value = decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
        if (!key || !value) return std::nullopt;
        out[*key] = *value;
    }
    return out;
}

std::optional<std::uint64_t> unsigned_of(const std::string& text) {
    if (text.empty() || text.size() > 19 || text.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    return std::stoull(text);
}

class session;

}  // namespace

// Handlers and sessions refer to this by plain pointer: server::stop() joins every thread that
// could run them before it goes, and the counters outlive the io_context (declared first), whose
// destructor destroys the sessions still queued in it.
struct server::impl {
    impl(server_options o, storage::event_log& l, commands::handler& h, const projections::runner* r, projections::queries* q)
        : options(std::move(o)), log(l), handler(h), runner(r), reads(q), pool(options.command_threads) {}

    server_options options;
    storage::event_log& log;
    commands::handler& handler;
    const projections::runner* runner;
    projections::queries* reads;
    std::atomic<std::size_t> connections{0}, in_flight{0};
    std::atomic<std::size_t> pending{0};  // tasks given to the pool and not finished
    api::metrics stats;
    std::atomic<std::uint64_t> next_request{0};
    std::atomic<bool> stopping{false}, stopped{false};
    std::uint16_t port = 0;
    net::io_context ioc;
    // Keeps the io threads running while a connection waits for the pool (nothing of it is in
    // the io_context then): without it run() returns once the acceptor closes, and answers
    // posted afterwards are never written. stop() ends it.
    net::executor_work_guard<net::io_context::executor_type> keep_running = net::make_work_guard(ioc);
    std::optional<tcp::acceptor> acceptor;
    net::thread_pool pool;
    std::vector<std::thread> threads;
    std::mutex sessions_m;
    std::vector<std::weak_ptr<session>> sessions;  // to close them all on stop

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
            task();
            --pending;
        });
        return true;
    }

    void accept();
    void route(request req, std::shared_ptr<session> s, std::string id, steady::time_point started);
    response handle_command(const request& req);
    response handle_query(const request& req, const std::string& path, const std::string& query);
    tl::expected<token_claims, response> authenticate(const request& req);
    response readiness(bool keep_alive);
};

namespace {

class session : public std::enable_shared_from_this<session> {
public:
    session(tcp::socket&& socket, server::impl* app) : stream_(std::move(socket)), app_(app) {}
    ~session() { app_->stats.connections(--app_->connections); }

    void run() {
        net::dispatch(stream_.get_executor(), beast::bind_front_handler(&session::read, shared_from_this()));
    }

    // From any thread: the response goes out on this connection's strand.
    void send(response res, std::string request_id, steady::time_point started, std::string what) {
        net::post(stream_.get_executor(), [self = shared_from_this(), res = std::move(res), id = std::move(request_id), started,
                                           what = std::move(what)]() mutable {
            self->write(std::move(res), id, started, what);
        });
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
        stream_.expires_after(app_->options.request_timeout);
        http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&session::on_read, shared_from_this()));
    }

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
        app_->route(parser_->release(), shared_from_this(), id, started);
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
        if (ec || !keep_alive) return close();
        read();
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
};

}  // namespace

void server::impl::accept() {
    acceptor->async_accept(net::make_strand(ioc), [self = this](beast::error_code ec, tcp::socket socket) {
        if (self->stopping) return;
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
    const std::string path = target.substr(0, target.find('?'));
    const std::string what = std::string(req.method_string()) + " " + path;
    const bool keep_alive = req.keep_alive();
    auto answer = [&](response res) { s->send(std::move(res), id, started, what); };

    if (path == "/healthz") {
        if (req.method() != http::verb::get) return answer(error_response(http::status::method_not_allowed, "bad_request", "method_not_allowed", "use GET", keep_alive));
        return answer(json_response(http::status::ok, json::object{{"status", "ok"}}, keep_alive));
    }
    auto shutting_down = [&] {
        answer(error_response(http::status::service_unavailable, "unavailable", "shutting_down", "the server is stopping", false));
    };
    if (path == "/metrics") {
        if (req.method() != http::verb::get) return answer(error_response(http::status::method_not_allowed, "bad_request", "method_not_allowed", "use GET", keep_alive));
        response res{http::status::ok, 11};
        res.set(http::field::content_type, "text/plain; version=0.0.4");
        res.keep_alive(keep_alive);
        res.body() = stats.render(log.head_position(), runner ? runner->statuses() : std::vector<projections::status>{});
        res.prepare_payload();
        return answer(std::move(res));
    }
    if (path == "/readyz") {
        if (req.method() != http::verb::get) return answer(error_response(http::status::method_not_allowed, "bad_request", "method_not_allowed", "use GET", keep_alive));
        if (!offload([this, s, id, started, what, keep_alive] { s->send(readiness(keep_alive), id, started, what); })) shutting_down();
        return;
    }
    if (path == "/api/commands") {
        if (req.method() != http::verb::post) return answer(error_response(http::status::method_not_allowed, "bad_request", "method_not_allowed", "use POST", keep_alive));
        // Commands wait for their fsync: off the io threads.
        auto shared = std::make_shared<request>(std::move(req));
        if (!offload([this, s, shared, id, started, what] { s->send(handle_command(*shared), id, started, what); })) shutting_down();
        return;
    }
    if (reads && (path == "/api/orders" || path.rfind("/api/orders/", 0) == 0)) {
        if (req.method() != http::verb::get) return answer(error_response(http::status::method_not_allowed, "bad_request", "method_not_allowed", "use GET", keep_alive));
        const std::string query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
        auto shared = std::make_shared<request>(std::move(req));
        if (!offload([this, s, shared, path, query, id, started, what] { s->send(handle_query(*shared, path, query), id, started, what); }))
            shutting_down();
        return;
    }
    answer(error_response(http::status::not_found, "not_found", "no_route", "no such path: " + path, keep_alive));
}

response server::impl::handle_command(const request& req) {
    const auto started = steady::now();
    auto seconds = [&] { return std::chrono::duration<double>(steady::now() - started).count(); };
    const bool keep_alive = req.keep_alive();
    auto claims = authenticate(req);
    if (!claims) {
        stats.command("unknown", "unauthorized", seconds(), 0);
        return std::move(claims.error());
    }
    auto parsed = parse_command_request(req.body(), options.max_json_depth);
    if (!parsed) {
        stats.command("unknown", "bad_request", seconds(), 0);
        return error_response(http::status::bad_request, "bad_request", parsed.error().code, parsed.error().message, keep_alive);
    }
    const std::string type(domain::codec::command_type(parsed->command));
    if (stopping) return error_response(http::status::service_unavailable, "unavailable", "shutting_down", "the server is stopping", false);

    commands::envelope env{parsed->command_id, parsed->command, claims->actor(), parsed->expected_version,
                           std::string(req["X-Correlation-Id"].substr(0, 128))};
    auto outcome = handler.handle(env);
    stats.command(type, outcome ? (outcome->duplicate ? "duplicate" : "ok") : error_of(outcome.error().what), seconds(),
                  outcome && !outcome->duplicate ? outcome->positions.size() : 0);
    if (!outcome)
        return error_response(status_of(outcome.error().what), error_of(outcome.error().what), outcome.error().code,
                              outcome.error().message, keep_alive);
    json::array positions, events;
    for (auto p : outcome->positions) positions.emplace_back(p);
    for (const auto& e : outcome->events) events.emplace_back(e);
    return json_response(http::status::ok,
                         json::object{{"stream", outcome->stream},
                                      {"version", outcome->version},
                                      {"positions", std::move(positions)},
                                      {"events", std::move(events)},
                                      {"duplicate", outcome->duplicate}},
                         keep_alive);
}

tl::expected<token_claims, response> server::impl::authenticate(const request& req) {
    const bool keep_alive = req.keep_alive();
    const auto auth = req[http::field::authorization];
    constexpr std::string_view bearer = "Bearer ";
    if (auth.empty() || auth.size() <= bearer.size() || auth.substr(0, bearer.size()) != bearer)
        return tl::unexpected(
            error_response(http::status::unauthorized, "unauthorized", "missing_token", "send Authorization: Bearer <token>", keep_alive));
    auto claims = verify_token(options.jwt_secret, auth.substr(bearer.size()), unix_seconds());
    if (!claims)
        return tl::unexpected(error_response(http::status::unauthorized, "unauthorized", claims.error().code, claims.error().message, keep_alive));
    return *claims;
}

// GET /api/orders and /api/orders/{id}: from the read models, dealer-scoped for dealer tokens.
response server::impl::handle_query(const request& req, const std::string& path, const std::string& query) {
    const bool keep_alive = req.keep_alive();
    auto who = authenticate(req);
    if (!who) return std::move(who.error());
    auto bad = [&](const std::string& message) {
        return error_response(http::status::bad_request, "bad_request", "bad_request", message, keep_alive);
    };
    const auto params = parse_query(query);
    if (!params) return bad("the query string is malformed");
    for (const auto& [key, _] : *params)
        if (key != "status" && key != "dealer_id" && key != "limit" && key != "cursor" && key != "min_position")
            return bad("unknown parameter " + key);
    auto param = [&](const char* key) -> std::optional<std::string> {
        auto it = params->find(key);
        return it == params->end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    // The dealer id of a dealer token is the only one it may see.
    std::optional<std::string> scope = param("dealer_id");
    if (who->role == domain::role::dealer) {
        if (scope && *scope != who->dealer_id)
            return error_response(http::status::forbidden, "forbidden", "forbidden", "a dealer sees only its own orders", keep_alive);
        scope = who->dealer_id;
    }
    // Read your own writes: wait (bounded) for the read models to reach min_position.
    if (auto min = param("min_position")) {
        const auto wanted = unsigned_of(*min);
        if (!wanted) return bad("min_position: expected a non-negative integer");
        if (runner) (void)runner->wait_for(*wanted, steady::now() + std::chrono::seconds(5));
    }
    auto at = reads->position("portal_orders");
    if (!at) return error_response(http::status::service_unavailable, "unavailable", "read_models_unavailable", at.error().message, keep_alive);
    auto with_position = [&](response res) {
        res.set("X-Projection-Position", std::to_string(*at));
        return res;
    };
    auto body = [&](std::string json_text) {
        response res{http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        res.set(http::field::cache_control, "no-store");
        res.keep_alive(keep_alive);
        res.body() = std::move(json_text);
        res.prepare_payload();
        return with_position(std::move(res));
    };
    if (path == "/api/orders") {
        projections::order_page_request page;
        page.dealer_id = scope;
        page.status = param("status");
        if (page.status && page.status->size() > 32) return bad("status: unknown status");
        if (auto limit = param("limit")) {
            const auto n = unsigned_of(*limit);
            if (!n || *n < 1 || *n > 200) return bad("limit: expected an integer from 1 to 200");
            page.limit = static_cast<std::size_t>(*n);
        }
        if (auto cursor = param("cursor")) {
            page.cursor = unsigned_of(*cursor);
            if (!page.cursor) return bad("cursor: expected the next_cursor of a previous page");
        }
        auto list = reads->orders(page);
        if (!list) return error_response(http::status::service_unavailable, "unavailable", "read_models_unavailable", list.error().message, keep_alive);
        return body(std::move(*list));
    }
    const std::string order_id = path.substr(std::string_view("/api/orders/").size());
    if (order_id.empty() || order_id.size() > 64 || order_id.find('/') != std::string::npos) return bad("expected /api/orders/{order_id}");
    auto one = reads->order(order_id, scope);
    if (!one) return error_response(http::status::service_unavailable, "unavailable", "read_models_unavailable", one.error().message, keep_alive);
    // Another dealer's order looks exactly like one that does not exist.
    if (!*one) return with_position(error_response(http::status::not_found, "not_found", "not_found", "order " + order_id + " does not exist", keep_alive));
    return body(std::move(**one));
}

response server::impl::readiness(bool keep_alive) {
    const auto head = log.head_position();
    json::object body{{"log", json::object{{"open", true}, {"head", head}}}};
    bool ready = !stopping;
    if (!options.postgres.empty()) {
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
    body["ready"] = ready;
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
    i.accept();
    for (std::size_t t = 0; t < i.options.io_threads; ++t) i.threads.emplace_back([&i] { i.ioc.run(); });
    spdlog::info("listening on http://{}:{}", i.options.host, i.port);
}

std::uint16_t server::port() const noexcept { return impl_->port; }

void server::stop() {
    auto& i = *impl_;
    if (i.stopped.exchange(true)) return;
    i.stopping = true;
    if (i.acceptor) net::post(i.acceptor->get_executor(), [&i] {
        beast::error_code ec;
        i.acceptor->close(ec);  // no new connections
    });
    auto wait_until = [](auto done, std::chrono::milliseconds at_most) {
        const auto deadline = steady::now() + at_most;
        while (!done() && steady::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    };
    // Every command taken is answered (acknowledged means durable); none is taken any more.
    wait_until([&i] { return i.pending.load() == 0; }, std::chrono::seconds(30));
    i.pool.join();
    wait_until([&i] { return i.in_flight.load() == 0; }, std::chrono::seconds(5));  // the answers are written
    auto alive = [&i] {
        std::vector<std::shared_ptr<session>> out;
        std::lock_guard lock(i.sessions_m);
        for (const auto& w : i.sessions)
            if (auto s = w.lock()) out.push_back(std::move(s));
        return out;
    };
    for (const auto& s : alive()) s->cancel();
    wait_until([&i] { return i.connections.load() == 0; }, std::chrono::seconds(2));
    i.ioc.stop();
    for (auto& t : i.threads)
        if (t.joinable()) t.join();
    // Nothing runs any more: whatever is still open (a connection whose request came in too late
    // to be taken) is closed here, so no client waits for an answer that cannot come.
    beast::error_code ec;
    if (i.acceptor) i.acceptor->close(ec);
    for (const auto& s : alive()) s->close_now();
}

}  // namespace dealerline::api
