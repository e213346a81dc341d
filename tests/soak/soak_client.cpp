// The hostile half of scripts/soak.sh. `attack` runs, side by side with the plant simulator's
// traffic, what a careless or hostile client does to a server: malformed requests, oversized
// headers and bodies, expired and forged tokens, slowloris connections, websocket upgrade floods
// and clients that never read. It probes the server all along (it must keep answering, promptly),
// samples its memory, and fails when anything is answered in a way docs/api.md does not allow, a
// 5xx comes back, the server stops answering or its RSS passes a cap. `check` then looks up every
// command the simulator was told was acknowledged in the log.
//
// Plain POSIX sockets on purpose: the attacks need byte-level control over what is sent and when,
// which a well-behaved HTTP client library would not give.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "api/auth.hpp"
#include "storage/event_log.hpp"

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace api = dealerline::api;
namespace domain = dealerline::domain;

// ---------------------------------------------------------------------------------------------
// Sockets

class socket_fd {
public:
    socket_fd() = default;
    explicit socket_fd(int fd) : fd_(fd) {}
    socket_fd(socket_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    socket_fd& operator=(socket_fd&& o) noexcept {
        if (this != &o) {
            reset();
            fd_ = std::exchange(o.fd_, -1);
        }
        return *this;
    }
    socket_fd(const socket_fd&) = delete;
    socket_fd& operator=(const socket_fd&) = delete;
    ~socket_fd() { reset(); }
    void reset() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    [[nodiscard]] int get() const { return fd_; }
    explicit operator bool() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

struct endpoint {
    sockaddr_storage address{};
    socklen_t length = 0;
};

endpoint resolve(const std::string& host, const std::string& port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0 || !found)
        throw std::runtime_error("cannot resolve " + host + ":" + port);
    endpoint e;
    std::memcpy(&e.address, found->ai_addr, found->ai_addrlen);
    e.length = found->ai_addrlen;
    ::freeaddrinfo(found);
    return e;
}

// A blocking connection (5 s to connect); receive_buffer > 0 shrinks the kernel's buffer first,
// so that a client that never reads fills up soon.
socket_fd connect_to(const endpoint& e, int receive_buffer = 0) {
    socket_fd s(::socket(e.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!s) return s;
    if (receive_buffer > 0) ::setsockopt(s.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    timeval timeout{5, 0};
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    if (::connect(s.get(), reinterpret_cast<const sockaddr*>(&e.address), e.length) != 0) return {};
    return s;
}

// Sends what it can; false once the peer is gone or stops taking bytes for 5 s.
bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const auto n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

struct answer {
    enum kind { status, closed, timed_out } what = closed;
    int code = 0;
    std::string head;  // status line and headers
    std::string body_start;
};

// Reads up to the end of the response's headers (and whatever of the body came with them).
answer read_answer(int fd, std::chrono::milliseconds within) {
    answer a;
    std::string got;
    const auto deadline = steady::now() + within;
    char buffer[16384];
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
        if (left <= 0) return answer{answer::timed_out, 0, got, {}};
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) continue;
        const auto n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            a.what = answer::closed;
            a.head = got;
            break;
        }
        got.append(buffer, static_cast<std::size_t>(n));
        if (const auto end = got.find("\r\n\r\n"); end != std::string::npos) {
            a.what = answer::status;
            a.head = got.substr(0, end);
            a.body_start = got.substr(end + 4);
            break;
        }
    }
    if (a.head.rfind("HTTP/1.", 0) == 0 && a.head.size() >= 12) {
        a.what = answer::status;
        a.code = std::atoi(a.head.c_str() + 9);
    }
    return a;
}

