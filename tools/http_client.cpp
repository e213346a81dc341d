#include "tools/http_client.hpp"

#include <optional>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace dealerline::tools {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct http_client::impl {
    std::string host, port;
    net::io_context ioc;
    std::optional<beast::tcp_stream> stream;
    beast::flat_buffer buffer;

    http_answer send(http::verb verb, const std::string& target, const std::string& body, const std::string& token) {
        for (int attempt = 0; attempt < 2; ++attempt) {  // a kept-alive connection the server closed: once more
            const bool fresh = !stream;
            beast::error_code ec;
            if (!stream) {
                net::ip::tcp::resolver resolver(ioc);
                auto endpoints = resolver.resolve(host, port, ec);
                if (ec) return {0, "", "cannot resolve " + host + ": " + ec.message()};
                stream.emplace(ioc);
                stream->connect(endpoints, ec);
                if (ec) {
                    stream.reset();
                    return {0, "", "cannot connect to " + host + ":" + port + ": " + ec.message()};
                }
                stream->socket().set_option(net::ip::tcp::no_delay(true), ec);
            }
            http::request<http::string_body> req{verb, target, 11};
            req.set(http::field::host, host);
            req.keep_alive(true);
            if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
            if (verb == http::verb::post) {
                req.set(http::field::content_type, "application/json");
                req.body() = body;
                req.prepare_payload();
            }
            http::write(*stream, req, ec);
            http::response<http::string_body> res;
            if (!ec) http::read(*stream, buffer, res, ec);
            if (ec) {
                stream.reset();
                buffer.clear();
                if (fresh) return {0, "", "request failed: " + ec.message()};
                continue;
            }
            if (!res.keep_alive()) stream.reset();
            return {static_cast<int>(res.result_int()), std::move(res.body()), ""};
        }
        return {0, "", "the server closed the connection"};
    }
};

http_client::http_client(const std::string& url) : impl_(std::make_unique<impl>()) {
    constexpr std::string_view scheme = "http://";
    if (!url.starts_with(scheme)) throw std::invalid_argument("expected http://HOST:PORT, got " + url);
    std::string rest = url.substr(scheme.size());
    while (!rest.empty() && rest.back() == '/') rest.pop_back();
    const auto colon = rest.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size() || rest.find('/') != std::string::npos)
        throw std::invalid_argument("expected http://HOST:PORT, got " + url);
    impl_->host = rest.substr(0, colon);
    impl_->port = rest.substr(colon + 1);
}

http_client::~http_client() = default;

http_answer http_client::post(const std::string& target, const std::string& body, const std::string& token) {
    return impl_->send(http::verb::post, target, body, token);
}

http_answer http_client::get(const std::string& target, const std::string& token) {
    return impl_->send(http::verb::get, target, "", token);
}

const std::string& http_client::host() const noexcept { return impl_->host; }
const std::string& http_client::port() const noexcept { return impl_->port; }

}  // namespace dealerline::tools
