// `dealerline audit …`: the auditor's read-only views of the log. Each function writes data to
// `out`, problems to `err`, and returns the exit status (tools/cli.hpp), so tests call them
// directly as well as through the executable.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

namespace dealerline::tools::audit {

// A point in the log: a position, or an RFC 3339 time (resolved to the first position at or
// after it).
struct point {
    std::string text{};  // as given; empty: open end
};

struct event_filter {
    std::string stream{}, category{}, type{}, actor{};
    point from{}, to{};              // `to` is inclusive for a position, exclusive for a time
    std::uint64_t limit = UINT64_MAX;
    bool jsonl = false;
    bool follow = false;                          // keep printing as the writer commits
    std::optional<std::uint64_t> until_position{};  // with follow: stop once this is printed
};

int events(const std::string& data, const event_filter&, std::ostream& out, std::ostream& err);
int state(const std::string& data, const std::string& stream, const point& as_of, std::ostream& out, std::ostream& err);
int history(const std::string& data, const std::string& stream, std::ostream& out, std::ostream& err);
int verify(const std::string& data, const point& from, const point& to, const std::string& expect_head, std::ostream& out,
           std::ostream& err);
int verify_file(const std::string& file, std::ostream& out, std::ostream& err);
int export_jsonl(const std::string& data, const point& from, const point& to, const std::string& file, std::ostream& out,
                 std::ostream& err);
int stats(const std::string& data, std::ostream& out, std::ostream& err);

}  // namespace dealerline::tools::audit