// The peer hung up, seen without reading (for clients that never read).
bool peer_hung_up(int fd) {
    pollfd p{fd, POLLRDHUP, 0};
    return ::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

// ---------------------------------------------------------------------------------------------
// What was seen

class findings {
public:
    void count(const std::string& what, std::uint64_t n = 1) {
        const std::lock_guard lock(mutex_);
        counts_[what] += n;
    }
    void problem(const std::string& what) {
        const std::lock_guard lock(mutex_);
        ++problems_;
        if (first_problems_.size() < 30) first_problems_.push_back(what);
        std::cerr << "soak: PROBLEM: " << what << '\n';
    }
    [[nodiscard]] std::uint64_t problems() const {
        const std::lock_guard lock(mutex_);
        return problems_;
    }
    void print(std::ostream& out) const {
        const std::lock_guard lock(mutex_);
        for (const auto& [what, n] : counts_) out << "  " << what << ": " << n << '\n';
        if (problems_) {
            out << "  problems: " << problems_ << " (first ones:)\n";
            for (const auto& p : first_problems_) out << "    - " << p << '\n';
        }
    }

private:
    mutable std::mutex mutex_;
    std::map<std::string, std::uint64_t> counts_;
    std::vector<std::string> first_problems_;
    std::uint64_t problems_ = 0;
};

// Set by the probe when the server process is gone: every attack stops rather than report each
// refused connection until its time is up.
std::atomic<bool> server_gone{false};

// Until the soak's time is up or the server is gone.
template <class TimePoint>
bool going_on(TimePoint deadline) {
    return steady::now() < deadline && !server_gone.load();
}

struct attack_options {
    std::string host = "127.0.0.1", port;
    std::string secret;  // from DEALERLINE_JWT_SECRET, never the command line
    double seconds = 120;
    int server_pid = 0;
    std::uint64_t max_rss_mb = 1024;
    int slowloris = 60;
    int non_readers = 20;
    int max_live_per_dealer = 50;
    std::string flood_dealer = "D-0049", reader_dealer = "D-0001";
};

struct tokens {
    std::string dealer, flood_dealer, staff, probe, expired, forged;
    // The same dealer under several subjects: each has its own rate bucket, so that the malformed
    // requests are mostly judged on what they are rather than refused for their pace.
    std::vector<std::string> dealer_pool;
};

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

tokens make_tokens(const attack_options& o) {
    const auto in_a_day = unix_now() + 86400;
    auto sign = [&](const std::string& secret, api::token_claims claims) {
        auto token = api::issue_token(secret, claims);
        if (!token) throw std::runtime_error("cannot sign a token: " + token.error().message);
        return *token;
    };
    tokens t;
    t.dealer = sign(o.secret, {"soak-" + o.reader_dealer, domain::role::dealer, o.reader_dealer, in_a_day});
    t.flood_dealer = sign(o.secret, {"soak-" + o.flood_dealer, domain::role::dealer, o.flood_dealer, in_a_day});
    t.staff = sign(o.secret, {"soak-engineer", domain::role::engineer, "", in_a_day});
    t.probe = sign(o.secret, {"soak-probe", domain::role::dealer, o.reader_dealer, in_a_day});
    t.expired = sign(o.secret, {"soak-expired", domain::role::dealer, o.reader_dealer, unix_now() - 60});
    t.forged = sign(std::string(o.secret.rbegin(), o.secret.rend()) + "x", {"soak-forged", domain::role::admin, "", in_a_day});
    for (int i = 0; i < 16; ++i)
        t.dealer_pool.push_back(sign(o.secret, {"soak-" + o.reader_dealer + "-" + std::to_string(i), domain::role::dealer, o.reader_dealer, in_a_day}));
    return t;
}

std::string get(const std::string& target, const std::string& token = "", const std::string& extra = "") {
    std::string r = "GET " + target + " HTTP/1.1\r\nHost: soak\r\n";
    if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
    return r + extra + "\r\n";
}

std::string post(const std::string& target, const std::string& token, const std::string& body) {
    std::string r = "POST " + target + " HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\n";
    if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
    return r + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string upgrade(const std::string& target, const std::string& token, const std::string& extra = "") {
    std::string r = "GET " + target + " HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
    return r + extra + "\r\n";
}

// ---------------------------------------------------------------------------------------------
// Malformed requests: each answered with what docs/api.md says (a 4xx), or the connection closed
// where the bytes are not HTTP; never a 5xx, never silence.

struct hostile_case {
    std::string name;
    std::string bytes;
    std::set<int> allowed;        // status codes that are right
    bool close_is_fine = false;   // not HTTP at all: closing without a word is right too
};

std::vector<hostile_case> hostile_cases(tokens t, std::size_t variant) {
    t.dealer = t.dealer_pool[variant % t.dealer_pool.size()];
    const std::string deep(200, '[');
    std::vector<hostile_case> cases = {
        {"NUL in a query value", get("/api/orders?status=%00", t.dealer), {400}},
        {"invalid UTF-8 in a query value", get("/api/orders?dealer_id=%C3%28", t.dealer), {400}},
        {"a control character in a path id", get("/api/orders/%01x", t.dealer), {400}},
        {"a NUL in the claims filter", get("/api/claims?order_id=%00", t.dealer), {400}},
        {"a NUL in the stock filter", get("/api/stock?sku=%00", t.staff), {400}},
        {"a parameter twice", get("/api/orders?limit=1&limit=2", t.dealer), {400}},
        {"an unknown parameter", get("/api/orders?colour=red", t.dealer), {400}},
        {"a number over 64 bits", get("/api/orders?limit=99999999999999999999999", t.dealer), {400}},
        {"min_position far beyond the head", get("/api/orders?min_position=18446744073709551615", t.dealer), {400}},
        {"a 6 KB query value", get("/api/orders?status=" + std::string(6000, 'a'), t.dealer), {400}},
        {"no such route", get("/api/nothing-here", t.dealer), {404}},
        {"a path that climbs", get("/../../etc/passwd", t.dealer), {400, 404}},
        {"a wrong method", "DELETE /api/commands HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer " + t.dealer + "\r\n\r\n", {404, 405}},
        {"an expired token", get("/api/orders", t.expired), {401}},
        {"a token signed with another secret", get("/api/orders", t.forged), {401}},
        {"an empty bearer", get("/api/orders", "", "Authorization: Bearer \r\n"), {401}},
        {"basic authentication", get("/api/orders", "", "Authorization: Basic c29hazpzb2Fr\r\n"), {401}},
        {"a token in the query with a NUL", get("/api/orders?access_token=%00", ""), {400, 401}},
        {"malformed JSON", post("/api/commands", t.dealer, "{\"command_id\":"), {400}},
        {"JSON 200 levels deep", post("/api/commands", t.dealer, deep), {400}},
        {"an unknown command", post("/api/commands", t.dealer, R"({"command_id":"soak-x","type":"LaunchRocket","data":{}})"), {400}},
        {"a command id that is a number", post("/api/commands", t.dealer, R"({"command_id":5,"type":"PlaceOrder","data":{}})"), {400}},
        {"a bulk of numbers", post("/api/commands", t.dealer, "[1,2,3]"), {400}},
        {"a command with an expired token", post("/api/commands", t.expired, R"({"command_id":"soak-y","type":"CancelOrder","data":{}})"), {401}},
        {"headers of 20 KB", get("/healthz", "", "X-Padding: " + std::string(20000, 'p') + "\r\n"), {431, 400}, true},
        {"a request line of 70 KB", get("/api/orders?x=" + std::string(70000, 'x'), t.dealer), {400, 414, 431}, true},
        {"a body announced at 2 MB",
         "POST /api/commands HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer " + t.dealer +
             "\r\nContent-Type: application/json\r\nContent-Length: 2000000\r\n\r\n" + std::string(65536, ' '),
         {413},
         true},
        {"a 900 KB body without a token",
         "POST /api/commands HTTP/1.1\r\nHost: soak\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n\r\n" +
             std::string(65536, ' '),
         {401},
         true},
        {"a chunked body over 1 MiB",
         [&] {
             std::string r = "POST /api/commands HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer " + t.dealer +
                             "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
             const std::string chunk(65536, ' ');
             for (int i = 0; i < 18; ++i) r += "10000\r\n" + chunk + "\r\n";
             return r + "0\r\n\r\n";
         }(),
         {413},
         true},
        {"a chunk size that is not hex",
         "POST /api/commands HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer " + t.dealer + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
         {400},
         true},
        {"not HTTP", "HELLO THERE\r\n\r\n", {400}, true},
        {"binary noise", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(500, '\xAA') + "\r\n\r\n", {400}, true},
        {"an upgrade without a token", upgrade("/api/live", ""), {401}},
        {"an upgrade with an expired token", upgrade("/api/live", t.expired), {401}},
        {"an upgrade with a forged token", upgrade("/api/live?access_token=" + t.forged, ""), {401}},
        {"an upgrade from a foreign page", upgrade("/api/live", t.dealer, "Origin: http://evil.example\r\n"), {403}},
        {"an upgrade with a bad position", upgrade("/api/live?from_position=abc", t.dealer), {400}},
        {"an upgrade naming another dealer", upgrade("/api/live?dealer_id=D-0002", t.dealer), {403}},
    };
    return cases;
}

std::string random_noise(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> length(1, 4096), byte(0, 255), kind(0, 3);
    std::string s;
    switch (kind(rng)) {
        case 0:  // bytes
            s.resize(static_cast<std::size_t>(length(rng)));
            for (auto& c : s) c = static_cast<char>(byte(rng));
            break;
        case 1:  // a request line with noise in the target
            s = "GET /api/orders?";
            for (int i = length(rng) % 300; i > 0; --i) s += static_cast<char>(byte(rng) % 94 + 33);
            s += " HTTP/1.1\r\nHost: soak";
            break;
        case 2:  // headers with noise
            s = "GET /healthz HTTP/1.1\r\nHost: soak\r\nX-";
            for (int i = length(rng) % 300; i > 0; --i) s += static_cast<char>(byte(rng));
            break;
        default:  // a JSON body with noise
            s = "POST /api/commands HTTP/1.1\r\nHost: soak\r\nContent-Length: 64\r\n\r\n";
            for (int i = 0; i < 64; ++i) s += static_cast<char>(byte(rng));
            return s;
    }
    return s + "\r\n\r\n";
}

void malformed_requests(const attack_options& o, const endpoint& server, const tokens& t, findings& seen, int worker) {
    // Workers take every other variant of the dealer's token.
    std::vector<std::vector<hostile_case>> variants;
    for (std::size_t v = static_cast<std::size_t>(worker); v < t.dealer_pool.size(); v += 2) variants.push_back(hostile_cases(t, v));
    std::mt19937_64 rng(0x50a4u + static_cast<unsigned>(worker));
    const auto deadline = steady::now() + std::chrono::duration<double>(o.seconds);
    for (std::size_t i = 0; going_on(deadline); ++i) {
        const auto& cases = variants[(i / (variants.front().size() + 1)) % variants.size()];
        const bool noise = i % (cases.size() + 1) == cases.size();
        const hostile_case c = noise ? hostile_case{"noise", random_noise(rng), {400, 401, 404, 405, 413, 431}, true}
                                     : cases[i % (cases.size() + 1)];
        auto s = connect_to(server);
        if (!s) {
            seen.problem("cannot connect for \"" + c.name + "\": " + std::strerror(errno));
            std::this_thread::sleep_for(100ms);
            continue;
        }
        (void)send_all(s.get(), c.bytes);  // the server may close before taking it all: fine
        const auto a = read_answer(s.get(), 20s);
        if (a.what == answer::status && c.allowed.count(a.code)) {
            seen.count("malformed: refused as documented");
        } else if (a.what == answer::status && a.code < 500 && noise) {
            // Random bytes may happen to form a valid request (`X-:` is a header): any answer but a
            // 5xx is right for noise.
            seen.count("malformed: noise answered without a 5xx");
        } else if (a.what == answer::closed && c.close_is_fine) {
            seen.count("malformed: connection closed (not HTTP)");
        } else if (a.what == answer::status && a.code == 429) {
            seen.count("malformed: rate limited");
        } else {
            const std::string got = a.what == answer::timed_out ? "no answer in 20 s"
                                    : a.what == answer::closed  ? "the connection closed without an answer"
                                                                : a.head.substr(0, a.head.find('\r'));
            seen.problem("\"" + c.name + "\": " + got);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Slowloris: connections that dribble a request a byte a second. The server must close each within
// its 15 s request timeout (docs/api.md, "Limits"); a new one replaces it.

void slowloris(const attack_options& o, const endpoint& server, const tokens& t, findings& seen) {
    struct dribbler {
        socket_fd s;
        std::string bytes;
        std::size_t sent = 0;
        steady::time_point opened;
    };
    const std::string header = "GET /healthz HTTP/1.1\r\nHost: soak\r\nX-Slow: ";
    const std::string body_start = "POST /api/commands HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer " + t.dealer +
                                   "\r\nContent-Length: 4000\r\n\r\n{\"command_id\":\"";
    std::vector<dribbler> open;
    const auto deadline = steady::now() + std::chrono::duration<double>(o.seconds);
    const auto limit = 15s + 10s;  // the server's request timeout, plus a margin for a busy machine
    std::uint64_t opened = 0;
    while (going_on(deadline)) {
        while (open.size() < static_cast<std::size_t>(o.slowloris)) {
            dribbler d;
            d.s = connect_to(server);
            if (!d.s) break;
            // Half dribble headers, half a body after headers that an admitted token passed.
            d.bytes = (opened % 2 ? body_start : header) + std::string(10000, 'a');
            d.sent = opened % 2 ? body_start.size() : header.size() - 2;
            (void)send_all(d.s.get(), std::string_view(d.bytes).substr(0, d.sent));
            d.opened = steady::now();
            open.push_back(std::move(d));
            ++opened;
        }
        for (auto it = open.begin(); it != open.end();) {
            const bool gone = peer_hung_up(it->s.get()) || ::send(it->s.get(), it->bytes.data() + it->sent, 1, MSG_NOSIGNAL) != 1;
            ++it->sent;
            const auto age = steady::now() - it->opened;
            if (gone) {
                seen.count("slowloris: closed by the server");
                if (age > limit)
                    seen.problem("a slowloris connection lived " +
                                 std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) + " s");
                it = open.erase(it);
            } else if (age > limit + 5s) {
                seen.problem("a slowloris connection is still open after " +
                             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(age).count()) + " s");
                it = open.erase(it);
            } else {
                ++it;
            }
        }
        std::this_thread::sleep_for(1s);
    }
    seen.count("slowloris: opened", opened);
}

// ---------------------------------------------------------------------------------------------
// Upgrade floods: one dealer opens more live sockets than its cap, again and again; the cap holds
// (never more than --max-live-per-dealer at once), the rest are 429, and closing frees places.
// Meanwhile upgrades without a token are refused as fast as they come.

void upgrade_flood(const attack_options& o, const endpoint& server, const tokens& t, findings& seen) {
    const auto deadline = steady::now() + std::chrono::duration<double>(o.seconds);
    const int attempts = o.max_live_per_dealer + 10;
    int round = 0;
    while (going_on(deadline)) {
        std::vector<socket_fd> held;
        int upgraded = 0, refused = 0;
        for (int i = 0; i < attempts && going_on(deadline); ++i) {
            auto s = connect_to(server);
            if (!s) continue;
            (void)send_all(s.get(), upgrade("/api/live?from_position=0", t.flood_dealer));
            const auto a = read_answer(s.get(), 10s);
            if (a.code == 101) {
                ++upgraded;
                held.push_back(std::move(s));
            } else if (a.code == 429) {
                ++refused;
            } else {
                seen.problem("an upgrade in the flood was answered " +
                             (a.what == answer::status ? a.head.substr(0, a.head.find('\r')) : std::string("with nothing")));
            }
        }
        if (upgraded > o.max_live_per_dealer)
            seen.problem("one dealer held " + std::to_string(upgraded) + " live sockets (cap " + std::to_string(o.max_live_per_dealer) + ")");
        if (round == 0 && upgraded != o.max_live_per_dealer)
            seen.problem("the first flood round upgraded " + std::to_string(upgraded) + " sockets, not the cap of " +
                         std::to_string(o.max_live_per_dealer));
        seen.count("upgrade flood: upgraded", static_cast<std::uint64_t>(upgraded));
        seen.count("upgrade flood: refused 429", static_cast<std::uint64_t>(refused));
        held.clear();  // closing frees the places (the server notices in its own time)
        for (int i = 0; i < 50 && going_on(deadline); ++i) {
            auto s = connect_to(server);
            if (!s) continue;
            (void)send_all(s.get(), upgrade("/api/live", ""));
            const auto a = read_answer(s.get(), 10s);
            if (a.code == 401)
                seen.count("upgrade flood: no token, 401");
            else
                seen.problem("an upgrade without a token was answered " + std::to_string(a.code));
        }
        ++round;
        std::this_thread::sleep_for(2s);
    }
}

// ---------------------------------------------------------------------------------------------
// Clients that never read: live sockets from position 0 (the whole log to catch up) with a tiny
// receive buffer, and HTTP connections that pipeline thousands of requests; the server must not
// hold their backlog without bound (the RSS check) and drops the slow ones (its metric says how
// many: the client cannot see a close queued behind the bytes it never reads). Each is replaced
// after 20 s, so the pressure goes on for the whole soak and a leak per client would show.

void non_readers(const attack_options& o, const endpoint& server, const tokens& t, findings& seen) {
    std::vector<socket_fd> sockets;
    std::vector<steady::time_point> opened;
    const auto deadline = steady::now() + std::chrono::duration<double>(o.seconds);
    std::string pipelined;
    for (int i = 0; i < 2000; ++i) pipelined += get("/api/orders?limit=200", t.dealer);
    std::uint64_t recycled = 0, started = 0;
    while (going_on(deadline)) {
        while (sockets.size() < static_cast<std::size_t>(o.non_readers)) {
            auto s = connect_to(server, 4096);
            if (!s) break;
            ++started;
            if (started % 4 == 0) {
                // HTTP: send the requests, read none of the answers (sending blocks at most 5 s).
                (void)send_all(s.get(), pipelined);
            } else {
                (void)send_all(s.get(), upgrade("/api/live?from_position=0", started % 4 == 1 ? t.staff : t.dealer));
                // Read only the handshake's answer; from here on, nothing.
                const auto a = read_answer(s.get(), 10s);
                if (a.code != 101 && a.code != 429) {
                    seen.problem("a non-reading client's upgrade was answered " + std::to_string(a.code));
                    continue;
                }
            }
            sockets.push_back(std::move(s));
            opened.push_back(steady::now());
        }
        for (std::size_t i = 0; i < sockets.size();) {
            if (peer_hung_up(sockets[i].get()) || steady::now() - opened[i] > 20s) {
                ++recycled;
                sockets.erase(sockets.begin() + static_cast<std::ptrdiff_t>(i));
                opened.erase(opened.begin() + static_cast<std::ptrdiff_t>(i));
            } else {
                ++i;
            }
        }
        std::this_thread::sleep_for(500ms);
    }
    seen.count("non-readers: opened", started);
    seen.count("non-readers: closed and replaced", recycled);
}

// ---------------------------------------------------------------------------------------------
// The probe: the server must keep answering everyone else, promptly, all through the attacks.

std::uint64_t rss_mb(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10) / 1024;
    return 0;
}

bool alive(int pid) { return ::kill(pid, 0) == 0; }

struct probe_result {
    std::uint64_t rss_first = 0, rss_max = 0, rss_last = 0;
    std::vector<std::uint64_t> rss_samples;  // one per 10 s
    double worst_ms = 0;
    std::vector<double> latencies_ms;
};

void probe(const attack_options& o, const endpoint& server, const tokens& t, findings& seen, probe_result& out) {
    const auto deadline = steady::now() + std::chrono::duration<double>(o.seconds);
    auto last_sample = steady::now() - 10s;
    for (int tick = 0; steady::now() < deadline; ++tick) {
        if (o.server_pid) {
            if (!alive(o.server_pid)) {
                seen.problem("the server process is gone");
                server_gone = true;
                return;
            }
            const auto rss = rss_mb(o.server_pid);
            if (!out.rss_first) out.rss_first = rss;
            out.rss_max = std::max(out.rss_max, rss);
            out.rss_last = rss;
            if (steady::now() - last_sample >= 10s) {
                out.rss_samples.push_back(rss);
                last_sample = steady::now();
            }
            if (rss > o.max_rss_mb) seen.problem("the server's RSS is " + std::to_string(rss) + " MB, over the cap");
        }
        const bool query = tick % 4 == 0;
        const auto started = steady::now();
        auto s = connect_to(server);
        if (!s) {
            seen.problem(std::string("the probe cannot connect: ") + std::strerror(errno));
        } else {
            (void)send_all(s.get(), query ? get("/api/orders?limit=5", t.probe) : get("/healthz"));
            const auto a = read_answer(s.get(), 5s);
            const double ms = std::chrono::duration<double, std::milli>(steady::now() - started).count();
            if (a.code == 200) {
                out.latencies_ms.push_back(ms);
                out.worst_ms = std::max(out.worst_ms, ms);
                seen.count(query ? "probe: orders answered" : "probe: healthz answered");
            } else {
                seen.problem(std::string("the probe's ") + (query ? "orders query" : "/healthz") + " got " +
                             (a.what == answer::timed_out ? "no answer in 5 s" : a.head.substr(0, a.head.find('\r'))));
            }
        }
        std::this_thread::sleep_until(started + 250ms);
    }
}

// The server's own count of exceptions caught by its last resorts must stay 0: each is a bug.
void check_metrics(const endpoint& server, findings& seen) {
    auto s = connect_to(server);
    (void)send_all(s.get(), "GET /metrics HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n");
    std::string all;
    char buffer[65536];
    for (;;) {
        pollfd p{s.get(), POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) break;
        const auto n = ::recv(s.get(), buffer, sizeof buffer, 0);
        if (n <= 0) break;
        all.append(buffer, static_cast<std::size_t>(n));
    }
    std::istringstream lines(all);
    std::string line;
    double internal = 0;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') continue;
        const auto space = line.rfind(' ');
        if (space == std::string::npos) continue;
        const double value = std::strtod(line.c_str() + space + 1, nullptr);
        if (line.rfind("dealerline_internal_errors_total", 0) == 0) internal += value;
        for (const char* shown : {"dealerline_websocket_slow_clients_dropped_total", "dealerline_rate_limited_total",
                                  "dealerline_http_requests_total", "dealerline_log_head_position", "dealerline_commands_total"}) {
            if (line.rfind(shown, 0) == 0 && value > 0) std::cout << "  metric " << line << '\n';
        }
    }
    if (all.find("dealerline_log_head_position") == std::string::npos) seen.problem("/metrics did not answer");
    if (internal > 0) seen.problem("dealerline_internal_errors_total is " + std::to_string(internal) + ": see the server's log");
}

int run_attack(attack_options o) {
    if (const char* secret = std::getenv("DEALERLINE_JWT_SECRET")) o.secret = secret;
    if (o.secret.size() < api::min_secret_bytes) {
        std::cerr << "soak: DEALERLINE_JWT_SECRET must hold the server's secret\n";
        return 2;
    }
    const auto server = resolve(o.host, o.port);
    const auto t = make_tokens(o);
    findings seen;
    probe_result probed;
    std::cout << "soak: " << o.seconds << " s of hostile clients against " << o.host << ':' << o.port << '\n';
    std::vector<std::thread> attackers;
    attackers.emplace_back([&] { probe(o, server, t, seen, probed); });
    attackers.emplace_back([&] { malformed_requests(o, server, t, seen, 0); });
    attackers.emplace_back([&] { malformed_requests(o, server, t, seen, 1); });
    attackers.emplace_back([&] { slowloris(o, server, t, seen); });
    attackers.emplace_back([&] { upgrade_flood(o, server, t, seen); });
    attackers.emplace_back([&] { non_readers(o, server, t, seen); });
    for (auto& a : attackers) a.join();

    if (o.server_pid && !alive(o.server_pid)) seen.problem("the server process is gone at the end");
    check_metrics(server, seen);
    {
        auto s = connect_to(server);
        (void)send_all(s.get(), get("/readyz"));
        const auto a = read_answer(s.get(), 5s);
        if (a.code != 200) seen.problem("/readyz at the end: " + a.head.substr(0, a.head.find('\r')));
    }
    std::sort(probed.latencies_ms.begin(), probed.latencies_ms.end());
    auto percentile = [&](double p) {
        return probed.latencies_ms.empty() ? 0.0 : probed.latencies_ms[static_cast<std::size_t>(p * static_cast<double>(probed.latencies_ms.size() - 1))];
    };
    std::cout << "soak: what happened\n";
    seen.print(std::cout);
    std::cout << "  probe latency: p50 " << percentile(0.5) << " ms, p99 " << percentile(0.99) << " ms, worst " << probed.worst_ms
              << " ms\n";
    if (o.server_pid) {
        std::cout << "  server RSS: first " << probed.rss_first << " MB, max " << probed.rss_max << " MB, last " << probed.rss_last
                  << " MB (cap " << o.max_rss_mb << " MB); every 10 s:";
        for (auto mb : probed.rss_samples) std::cout << ' ' << mb;
        std::cout << '\n';
    }
    if (seen.problems()) {
        std::cout << "soak: FAILED with " << seen.problems() << " problem(s)\n";
        return 1;
    }
    std::cout << "soak: the server stood\n";
    return 0;
}

// ---------------------------------------------------------------------------------------------
// check: every acknowledged command ("command_id position,position…" lines) is in the log, at the
// positions it was told.

int run_check(const std::string& data, const std::vector<std::string>& files) {
    dealerline::storage::log_options options;
    options.read_only = true;
    options.create_if_missing = false;
    auto log = dealerline::storage::event_log::open(data, options);
    if (!log) {
        std::cerr << "soak check: cannot open " << data << ": " << log.error().message << '\n';
        return 1;
    }
    std::uint64_t commands = 0, events = 0, missing = 0;
    for (const auto& file : files) {
        std::ifstream in(file);
        if (!in) {
            std::cerr << "soak check: cannot read " << file << '\n';
            return 1;
        }
        std::string line;
        while (std::getline(in, line)) {
            std::istringstream fields(line);
            std::string command_id, positions;
            fields >> command_id >> positions;
            if (command_id.empty()) continue;
            ++commands;
            if (positions.empty()) {
                // Every command the simulator sends appends (or, retried, names its original's events).
                if (++missing <= 20) std::cerr << "soak check: acknowledged command " << command_id << " came without positions\n";
                continue;
            }
            std::istringstream list(positions);
            std::string position;
            while (std::getline(list, position, ',')) {
                ++events;
                const auto at = std::strtoull(position.c_str(), nullptr, 10);
                auto found = (*log)->read_all(at, 1);
                if (!found || found->empty() || found->front().position != at || found->front().command_id != command_id) {
                    if (++missing <= 20)
                        std::cerr << "soak check: acknowledged command " << command_id << " is not at position " << at << '\n';
                }
            }
        }
    }
    std::cout << "soak check: " << commands << " acknowledged commands, " << events << " events, " << missing << " missing (head "
              << (*log)->head_position() << ")\n";
    if (commands == 0 || events == 0) {
        std::cerr << "soak check: nothing was acknowledged: the traffic did not run\n";
        return 1;
    }
    return missing ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("The hostile clients of scripts/soak.sh, and the check of acknowledged commands afterwards");
    app.require_subcommand(1);
    attack_options o;
    auto* attack = app.add_subcommand("attack", "Hostile clients against a running server (secret from DEALERLINE_JWT_SECRET)");
    attack->add_option("--port", o.port, "The server's port on 127.0.0.1")->required();
    attack->add_option("--seconds", o.seconds, "How long");
    attack->add_option("--server-pid", o.server_pid, "The server's process, for its RSS and whether it lives");
    attack->add_option("--max-rss-mb", o.max_rss_mb, "Fail when the server's RSS passes this");
    attack->add_option("--slowloris", o.slowloris, "Slowloris connections held at once");
    attack->add_option("--non-readers", o.non_readers, "Clients that never read, held at once");
    attack->add_option("--max-live-per-dealer", o.max_live_per_dealer, "The server's cap");
    std::string data;
    std::vector<std::string> files;
    auto* check = app.add_subcommand("check", "Every acknowledged command is in the log");
    check->add_option("--data", data, "The event log's folder")->required();
    check->add_option("acked", files, "Files of acknowledged commands")->required();
    CLI11_PARSE(app, argc, argv);
    try {
        if (attack->parsed()) return run_attack(o);
        return run_check(data, files);
    } catch (const std::exception& e) {
        std::cerr << "soak: " << e.what() << '\n';
        return 1;
    }
}
