// The server under load, with a load generator of our own, every figure beside its floor in the
// same run (docs/benchmarks.md):
//  (a) durable commands/s over HTTP keep-alive connections vs GET /healthz on the same server;
//  (b) live-feed latency, from the moment an append's commit is durable and visible to its
//      receipt by each websocket client, p50/p99/max, with N clients and a steady update rate — vs
//      a bare Beast broadcast of messages of the same size to the same number of the same clients
//      (from the moment it starts sending).
//
//   build/release/tools/bench/bench_server [--seconds 5] [--connections 64] [--clients 1000,5000]
//                                          [--rate 200] [--dir /var/tmp]
//
// Server, clients and the log share this machine's cores: the figures are what one box does
// with everything on it. The server runs without read models (no PostgreSQL): (a) measures the
// command path and (b) the live feed, which never touch PostgreSQL.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/server.hpp"
#include "commands/handler.hpp"
#include "domain/time.hpp"
#include "storage/event_log.hpp"

namespace {

using namespace dealerline;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

const std::string secret = "bench-server-secret-0123456789abcdefgh";

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

long rss_mib() {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with("VmRSS:")) return std::stol(line.substr(6)) / 1024;
    return 0;
}

// Latencies in microseconds; percentiles from the sorted samples.
struct samples {
    std::vector<std::int64_t> v;
    double at(double q) {
        if (v.empty()) return 0;
        std::sort(v.begin(), v.end());
        return static_cast<double>(v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))]) / 1000.0;
    }
};

// ---- (a) HTTP load: N keep-alive connections, each sending its next request when answered ----

struct http_load {
    std::atomic<std::uint64_t> ok{0}, failed{0};
    std::mutex m;
    samples latency;
};

class http_worker : public std::enable_shared_from_this<http_worker> {
public:
    http_worker(net::io_context& ioc, tcp::endpoint at, http_load& load, std::function<void(http::request<http::string_body>&)> next,
                const std::atomic<bool>& stop)
        : stream_(ioc), at_(at), load_(load), next_(std::move(next)), stop_(stop) {}
    void start() {
        stream_.async_connect(at_, [self = shared_from_this()](beast::error_code ec) {
            if (ec) return void(++self->load_.failed);
            self->send();
        });
    }

private:
    void send() {
        if (stop_) return;
        req_ = {};
        next_(req_);
        started_ = steady::now();
        http::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return void(++self->load_.failed);
            self->res_ = {};
            http::async_read(self->stream_, self->buffer_, self->res_, [self](beast::error_code ec2, std::size_t) {
                if (ec2) return void(++self->load_.failed);
                if (self->res_.result() == http::status::ok) ++self->load_.ok;
                else ++self->load_.failed;
                local_.push_back(std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - self->started_).count());
                if (local_.size() >= 1024) self->flush();
                self->send();
            });
        });
    }
    void flush() {
        std::lock_guard lock(load_.m);
        load_.latency.v.insert(load_.latency.v.end(), local_.begin(), local_.end());
        local_.clear();
    }

    beast::tcp_stream stream_;
    tcp::endpoint at_;
    http_load& load_;
    std::function<void(http::request<http::string_body>&)> next_;
    const std::atomic<bool>& stop_;
    http::request<http::string_body> req_;
    http::response<http::string_body> res_;
    beast::flat_buffer buffer_;
    steady::time_point started_;
    static thread_local std::vector<std::int64_t> local_;
};
thread_local std::vector<std::int64_t> http_worker::local_;

struct http_result {
    double per_second, p50_ms, p99_ms;
    std::uint64_t failed;
};

