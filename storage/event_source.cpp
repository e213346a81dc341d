#include "storage/event_source.hpp"

#include <thread>

namespace dealerline::storage {

result<std::vector<recorded_event>> local_event_source::read_after(std::uint64_t after, std::size_t max,
                                                                   std::chrono::milliseconds wait) {
    if (log_.head_position() <= after) {
        if (log_.wait_for(after, std::chrono::steady_clock::now() + wait) <= after) return std::vector<recorded_event>{};
    }
    return log_.read_all(after + 1, max);
}

result<std::uint64_t> following_event_source::catch_up() {
    std::lock_guard lock(catching_up_);  // one catch-up at a time; the others find its result
    return log_.catch_up();
}

result<std::vector<recorded_event>> following_event_source::read_after(std::uint64_t after, std::size_t max,
                                                                       std::chrono::milliseconds wait) {
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
        if (log_.head_position() > after) return log_.read_all(after + 1, max);
        if (auto caught = catch_up(); !caught) return tl::unexpected(caught.error());
        if (log_.head_position() > after) continue;
        // The writer has nothing new: look again a little later (a follower is not notified).
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) return std::vector<recorded_event>{};
        std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(deadline - now, std::chrono::milliseconds(10)));
    }
}

}  // namespace dealerline::storage
