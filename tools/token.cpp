// `dealerline token --jwt-secret SECRET --role ROLE [--dealer ID] [--sub NAME] [--ttl SECONDS]`:
// prints a bearer token for the API (API.md "Authentication").
#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>

#include "api/auth.hpp"
#include "tools/cli.hpp"

namespace dealerline::tools {
namespace {

struct token_options {
    std::string secret, role, dealer, subject;
    std::int64_t ttl = 8 * 3600;
};

int run_token(const token_options& o) {
    const auto role = domain::role_from_string(o.role);
    if (!role) {
        std::cerr << "dealerline token: unknown role " << o.role
                  << " (dealer, engineer, production, logistics, claims_manager, accountant, storekeeper, auditor, admin, system)\n";
        return exit_usage;
    }
    if (*role == domain::role::dealer && o.dealer.empty()) {
        std::cerr << "dealerline token: a dealer token needs --dealer ID\n";
        return exit_usage;
    }
    api::token_claims claims;
    claims.role = *role;
    claims.dealer_id = *role == domain::role::dealer ? o.dealer : "";
    claims.subject = !o.subject.empty() ? o.subject : (*role == domain::role::dealer ? o.dealer : o.role);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    claims.expires_at = now + o.ttl;
    auto token = api::issue_token(o.secret, claims);
    if (!token) {
        std::cerr << "dealerline token: " << token.error().message << '\n';
        return token.error().code == "internal" ? exit_failed : exit_usage;
    }
    std::cout << *token << '\n';
    return exit_ok;
}

}  // namespace

void add_token(CLI::App& app, int& status) {
    auto* cmd = app.add_subcommand("token", "Print a bearer token (HS256 JWT) for the API");
    auto o = std::make_shared<token_options>();
    cmd->add_option("--jwt-secret", o->secret, "The server's signing secret (at least 32 bytes)")
        ->envname("DEALERLINE_JWT_SECRET")
        ->required();
    cmd->add_option("--role", o->role, "dealer, engineer, production, logistics, claims_manager, accountant, storekeeper, auditor, admin")
        ->envname("DEALERLINE_TOKEN_ROLE")
        ->required();
    cmd->add_option("--dealer", o->dealer, "The dealer's id (dealer tokens)")->envname("DEALERLINE_TOKEN_DEALER");
    cmd->add_option("--sub", o->subject, "Who the token is for (default: the dealer id, or the role)")->envname("DEALERLINE_TOKEN_SUB");
    cmd->add_option("--ttl", o->ttl, "Seconds until it expires (default 8 hours)")
        ->envname("DEALERLINE_TOKEN_TTL")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{366} * 24 * 3600));
    cmd->callback([o, &status] { status = run_token(*o); });
}

}  // namespace dealerline::tools
