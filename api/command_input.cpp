#include "api/detail/command_input.hpp"

#include <boost/json/parse.hpp>

namespace dealerline::api::detail {

namespace json = boost::json;

tl::expected<json::value, bad_request> parse_json(std::string_view text, std::size_t max_depth, std::string_view what) {
    json::parse_options options;
    options.max_depth = max_depth;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec, {}, options);
    if (ec == json::error::too_deep)
        return tl::unexpected(bad_request{"too_deep", "the JSON is nested more than " + std::to_string(max_depth) + " levels deep"});
    if (ec) return tl::unexpected(bad_request{"malformed_json", std::string(what) + " is not JSON: " + ec.message()});
    return v;
}

tl::expected<command_request, bad_request> parse_command_request(const json::value& v) {
    const auto* o = v.if_object();
    if (!o) return tl::unexpected(bad_request{"bad_request", "the body must be a JSON object"});
    for (const auto& [key, _] : *o)
        if (key != "command_id" && key != "type" && key != "data" && key != "expected_version")
            return tl::unexpected(bad_request{"bad_request", "unknown field " + std::string(key)});
    const auto* id = o->if_contains("command_id");
    if (!id || !id->is_string() || id->get_string().empty() || id->get_string().size() > 128)
        return tl::unexpected(bad_request{"bad_request", "command_id: expected a string of 1 to 128 characters"});
    const auto* type = o->if_contains("type");
    if (!type || !type->is_string()) return tl::unexpected(bad_request{"bad_request", "type: expected a string"});
    const auto* data = o->if_contains("data");
    if (!data || !data->is_object()) return tl::unexpected(bad_request{"bad_request", "data: expected an object"});
    command_request out;
    out.command_id = std::string(id->get_string());
    if (const auto* ev = o->if_contains("expected_version")) {
        if (ev->is_uint64()) out.expected_version = ev->get_uint64();
        else if (ev->is_int64() && ev->get_int64() >= 0) out.expected_version = static_cast<std::uint64_t>(ev->get_int64());
        else return tl::unexpected(bad_request{"bad_request", "expected_version: expected a non-negative integer"});
    }
    auto command = domain::codec::parse_command(type->get_string(), *data);
    if (!command) {
        // The codec says which: a type no aggregate has, or data that does not fit the type.
        const bool unknown = command.error().code == "unknown_command";
        return tl::unexpected(bad_request{unknown ? "unknown_command" : "bad_request", command.error().message});
    }
    out.command = command.value();
    return out;
}

tl::expected<json::value, bad_request> parse_live_message(std::string_view text, std::size_t max_depth) {
    auto message = parse_json(text, max_depth, "the message");
    if (!message) return tl::unexpected(message.error());
    auto* o = message->if_object();
    auto* command = o ? o->if_contains("command") : nullptr;
    if (!command || o->size() != 1) return tl::unexpected(bad_request{"bad_request", "expected {\"command\": {…}}"});
    return std::move(*command);
}

}  // namespace dealerline::api::detail
