// Bearer tokens: what is accepted, and every way a token is refused before anything happens.
#include "api/auth.hpp"

#include <cstdlib>
#include <memory>

#include <gtest/gtest.h>
#include <jwt.h>

namespace dealerline::testing {
namespace {

using namespace domain;

const std::string secret = "0123456789abcdef0123456789abcdef-test";
constexpr std::int64_t now = 1'795'000'000;

api::token_claims dealer_claims() { return {"D-0042", role::dealer, "D-0042", now + 3600}; }

std::string base64url(std::string_view in) {
    static const char* const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned value = 0;
    int bits = 0;
    for (char ch : in) {
        value = (value << 8) | static_cast<unsigned char>(ch);
        bits += 8;
        while (bits >= 6) {
            out += alphabet[(value >> (bits - 6)) & 63];
            bits -= 6;
        }
    }
    if (bits > 0) out += alphabet[(value << (6 - bits)) & 63];
    return out;
}

// A token signed with libjwt directly: any algorithm, any grants.
std::string raw_token(jwt_alg_t alg, const std::string& key, const std::string& grants_json) {
    jwt_t* raw = nullptr;
    EXPECT_EQ(jwt_new(&raw), 0);
    std::unique_ptr<jwt_t, void (*)(jwt_t*)> jwt(raw, jwt_free);
    EXPECT_EQ(jwt_add_grants_json(jwt.get(), grants_json.c_str()), 0);
    const auto* k = key.empty() ? nullptr : reinterpret_cast<const unsigned char*>(key.data());
    EXPECT_EQ(jwt_set_alg(jwt.get(), alg, k, static_cast<int>(key.size())), 0);
    char* text = jwt_encode_str(jwt.get());
    std::string out = text ? text : "";
    std::free(text);
    return out;
}

std::string code_of(std::string_view token) {
    auto r = api::verify_token(secret, token, now);
    return r ? "ok" : r.error().code;
}

TEST(Auth, ADealerTokenNamesTheDealerAndItsActor) {
    auto token = api::issue_token(secret, dealer_claims());
    ASSERT_TRUE(token) << token.error().message;
    auto claims = api::verify_token(secret, *token, now);
    ASSERT_TRUE(claims) << claims.error().message;
    EXPECT_EQ(claims->role, role::dealer);
    EXPECT_EQ(claims->dealer_id, "D-0042");
    EXPECT_EQ(claims->expires_at, now + 3600);
    EXPECT_EQ(claims->actor().label(), "dealer:D-0042");
}

TEST(Auth, AStaffTokenActsAsItsSubject) {
    auto token = api::issue_token(secret, {"eng-7", role::engineer, "", now + 60});
    ASSERT_TRUE(token);
    auto claims = api::verify_token(secret, *token, now);
    ASSERT_TRUE(claims);
    EXPECT_EQ(claims->actor().label(), "staff:eng-7");
    EXPECT_TRUE(claims->dealer_id.empty());
}

TEST(Auth, MissingGarbageAndOversizedTokensAreInvalid) {
    EXPECT_EQ(code_of(""), "invalid_token");
    EXPECT_EQ(code_of("not-a-token"), "invalid_token");
    EXPECT_EQ(code_of("a.b.c"), "invalid_token");
    EXPECT_EQ(code_of(std::string(5000, 'a')), "invalid_token");
}

TEST(Auth, AnExpiredTokenIsRefused) {
    auto claims = dealer_claims();
    claims.expires_at = now;
    auto token = api::issue_token(secret, claims);
    ASSERT_TRUE(token);
    EXPECT_EQ(code_of(*token), "expired_token");
    claims.expires_at = now + 1;
    EXPECT_EQ(code_of(*api::issue_token(secret, claims)), "ok");
}

TEST(Auth, ATokenSignedWithAnotherSecretIsRefused) {
    auto token = api::issue_token("another-secret-that-is-long-enough-too", dealer_claims());
    ASSERT_TRUE(token);
    EXPECT_EQ(code_of(*token), "invalid_token");
}

TEST(Auth, AChangedPayloadBreaksTheSignature) {
    auto token = *api::issue_token(secret, dealer_claims());
    const auto first = token.find('.'), second = token.find('.', first + 1);
    const auto forged = token.substr(0, first + 1) +
                        base64url(R"({"sub":"admin","role":"admin","exp":)" + std::to_string(now + 3600) + "}") +
                        token.substr(second);
    EXPECT_EQ(code_of(forged), "invalid_token");
}

TEST(Auth, AlgNoneIsRefused) {
    const auto payload = base64url(R"({"sub":"admin","role":"admin","exp":)" + std::to_string(now + 3600) + "}");
    EXPECT_EQ(code_of(base64url(R"({"alg":"none","typ":"JWT"})") + "." + payload + "."), "invalid_token");
    EXPECT_EQ(code_of(base64url(R"({"alg":"none"})") + "." + payload + ".c2lnbmF0dXJl"), "invalid_token");
    const auto unsigned_by_lib = raw_token(JWT_ALG_NONE, "", R"({"sub":"admin","role":"admin","exp":)" + std::to_string(now + 3600) + "}");
    EXPECT_EQ(code_of(unsigned_by_lib), "invalid_token");
}

TEST(Auth, OtherAlgorithmsAreRefusedEvenWithOurKey) {
    const auto hs512 = raw_token(JWT_ALG_HS512, secret, R"({"sub":"admin","role":"admin","exp":)" + std::to_string(now + 3600) + "}");
    EXPECT_EQ(code_of(hs512), "invalid_token");
}

TEST(Auth, ClaimsMustHaveTheirShape) {
    const auto exp = std::to_string(now + 3600);
    EXPECT_EQ(code_of(raw_token(JWT_ALG_HS256, secret, R"({"sub":"x","role":"dealer","exp":)" + exp + "}")), "invalid_token");
    EXPECT_EQ(code_of(raw_token(JWT_ALG_HS256, secret, R"({"sub":"x","role":"dealer","dealer_id":"D 1","exp":)" + exp + "}")),
              "invalid_token");
    EXPECT_EQ(code_of(raw_token(JWT_ALG_HS256, secret, R"({"sub":"x","role":"root","exp":)" + exp + "}")), "invalid_token");
    EXPECT_EQ(code_of(raw_token(JWT_ALG_HS256, secret, R"({"sub":"x","role":"admin"})")), "invalid_token");
    EXPECT_EQ(code_of(raw_token(JWT_ALG_HS256, secret, R"({"role":"admin","exp":)" + exp + "}")), "invalid_token");
    EXPECT_EQ(code_of(raw_token(JWT_ALG_HS256, secret, R"({"sub":"x","role":"admin","exp":"soon"})")), "invalid_token");
    EXPECT_EQ(code_of(raw_token(JWT_ALG_HS256, secret, R"({"sub":"x","role":"admin","exp":)" + exp + "}")), "ok");
}

TEST(Auth, IssuingNeedsALongSecretAndADealerId) {
    EXPECT_EQ(api::issue_token("short", dealer_claims()).error().code, "weak_secret");
    auto no_dealer = dealer_claims();
    no_dealer.dealer_id.clear();
    EXPECT_EQ(api::issue_token(secret, no_dealer).error().code, "bad_request");
    EXPECT_EQ(api::verify_token("short", *api::issue_token(secret, dealer_claims()), now).error().code, "invalid_token");
}

}  // namespace
}  // namespace dealerline::testing
