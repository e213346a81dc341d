// Query strings and path segments: whatever comes in, what is accepted is valid UTF-8 without
// control characters (docs/api.md, "Input").
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/detail/request_input.hpp"
#include "tests/fuzz/fuzz_check.hpp"

namespace {
void check_clean(std::string_view value, const char* what) {
    using namespace dealerline::api::detail;
    fuzz_check(valid_utf8(value) && !has_control_character(value), what);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace dealerline::api::detail;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto params = parse_query(text)) {
        for (const auto& [name, value] : *params) {
            check_clean(name, "an accepted parameter name is not clean text");
            check_clean(value, "an accepted parameter value is not clean text");
        }
    }
    if (auto id = path_id(text, "order")) {
        fuzz_check(is_id(*id), "an accepted path id is not an id");
    }
    if (auto stream = path_stream(text)) check_clean(*stream, "an accepted stream name is not clean text");
    (void)percent_decode(text, true);
    (void)unsigned_of(text);
    return 0;
}