http_result run_http(std::uint16_t port, int connections, double seconds, const std::function<void(http::request<http::string_body>&)>& next) {
    net::io_context ioc;
    http_load load;
    std::atomic<bool> stop{false};
    const tcp::endpoint at{net::ip::make_address("127.0.0.1"), port};
    for (int i = 0; i < connections; ++i) std::make_shared<http_worker>(ioc, at, load, next, stop)->start();
    std::thread t([&] { ioc.run(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // warm-up
    const auto ok0 = load.ok.load();
    const auto t0 = steady::now();
    {
        std::lock_guard lock(load.m);
        load.latency.v.clear();
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    const auto done = load.ok.load() - ok0;
    const double elapsed = std::chrono::duration<double>(steady::now() - t0).count();
    stop = true;
    t.join();
    std::lock_guard lock(load.m);
    return {static_cast<double>(done) / elapsed, load.latency.at(0.50), load.latency.at(0.99), load.failed.load()};
}

// ---- (b) live clients: websocket readers that measure "at" → receipt ----

// When each position became visible as committed (durable): stamped by a thread that waits on
// the log's head exactly as the live hub does. Our latencies count from here; the bare
// broadcast's from the moment it starts sending.
struct commit_stamps {
    static constexpr std::size_t capacity = 1 << 20;
    const storage::event_log* log = nullptr;
    std::uint64_t base = 0;
    std::atomic<std::uint64_t> seen{0};  // stamped through here
    std::unique_ptr<std::atomic<std::int64_t>[]> at{new std::atomic<std::int64_t>[capacity]{}};
    // Updates committed at or after `from`: what every client should receive.
    std::uint64_t committed_since(std::int64_t from) const {
        const auto head = log->head_position();
        while (seen.load() < head) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::uint64_t n = 0;
        for (auto p = base + 1; p <= head; ++p) n += of(p) >= from ? 1u : 0u;
        return n;
    }
    std::int64_t of(std::uint64_t position) const {
        return position > base && position - base < capacity ? at[position - base].load(std::memory_order_acquire) : 0;
    }
};

struct live_stats {
    const commit_stamps* commits = nullptr;  // set: latency from the commit (by "position"); else from "at"
    std::int64_t measure_from_us = 0;  // only updates committed after this count
    std::vector<std::int64_t> latency;  // one thread (the clients' io thread) writes
    std::uint64_t received = 0, closed = 0, caught_up = 0;
};

// A websocket reader kept as cheap as possible so that the clients are not what is measured: a
// plain socket, the upgrade written by hand, frames parsed in place from 64 KiB reads (many
// frames per read when they queue up). Answers pings, so idle timeouts do not bite.
class ws_reader : public std::enable_shared_from_this<ws_reader> {
public:
    ws_reader(net::io_context& ioc, live_stats& stats) : socket_(ioc), stats_(stats), buf_(64 << 10) {}
    void start(tcp::endpoint at, const std::string& target, const std::string& token) {
        request_ = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
                   (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") + "\r\n";
        socket_.async_connect(at, [self = shared_from_this()](beast::error_code ec) {
            if (ec) return self->fail();
            beast::error_code ignored;
            self->socket_.set_option(tcp::no_delay(true), ignored);
            net::async_write(self->socket_, net::buffer(self->request_), [self](beast::error_code ec2, std::size_t) {
                if (ec2) return self->fail();
                self->read();
            });
        });
    }
    void close() {
        beast::error_code ec;
        socket_.close(ec);
    }

private:
    void fail() {
        if (!failed_) ++stats_.closed;
        failed_ = true;
    }
    void read() {
        if (have_ == buf_.size()) buf_.resize(buf_.size() * 2);  // one frame bigger than the buffer
        socket_.async_read_some(net::buffer(buf_.data() + have_, buf_.size() - have_),
                                [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                                    if (ec) return self->fail();
                                    self->have_ += n;
                                    if (!self->parse()) return self->fail();
                                    self->read();
                                });
    }
    bool parse() {
        const auto received = now_us();
        std::size_t at = 0;
        if (!upgraded_) {
            const std::string_view head(buf_.data(), have_);
            const auto end = head.find("\r\n\r\n");
            if (end == std::string_view::npos) return true;
            if (head.substr(0, 12) != "HTTP/1.1 101") return false;
            upgraded_ = true;
            at = end + 4;
        }
        for (;;) {
            const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + at);
            const std::size_t left = have_ - at;
            if (left < 2) break;
            std::size_t len = p[1] & 0x7f, header = 2;
            if (len == 126) {
                if (left < 4) break;
                len = (std::size_t{p[2]} << 8) | p[3];
                header = 4;
            } else if (len == 127) {
                if (left < 10) break;
                len = 0;
                for (int i = 2; i < 10; ++i) len = (len << 8) | p[i];
                header = 10;
            }
            if (left < header + len) break;
            const int opcode = p[0] & 0x0f;
            const std::string_view payload(buf_.data() + at + header, len);
            if (opcode == 1) on_text(payload, received);
            else if (opcode == 8) return false;  // closed by the server
            else if (opcode == 9) pong(payload);
            at += header + len;
        }
        std::memmove(buf_.data(), buf_.data() + at, have_ - at);
        have_ -= at;
        return true;
    }
    void on_text(std::string_view text, std::int64_t received) {
        if (text.find("\"caught_up\"") != std::string_view::npos) return void(++stats_.caught_up);
        std::optional<std::int64_t> sent;
        if (stats_.commits) {
            const auto at = text.find("\"position\":");
            if (at == std::string_view::npos) return;
            const std::uint64_t position = std::strtoull(text.data() + at + 11, nullptr, 10);
            const auto stamp = stats_.commits->of(position);
            // Not stamped yet: the client was faster than the stamping thread woke up (latency 0).
            sent = stamp ? std::min(stamp, received) : received;
        } else {
            const auto at = text.find("\"at\":\"");
            if (at == std::string_view::npos) return;
            const auto end = text.find('"', at + 6);
            sent = domain::parse_iso8601(text.substr(at + 6, end - at - 6));
        }
        if (sent && *sent >= stats_.measure_from_us) {
            ++stats_.received;
            stats_.latency.push_back(received - *sent);
        }
    }
    void pong(std::string_view payload) {  // client frames are masked; a zero mask leaves the bytes as they are
        auto frame = std::make_shared<std::string>();
        *frame += static_cast<char>(0x8A);
        *frame += static_cast<char>(0x80 | payload.size());
        frame->append(4, '\0');
        frame->append(payload);
        net::async_write(socket_, net::buffer(*frame), [frame](beast::error_code, std::size_t) {});
    }

    tcp::socket socket_;
    live_stats& stats_;
    std::vector<char> buf_;
    std::size_t have_ = 0;
    bool upgraded_ = false, failed_ = false;
    std::string request_;
};

// The floor: a bare Beast websocket server that sends every message to every client, each with
// a send queue, and nothing else (no log, no filter, no JSON).
class bare_broadcast {
public:
    explicit bare_broadcast(std::size_t threads) : acceptor_(ioc_) {
        acceptor_.open(tcp::v4());
        acceptor_.set_option(net::socket_base::reuse_address(true));
        acceptor_.bind({net::ip::make_address("127.0.0.1"), 0});
        acceptor_.listen(net::socket_base::max_listen_connections);
        accept();
        for (std::size_t i = 0; i < threads; ++i)
            threads_.emplace_back([this] {
                pthread_setname_np(pthread_self(), "bare-io");
                ioc_.run();
            });
    }
    ~bare_broadcast() {
        ioc_.stop();
        for (auto& t : threads_) t.join();
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    // To every client, or (groups > 1) to every groups-th one starting at `group`.
    void send(std::shared_ptr<const std::string> text, std::size_t group = 0, std::size_t groups = 1) {
        std::lock_guard lock(m_);
        for (std::size_t i = group; i < sessions_.size(); i += groups) sessions_[i]->send(text);
    }
    void forget_clients() {
        std::lock_guard lock(m_);
        sessions_.clear();
    }
    // Clients whose handshake is done (they receive from now on).
    std::size_t clients() {
        std::lock_guard lock(m_);
        return sessions_.size();
    }

private:
    class session : public std::enable_shared_from_this<session> {
    public:
        session(tcp::socket&& s, bare_broadcast* owner) : ws_(std::move(s)), owner_(owner) {}
        void start() {
            ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
                if (ec) return;
                std::lock_guard lock(self->owner_->m_);
                self->owner_->sessions_.push_back(self);
            });
        }
        void send(std::shared_ptr<const std::string> text) {
            net::post(ws_.get_executor(), [self = shared_from_this(), text] {
                self->q_.push_back(text);
                if (self->q_.size() == 1) self->write();
            });
        }

    private:
        void write() {
            ws_.text(true);
            ws_.async_write(net::buffer(*q_.front()), [self = shared_from_this()](beast::error_code ec, std::size_t) {
                self->q_.pop_front();
                if (!ec && !self->q_.empty()) self->write();
            });
        }
        websocket::stream<beast::tcp_stream> ws_;
        bare_broadcast* owner_;
        std::deque<std::shared_ptr<const std::string>> q_;
    };

    void accept() {
        acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
            if (!ec) std::make_shared<session>(std::move(s), this)->start();
            accept();
        });
    }

    net::io_context ioc_;
    tcp::acceptor acceptor_;
    std::vector<std::thread> threads_;
    std::mutex m_;
    std::vector<std::shared_ptr<session>> sessions_;
};

struct live_result {
    double p50, p99, max;
    std::uint64_t received, expected, dropped;
    long rss_mib;
};

// Connects `clients` readers to `port`/`target`, waits until all are in, runs `drive` for the
// measured seconds and reports.
// Client i connects with who(i) = {target, token}; each update reaches clients / groups of them.
// `bare_clients`: for the bare server, how many clients it has taken (ours says caught_up instead).
live_result run_live(std::uint16_t port, const std::function<std::pair<std::string, std::string>(int)>& who, int groups, int clients,
                     double seconds, double rate, const std::function<void(std::int64_t sent_at_us)>& one_update, const commit_stamps* commits,
                     const std::function<std::size_t()>& bare_clients = {}) {
    net::io_context ioc;
    live_stats stats;
    stats.commits = commits;
    stats.measure_from_us = std::numeric_limits<std::int64_t>::max();
    std::vector<std::shared_ptr<ws_reader>> readers;
    const tcp::endpoint at{net::ip::make_address("127.0.0.1"), port};
    for (int i = 0; i < clients; ++i) {
        readers.push_back(std::make_shared<ws_reader>(ioc, stats));
        const auto [target, token] = who(i);
        readers.back()->start(at, target, token);
    }
    auto guard = net::make_work_guard(ioc);
    std::thread io([&] {
        pthread_setname_np(pthread_self(), "ws-clients");
        ioc.run();
    });
    auto on_io = [&](auto f) {  // read the stats on their own thread
        std::promise<decltype(f())> p;
        net::post(ioc, [&] { p.set_value(f()); });
        return p.get_future().get();
    };
    const auto deadline = steady::now() + std::chrono::seconds(60);
    // Every client connected and receiving before anything is sent.
    auto connected = [&]() -> std::size_t { return bare_clients ? bare_clients() : on_io([&] { return stats.caught_up; }); };
    while (connected() < static_cast<std::size_t>(clients) && steady::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    // Warm-up second, then the measured span.
    const auto interval = std::chrono::duration<double>(1.0 / rate);
    auto drive = [&](double span) {
        auto next = steady::now();
        const auto end = next + std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(span));
        std::uint64_t n = 0;
        while (steady::now() < end) {
            std::this_thread::sleep_until(next);
            next += std::chrono::duration_cast<steady::duration>(interval);
            one_update(now_us());
            ++n;
        }
        return n;
    };
    drive(1.0);
    on_io([&] { return stats.measure_from_us = now_us(); });
    const auto sent = drive(seconds);
    const auto rss = rss_mib();
    // Let the last updates arrive (bounded).
    // Ours: what was committed in the measured span (the driver's count shifts by the commits
    // in flight at its edges); the bare broadcast: what was sent in it.
    const auto expected = (commits ? commits->committed_since(stats.measure_from_us) : sent) * static_cast<std::uint64_t>(clients / groups);
    const auto settle = steady::now() + std::chrono::seconds(10);
    while (on_io([&] { return stats.received; }) < expected && steady::now() < settle)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto result = on_io([&] {
        samples s{stats.latency};
        return live_result{s.at(0.50), s.at(0.99), s.v.empty() ? 0.0 : static_cast<double>(s.v.back()) / 1000.0, stats.received, 0, stats.closed, 0};
    });
    result.expected = expected;
    result.rss_mib = rss;
    for (auto& r : readers) net::post(ioc, [r] { r->close(); });
    guard.reset();
    ioc.stop();
    io.join();
    return result;
}

}  // namespace

