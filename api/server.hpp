// `dealerline serve`'s network side (API.md): commands in, queries and the live feed out, health
// and metrics. Beast and Asio stay in server.cpp; this header is cheap to include.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "commands/handler.hpp"
#include "projections/projections.hpp"
#include "projections/queries.hpp"
#include "storage/event_log.hpp"
#include "storage/event_source.hpp"

namespace dealerline::api {

// How a component that works in the background (process managers, schedulers) is doing:
// `problem` is empty while it is healthy; `errors` counts its failures so far.
struct component_health {
    std::string problem;
    std::uint64_t errors = 0;
};

struct server_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;                       // 0: any free port (see server::port())
    std::string jwt_secret;                          // at least 32 bytes
    std::size_t io_threads = std::max(1u, std::thread::hardware_concurrency());
    std::size_t command_threads = 64;                // commands wait for fsync off the io threads (one per waiting command)
    std::size_t max_body_bytes = 1 << 20;            // 413 above
    std::size_t max_header_bytes = 16 << 10;         // 431 above
    std::size_t max_json_depth = 32;                 // 400 above
    std::chrono::seconds request_timeout{15};        // to receive one request, headers and body (slowloris)
    std::chrono::seconds idle_timeout{60};           // a kept-alive connection with nothing to say
    std::size_t max_connections = 10'000;            // beyond: refused at once (lowered to what RLIMIT_NOFILE allows)
    std::size_t max_live_per_dealer = 50;            // live sockets of one dealer's tokens; 429 beyond
    std::uint64_t ready_max_lag = 10'000;            // /readyz: a projection further behind is not ready
    std::string postgres;                            // /readyz checks it answers
    // The live feed (websockets): browsers' upgrades must come from our own page or from one of
    // these origins ("https://portal.example.com"); clients that send no Origin are not browsers.
    std::vector<std::string> allowed_origins;
    std::size_t live_queue_messages = 1024;          // per socket; a client further behind is closed (1013)
    // The kernel's send buffer of a live socket: with thousands of clients the kernel's own
    // autotuned buffers (up to megabytes each) would be the unbounded queue.
    std::size_t live_send_buffer_bytes = 64 << 10;
    std::size_t max_ws_message_bytes = 64 << 10;     // a bigger incoming message closes the socket (1009)
    // Per token (subject): requests, upgrades and socket commands per second, and the burst
    // allowed above that; 429 beyond. 0: no limit.
    double rate_limit = 200;
    double rate_burst = 400;
    // Components outside the server that /readyz and /metrics report on (serve passes the
    // process managers and the schedulers).
    struct background_component {
        std::string name;
        std::function<component_health()> health;
    };
    std::vector<background_component> background;
};

class server {
public:
    // `runner` and `queries` may be null (no read models in this process: no queries then). The
    // live feed reads committed events from `events` (null: the log's own tail).
    server(server_options, storage::event_log&, commands::handler&, const projections::runner*, projections::queries* = nullptr,
           storage::event_source* events = nullptr);
    ~server();  // stops
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds and starts serving; throws std::runtime_error with the reason when it cannot bind.
    void start();
    [[nodiscard]] std::uint16_t port() const noexcept;
    // Stops accepting, lets in-flight commands finish (what was acknowledged is durable), closes
    // connections, joins the threads.
    void stop();

    struct impl;  // server.cpp's; public only so its connection type can name it

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace dealerline::api
