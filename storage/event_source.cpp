#include "storage/event_source.hpp"

namespace dealerline::storage {

result<std::vector<recorded_event>> local_event_source::read_after(std::uint64_t after, std::size_t max,
                                                                   std::chrono::milliseconds wait) {
    if (log_.head_position() <= after) {
        if (log_.wait_for(after, std::chrono::steady_clock::now() + wait) <= after) return std::vector<recorded_event>{};
    }
    return log_.read_all(after + 1, max);
}

}  // namespace dealerline::storage