int main(int argc, char** argv) {
    spdlog::set_level(spdlog::level::warn);  // no line per request: the load generator measures, not the terminal
    CLI::App app{"dealerline server benchmark: commands over HTTP vs /healthz; live-feed latency vs a bare Beast broadcast"};
    double seconds = 5, rate = 200;
    int connections = 64;
    std::vector<int> client_counts{250, 1000}, per_dealer_counts{1000, 5000};
    std::string dir = "/var/tmp";
    std::size_t command_threads = api::server_options{}.command_threads;
    std::size_t send_buffer = api::server_options{}.live_send_buffer_bytes;
    std::size_t io_threads = std::max(1u, std::thread::hardware_concurrency());
    app.add_option("--seconds", seconds, "Measured seconds per case");
    app.add_option("--connections", connections, "HTTP keep-alive connections");
    app.add_option("--clients", client_counts, "Websocket client counts, every client receiving every update")->delimiter(',');
    app.add_option("--dealer-clients", per_dealer_counts, "Websocket client counts, each a dealer's (one of 50)")->delimiter(',');
    app.add_option("--rate", rate, "Live updates per second");
    app.add_option("--dir", dir, "Where the benchmark's log goes");
    app.add_option("--command-threads", command_threads, "The server's command pool");
    app.add_option("--send-buffer", send_buffer, "SO_SNDBUF of live sockets (0: the kernel's autotuning)");
    app.add_option("--io-threads", io_threads, "The server's io threads (and the bare broadcast's)");
    CLI11_PARSE(app, argc, argv);

    const fs::path data = fs::path(dir) / ("dealerline-bench-server-" + std::to_string(::getpid()));
    fs::remove_all(data);
    auto log = storage::event_log::open(data / "log");
    if (!log) {
        std::fprintf(stderr, "cannot open the log: %s\n", log.error().message.c_str());
        return 1;
    }
    commands::handler handler(**log);
    api::server_options options;
    options.port = 0;
    options.jwt_secret = secret;
    options.io_threads = io_threads;
    options.command_threads = command_threads;
    options.rate_limit = 0;
    options.live_send_buffer_bytes = send_buffer;
    api::server server(options, **log, handler, nullptr, nullptr);
    server.start();
    const auto port = server.port();
    std::printf("server: %zu io threads, %zu command threads; %u cores shared with the load generator and the log\n\n",
                options.io_threads, options.command_threads, std::thread::hardware_concurrency());

    const domain::actor admin{domain::role::admin, "bench", {}}, production{domain::role::production, "prod", {}},
        engineer{domain::role::engineer, "eng", {}};
    const int dealers = 50;
    std::vector<std::string> dealer_tokens;
    for (int d = 1; d <= dealers; ++d) {
        const auto id = "D-" + std::to_string(d);
        (void)handler.handle({"register-" + id, domain::dealer_command{domain::register_dealer{id, "Bench", "EUR", 30, 0}}, admin, {}, ""});
        dealer_tokens.push_back(*api::issue_token(secret, {id, domain::role::dealer, id, unix_now() + 3600}));
    }
    const auto& dealer_token = dealer_tokens[0];
    const auto staff_token = *api::issue_token(secret, {"eng", domain::role::engineer, "", unix_now() + 3600});

    // (a)
    auto health = run_http(port, connections, seconds, [](http::request<http::string_body>& req) {
        req.method(http::verb::get);
        req.target("/healthz");
        req.set(http::field::host, "bench");
        req.keep_alive(true);
    });
    std::atomic<std::uint64_t> next_order{0};
    auto commands = run_http(port, connections, seconds, [&](http::request<http::string_body>& req) {
        const auto id = "O-" + std::to_string(++next_order);
        req.method(http::verb::post);
        req.target("/api/commands");
        req.set(http::field::host, "bench");
        req.set(http::field::authorization, "Bearer " + dealer_token);
        req.set(http::field::content_type, "application/json");
        req.keep_alive(true);
        req.body() = R"({"command_id":"c-)" + id + R"(","type":"PlaceOrder","data":{"order_id":")" + id +
                     R"(","dealer_id":"D-1","currency":"EUR","lines":[{"sku":"WIN-1","description":"Window","quantity":2,"unit_price":18900}]}})";
        req.prepare_payload();
    });
    std::printf("(a) HTTP keep-alive, %d connections, %.0f s each\n", connections, seconds);
    std::printf("| request | per second | p50 ms | p99 ms | failed |\n|---|---:|---:|---:|---:|\n");
    std::printf("| GET /healthz | %.0f | %.2f | %.2f | %llu |\n", health.per_second, health.p50_ms, health.p99_ms,
                static_cast<unsigned long long>(health.failed));
    std::printf("| POST /api/commands (PlaceOrder, durable) | %.0f | %.2f | %.2f | %llu |\n", commands.per_second, commands.p50_ms,
                commands.p99_ms, static_cast<unsigned long long>(commands.failed));
    std::printf("commands / healthz = %.2f\n\n", commands.per_second / health.per_second);
    std::fflush(stdout);

    // (b) Orders in production, four per dealer; each update is one ProductionProgressed (a
    // small message) of the next order in turn, so the dealers take turns too.
    const int orders = 4 * dealers;
    auto dealer_of = [&](int order) { return (order - 1) % dealers + 1; };  // order 1..orders → dealer 1..50
    for (int i = 1; i <= orders; ++i) {
        const auto id = "P-" + std::to_string(i), dealer = "D-" + std::to_string(dealer_of(i));
        (void)handler.handle({"p-" + id, domain::order_command{domain::place_order{id, dealer, "EUR", {{"WIN-1", "Window", 1'000'000, 100}}, std::nullopt, std::nullopt}},
                              {domain::role::dealer, dealer, dealer}, {}, ""});
        (void)handler.handle({"a-" + id, domain::order_command{domain::accept_order{id, std::nullopt}}, engineer, {}, ""});
        (void)handler.handle({"s-" + id, domain::order_command{domain::start_production{id}}, production, {}, ""});
    }
    std::vector<std::int64_t> done(orders, 0);
    std::uint64_t step = 0;
    auto progress = [&](std::int64_t) {
        const auto i = step++ % orders;
        const auto id = "P-" + std::to_string(i + 1);
        (void)handler.handle({"g-" + std::to_string(step), domain::order_command{domain::record_production_progress{id, ++done[i]}}, production, {}, ""});
    };
    // A message of the same size as ours, stamped when the broadcast starts.
    std::string sample;
    {
        auto e = (*log)->read_all((*log)->head_position(), 1);
        sample = R"({"type":"order_status","position":)" + std::to_string((*e)[0].position) +
                 R"(,"order_id":"P-1","dealer_id":"D-1","status":"in_production","event":"ProductionProgressed","at":")";
    }
    std::uint64_t bare_step = 0;
    auto bare_update = [&](bare_broadcast& bare, int groups) {
        return [&bare, &bare_step, &sample, groups, dealers, dealer_of, orders](std::int64_t sent) {
            const auto order = static_cast<int>(bare_step++ % static_cast<std::uint64_t>(orders)) + 1;
            bare.send(std::make_shared<const std::string>(sample + domain::iso8601(sent) + R"(","details":{"completed_units":1,"total_units":1000000}})"),
                      groups == 1 ? 0 : static_cast<std::size_t>(dealer_of(order) - 1), static_cast<std::size_t>(groups));
            (void)dealers;
        };
    };
    commit_stamps commits;
    commits.log = log->get();
    commits.base = (*log)->head_position();
    commits.seen = commits.base;
    std::atomic<bool> watching{true};
    std::thread watcher([&] {
        for (auto seen = commits.base; watching;) {
            const auto head = (*log)->wait_for(seen, steady::now() + std::chrono::milliseconds(100));
            const auto stamp = now_us();
            for (auto p = seen + 1; p <= head && p - commits.base < commit_stamps::capacity; ++p)
                commits.at[p - commits.base].store(stamp, std::memory_order_release);
            seen = head;
            commits.seen = head;
        }
    });
    bare_broadcast bare(options.io_threads);
    std::printf("(b) live feed, %.0f updates/s, %.0f s measured after 1 s warm-up; latency from the commit (durable, visible) to receipt; the bare broadcast's from its send\n", rate, seconds);
    std::printf("| clients | each receives | path | p50 ms | p99 ms | max ms | received / expected | closed | RSS MiB |\n"
                "|---:|---|---|---:|---:|---:|---:|---:|---:|\n");
    auto report = [&](int n, const char* mode, live_result& ours, live_result& floor) {
        for (auto* r : {&ours, &floor})
            std::printf("| %d | %s | %s | %.2f | %.2f | %.2f | %llu / %llu | %llu | %ld |\n", n, mode,
                        r == &ours ? "dealerline /api/live" : "bare Beast broadcast", r->p50, r->p99, r->max,
                        static_cast<unsigned long long>(r->received), static_cast<unsigned long long>(r->expected),
                        static_cast<unsigned long long>(r->dropped), r->rss_mib);
        std::printf("| %d | %s | p99 ours / bare | | %.2f | | | | |\n", n, mode, floor.p99 > 0 ? ours.p99 / floor.p99 : 0.0);
        std::fflush(stdout);
    };
    for (const int n : client_counts) {
        auto ours = run_live(port, [&](int) { return std::pair<std::string, std::string>{"/api/live?types=order_status", staff_token}; }, 1, n,
                             seconds, rate, progress, &commits);
        bare.forget_clients();
        auto floor = run_live(bare.port(), [](int) { return std::pair<std::string, std::string>{"/", ""}; }, 1, n, seconds, rate,
                              bare_update(bare, 1), nullptr, [&] { return bare.clients(); });
        report(n, "every update", ours, floor);
    }
    for (const int n : per_dealer_counts) {
        // Client i is dealer (i mod 50)+1's portal: it gets that dealer's updates only.
        auto ours = run_live(port, [&](int i) { return std::pair<std::string, std::string>{"/api/live", dealer_tokens[static_cast<std::size_t>(i % dealers)]}; },
                             dealers, n, seconds, rate, progress, &commits);
        bare.forget_clients();
        auto floor = run_live(bare.port(), [](int) { return std::pair<std::string, std::string>{"/", ""}; }, dealers, n, seconds, rate,
                              bare_update(bare, dealers), nullptr, [&] { return bare.clients(); });
        report(n, "its dealer's (1 of 50)", ours, floor);
    }
    watching = false;
    watcher.join();
    server.stop();
    fs::remove_all(data);
    return 0;
}
