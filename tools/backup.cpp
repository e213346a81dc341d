// `dealerline backup`: a consistent copy of the log (a RocksDB checkpoint: hard links where it can).
// A checkpoint is taken by the process that holds the log open for writing, so this subcommand is
// for a stopped server; a running server offers the same through its admin API (issue #5).
#include <iostream>

#include <CLI/CLI.hpp>

#include "storage/event_log.hpp"
#include "tools/cli.hpp"

namespace dealerline::tools {

void add_backup(CLI::App& app, int& status) {
    auto* cmd = app.add_subcommand("backup", "Copy the event log consistently into a new folder");
    auto data = std::make_shared<std::string>();
    auto to = std::make_shared<std::string>();
    cmd->add_option("--data", *data, "Event log folder")->required()->envname("DEALERLINE_DATA");
    cmd->add_option("--to", *to, "Backup folder (must not exist)")->required()->envname("DEALERLINE_TO");
    cmd->callback([data, to, &status] {
        auto log = storage::event_log::open(*data, {.create_if_missing = false});
        if (!log) {
            std::cerr << "dealerline backup: " << log.error().message << '\n';
            status = exit_failed;
            return;
        }
        if (auto r = (*log)->backup(*to); !r) {
            std::cerr << "dealerline backup: " << r.error().message << '\n';
            status = exit_failed;
            return;
        }
        std::cout << "backed up " << (*log)->head_position() << " events to " << *to << " (head hash "
                  << storage::to_hex((*log)->head_hash()) << ")\n";
        status = exit_ok;
    });
}

}  // namespace dealerline::tools
