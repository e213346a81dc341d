// Bearer tokens: any text is either refused with a stable code or verified into claims that were
// signed with our secret; a refusal never repeats the token.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "api/auth.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace dealerline;
    static const std::string secret = "fuzz-secret-0123456789abcdef-0123456789";
    const std::string_view token(reinterpret_cast<const char*>(data), size);
    auto claims = api::verify_token(secret, token, 1'800'000'000);
    if (!claims) {
        fuzz_check(claims.error().code == "invalid_token" || claims.error().code == "expired_token", "an unknown refusal code");
        // No fixed refusal text has a '.', every token has two: a dotted input found in the message was
        // echoed (an input without one may simply be a piece of the fixed text, as the fuzzer found).
        fuzz_check(token.find('.') == std::string_view::npos || claims.error().message.find(token) == std::string::npos,
                   "the refusal repeats the token");
        return 0;
    }
    // Accepted: only a token we signed can be; its claims signed again verify to the same claims.
    auto reissued = api::issue_token(secret, *claims);
    fuzz_check(reissued.has_value(), "verified claims cannot be signed again");
    auto again = api::verify_token(secret, *reissued, 1'800'000'000);
    fuzz_check(again.has_value() && again->subject == claims->subject && again->role == claims->role &&
                   again->dealer_id == claims->dealer_id && again->expires_at == claims->expires_at,
               "re-signed claims do not verify to themselves");
    return 0;
}
