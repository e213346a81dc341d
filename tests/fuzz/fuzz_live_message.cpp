// A live socket's messages: {"command": {…}} or a 400, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/detail/command_input.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace dealerline;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto command = api::detail::parse_live_message(text, 64);
    if (!command) {
        fuzz_check(!command.error().code.empty() && !command.error().message.empty(), "a refusal without code or message");
        return 0;
    }
    (void)api::detail::parse_command_request(*command);
    return 0;
}
