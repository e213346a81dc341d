#include <iostream>

#include <CLI/CLI.hpp>

#include "tools/cli.hpp"

int main(int argc, char** argv) {
    using namespace dealerline::tools;
    CLI::App app{"dealerline: the event-sourced backend of a manufacturer's dealer network"};
    app.require_subcommand(1);
    app.set_version_flag("--version", "dealerline 0.1.0");
    int status = exit_ok;
    add_demo(app, status);
    add_audit(app, status);
    add_backup(app, status);
    add_projections(app, status);
    add_token(app, status);
    add_serve(app, status);
    add_simulate(app, status);
    add_billing(app, status);
    add_payments(app, status);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        (void)app.exit(e);  // prints the message; our contract says bad usage is 2
        return exit_usage;
    }
    return status;
}
