// Token buckets per token (API.md "Limits"): an in-memory table, one per process.
#pragma once

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "api/auth.hpp"

namespace dealerline::api {

// Token buckets per token subject. Memory stays bounded: past many subjects the table starts
// over, which only ever grants a little more than the limit.
class rate_limiter {
public:
    rate_limiter(double per_second, double burst) : rate_(per_second), burst_(std::max(1.0, burst)) {}
    // Takes `n` tokens, all or none.
    bool allow(const std::string& key, double n = 1) {
        if (rate_ <= 0) return true;
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(m_);
        if (buckets_.size() > 100'000) buckets_.clear();
        auto [it, fresh] = buckets_.try_emplace(key, bucket{burst_, now});
        auto& b = it->second;
        b.tokens = std::min(burst_, b.tokens + rate_ * std::chrono::duration<double>(now - b.at).count());
        b.at = now;
        if (b.tokens < n) return false;
        b.tokens -= n;
        return true;
    }

private:
    struct bucket {
        double tokens;
        std::chrono::steady_clock::time_point at;
    };
    double rate_, burst_;
    std::mutex m_;
    std::unordered_map<std::string, bucket> buckets_;
};

// The bucket of a token: role, subject and dealer.
inline std::string rate_key(const token_claims& who) {
    return std::string(domain::to_string(who.role)) + '\n' + who.subject + '\n' + who.dealer_id;
}

}  // namespace dealerline::api
