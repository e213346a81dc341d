// Bearer tokens (API.md "Authentication"): HS256 JWTs with `sub`, `role`, `dealer_id` (dealers)
// and `exp`, signed with the server's secret. Whoever holds a valid token acts as the actor it
// names; a dealer's id always comes from here, never from a request.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "domain/decider.hpp"

namespace dealerline::api {

// HS256 wants a key at least as long as its hash (RFC 7518 §3.2): 32 bytes.
inline constexpr std::size_t min_secret_bytes = 32;

struct token_claims {
    std::string subject;               // `sub`: a staff member's id, the dealer's id for dealers
    domain::role role = domain::role::auditor;
    std::string dealer_id;             // dealers only
    std::int64_t expires_at = 0;       // `exp`, seconds since the epoch

    // Who acts when this token sends a command.
    [[nodiscard]] domain::actor actor() const;
};

struct auth_error {
    std::string code;     // stable: "invalid_token", "expired_token"
    std::string message;  // plain words; never contains the token
};

// Signs a token. The secret must be at least min_secret_bytes long; a dealer needs its dealer id.
[[nodiscard]] tl::expected<std::string, auth_error> issue_token(std::string_view secret, const token_claims&);

// Checks the signature (HS256 only: "none" and every other algorithm are refused), the expiry
// against `now_seconds`, and the claims' shape.
[[nodiscard]] tl::expected<token_claims, auth_error> verify_token(std::string_view secret, std::string_view token,
                                                                  std::int64_t now_seconds);

}  // namespace dealerline::api
