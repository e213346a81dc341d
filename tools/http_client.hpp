// A small blocking HTTP/1.1 client with one kept-alive connection, for the simulator and the load
// generator. Beast stays in http_client.cpp.
#pragma once

#include <memory>
#include <string>

namespace dealerline::tools {

struct http_answer {
    int status = 0;  // 0: no answer (cannot connect, connection lost)
    std::string body;
    std::string error;  // why there is no answer
};

class http_client {
public:
    // "http://host:port" (no path); throws std::invalid_argument for anything else.
    explicit http_client(const std::string& url);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    // Reconnects when the connection was closed; a request that failed is not retried here.
    http_answer post(const std::string& target, const std::string& body, const std::string& token);
    http_answer get(const std::string& target, const std::string& token = "");

    [[nodiscard]] const std::string& host() const noexcept;
    [[nodiscard]] const std::string& port() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace dealerline::tools
