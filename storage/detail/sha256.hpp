// SHA-256 for the hash chain, the command fingerprints and verify.
#pragma once

#include <string_view>

#include <openssl/evp.h>

#include "storage/event_log.hpp"

namespace dealerline::storage::detail {

// SHA-256 through one reusable EVP context: the chain hash is computed once per event, so the
// per-call setup of the one-shot API would show in the writer's profile.
class hasher {
public:
    hasher() : ctx_(EVP_MD_CTX_new()), md_(EVP_MD_fetch(nullptr, "SHA256", nullptr)) {}
    ~hasher() {
        EVP_MD_free(md_);
        EVP_MD_CTX_free(ctx_);
    }
    hasher(const hasher&) = delete;
    hasher& operator=(const hasher&) = delete;

    sha256 chain(const sha256& previous, std::string_view canonical) {
        sha256 out{};
        unsigned int n = 0;
        EVP_DigestInit_ex(ctx_, md_, nullptr);
        EVP_DigestUpdate(ctx_, previous.data(), previous.size());
        EVP_DigestUpdate(ctx_, canonical.data(), canonical.size());
        EVP_DigestFinal_ex(ctx_, out.data(), &n);
        return out;
    }
    sha256 digest(std::string_view bytes) {
        sha256 out{};
        unsigned int n = 0;
        EVP_DigestInit_ex(ctx_, md_, nullptr);
        EVP_DigestUpdate(ctx_, bytes.data(), bytes.size());
        EVP_DigestFinal_ex(ctx_, out.data(), &n);
        return out;
    }

private:
    EVP_MD_CTX* ctx_;
    EVP_MD* md_;
};

inline hasher& thread_hasher() {
    thread_local hasher h;
    return h;
}

}  // namespace dealerline::storage::detail
