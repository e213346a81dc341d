#pragma once

#include <deque>
#include <memory>
#include <string>
#include <type_traits>

#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "api/detail/http_answers.hpp"

namespace dealerline::api {

namespace websocket = beast::websocket;

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

}  // namespace dealerline::api
