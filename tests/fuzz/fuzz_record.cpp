// The log's stored event records: decoding damaged bytes says no, never reads out of bounds.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "storage/detail/record.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace dealerline::storage;
    const std::string_view value(reinterpret_cast<const char*>(data), size);
    event_view view;
    std::string_view canonical;
    if (!detail::decode_event(value, view, canonical)) return 0;
    auto inside = [&](std::string_view part) {
        return part.empty() || (part.data() >= value.data() && part.data() + part.size() <= value.data() + value.size());
    };
    fuzz_check(inside(canonical) && inside(view.stream) && inside(view.type) && inside(view.data) && inside(view.metadata) &&
                   inside(view.command_id),
               "a decoded field points outside the record");
    return 0;
}
