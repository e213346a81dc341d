// POST /api/commands bodies: strict parsing never crashes, and a command it accepts survives the
// codec's round trip (its data, written back out, parses to the same command).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json/serialize.hpp>

#include "api/detail/command_input.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace dealerline;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto body = api::detail::parse_json(text, 64, "the body");
    if (!body) return 0;
    auto request = api::detail::parse_command_request(*body);
    if (!request) return 0;
    const auto type = domain::codec::command_type(request->command);
    const boost::json::value written = domain::codec::command_data(request->command);
    auto again = domain::codec::parse_command(type, written);
    fuzz_check(again.has_value(), "a parsed command's own data does not parse again");
    fuzz_check(boost::json::value(domain::codec::command_data(*again)) == written, "the command changed in its round trip");
    return 0;
}
