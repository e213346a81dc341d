// The `dealerline` command line: each subcommand family registers itself on the CLI11 app.
// Exit status (API.md): 0 success, 1 the work failed, 2 bad usage.
#pragma once

#include <CLI/App.hpp>

namespace dealerline::tools {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failed = 1;
inline constexpr int exit_usage = 2;

// Each registers its subcommand(s); the callback stores the exit status in `status`.
void add_demo(CLI::App& app, int& status);
void add_audit(CLI::App& app, int& status);
void add_backup(CLI::App& app, int& status);
void add_projections(CLI::App& app, int& status);
void add_token(CLI::App& app, int& status);
void add_serve(CLI::App& app, int& status);
void add_simulate(CLI::App& app, int& status);
void add_billing(CLI::App& app, int& status);
void add_payments(CLI::App& app, int& status);

}  // namespace dealerline::tools
