#include "api/auth.hpp"

#include <cstdlib>
#include <memory>

#include <jwt.h>

#include "domain/validate.hpp"

namespace dealerline::api {
namespace {

struct jwt_free_t {
    void operator()(jwt_t* j) const noexcept { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_free_t>;

auth_error invalid(std::string why) { return auth_error{"invalid_token", std::move(why)}; }

const unsigned char* key_of(std::string_view secret) { return reinterpret_cast<const unsigned char*>(secret.data()); }

}  // namespace

domain::actor token_claims::actor() const {
    if (role == domain::role::dealer) return domain::actor{role, dealer_id, dealer_id};
    return domain::actor{role, subject, {}};
}

tl::expected<std::string, auth_error> issue_token(std::string_view secret, const token_claims& c) {
    if (secret.size() < min_secret_bytes)
        return tl::unexpected(auth_error{"weak_secret", "the secret must be at least " + std::to_string(min_secret_bytes) + " bytes"});
    if (c.role == domain::role::dealer && c.dealer_id.empty())
        return tl::unexpected(auth_error{"bad_request", "a dealer token needs a dealer id"});
    if (c.role == domain::role::dealer)
        if (auto bad = domain::check::id("dealer_id", c.dealer_id)) return tl::unexpected(auth_error{"bad_request", bad->message});
    if (c.subject.empty()) return tl::unexpected(auth_error{"bad_request", "a token needs a subject"});
    jwt_t* raw = nullptr;
    if (jwt_new(&raw) != 0) return tl::unexpected(auth_error{"internal", "cannot create a token"});
    jwt_ptr token(raw);
    const std::string role(domain::to_string(c.role));
    bool ok = jwt_add_grant(token.get(), "sub", c.subject.c_str()) == 0 && jwt_add_grant(token.get(), "role", role.c_str()) == 0 &&
              jwt_add_grant_int(token.get(), "exp", static_cast<long>(c.expires_at)) == 0;
    if (ok && c.role == domain::role::dealer) ok = jwt_add_grant(token.get(), "dealer_id", c.dealer_id.c_str()) == 0;
    if (ok) ok = jwt_set_alg(token.get(), JWT_ALG_HS256, key_of(secret), static_cast<int>(secret.size())) == 0;
    char* text = ok ? jwt_encode_str(token.get()) : nullptr;
    if (!text) return tl::unexpected(auth_error{"internal", "cannot sign the token"});
    std::string out(text);
    std::free(text);  // NOLINT: libjwt allocates with malloc
    return out;
}

tl::expected<token_claims, auth_error> verify_token(std::string_view secret, std::string_view token, std::int64_t now_seconds) {
    if (token.empty()) return tl::unexpected(invalid("no token"));
    if (token.size() > 4096) return tl::unexpected(invalid("the token is too long"));
    if (secret.size() < min_secret_bytes) return tl::unexpected(invalid("the server has no usable secret"));
    const std::string text(token);  // libjwt wants it NUL-terminated
    jwt_t* raw = nullptr;
    if (jwt_decode(&raw, text.c_str(), key_of(secret), static_cast<int>(secret.size())) != 0 || raw == nullptr)
        return tl::unexpected(invalid("the token is malformed or its signature does not match"));
    jwt_ptr jwt(raw);
    // Whatever the library accepted, only HS256 with our key counts ("alg": "none" above all).
    if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) return tl::unexpected(invalid("only HS256 tokens are accepted"));

    token_claims c;
    const char* sub = jwt_get_grant(jwt.get(), "sub");
    const char* role = jwt_get_grant(jwt.get(), "role");
    if (!sub || !*sub) return tl::unexpected(invalid("the token has no subject"));
    if (!role) return tl::unexpected(invalid("the token has no role"));
    const auto parsed = domain::role_from_string(role);
    if (!parsed) return tl::unexpected(invalid(std::string("unknown role ") + role));
    c.subject = sub;
    c.role = *parsed;
    // `exp` must be a JSON integer: libjwt reads "soon" as 0, so look at the JSON itself.
    char* exp_json = jwt_get_grants_json(jwt.get(), "exp");
    const std::string exp_text = exp_json ? exp_json : "";
    std::free(exp_json);  // NOLINT: libjwt allocates with malloc
    if (exp_text.empty() || exp_text.size() > 18 ||
        exp_text.find_first_not_of("0123456789") != std::string::npos)
        return tl::unexpected(invalid("the token has no numeric exp"));
    c.expires_at = std::stoll(exp_text);
    if (c.expires_at <= now_seconds) return tl::unexpected(auth_error{"expired_token", "the token has expired"});
    if (c.role == domain::role::dealer) {
        const char* dealer = jwt_get_grant(jwt.get(), "dealer_id");
        if (!dealer || domain::check::id("dealer_id", dealer)) return tl::unexpected(invalid("a dealer token needs a valid dealer_id"));
        c.dealer_id = dealer;
    }
    return c;
}

}  // namespace dealerline::api
