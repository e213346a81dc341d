// The auditor's tool on a log with a known story: what happened, who did it, what an aggregate
// looked like at a given moment, and proof that nothing was altered.
#include "tools/audit.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <fstream>
#include <mutex>
#include <future>
#include <sstream>

#include <gtest/gtest.h>

#include "commands/handler.hpp"
#include "domain/time.hpp"
#include "tests/support/actors.hpp"
#include "tests/support/log_fixture.hpp"
#include "tests/support/raw_db.hpp"
#include "tools/cli.hpp"

extern char** environ;

namespace dealerline::testing {
namespace {

using namespace domain;
namespace audit = tools::audit;

constexpr std::int64_t hour = 3'600'000'000;
const std::int64_t t0 = *parse_iso8601("2026-03-01T08:00:00Z");

struct run_result {
    int status;
    std::string out, err;
};

// The story, one command an hour from 08:00 on 1 March 2026:
//   1 DealerRegistered D-1        5 ProductionCompleted O-1     9 ClaimFiled CL-1
//   2 OrderPlaced O-1             6 OrderShipped O-1
//   3 OrderAccepted O-1           7 OrderPlaced O-2
//   4 ProductionStarted O-1       8 OrderCancelled O-2
class Audit : public ::testing::Test {
protected:
    void SetUp() override {
        storage::log_options options;
        options.clock = [this] { return now; };
        auto log = open_log(path(), options);
        ASSERT_TRUE(log);
        commands::handler handler(*log, {.cache_entries = 100, .snapshot_every = 0, .max_retries = 0, .clock = [this] { return now; }});
        const actor admin = staff(role::admin, "admin-1"), d1 = dealer("D-1");
        const std::vector<std::pair<domain::any_command, actor>> story{
            {dealer_command{register_dealer{"D-1", "Okna", "EUR", 30, 0}}, admin},
            {order_command{place_order{"O-1", "D-1", "EUR", {{"WIN", "Window", 4, 18900}}, {}, {}}}, d1},
            {order_command{accept_order{"O-1", "2026-03-10"}}, staff(role::engineer, "eng-7")},
            {order_command{start_production{"O-1"}}, staff(role::production, "prod-3")},
            {order_command{complete_production{"O-1"}}, staff(role::production, "prod-3")},
            {order_command{ship_order{"O-1", "Own fleet", "R-1", "TRK-1", "Jan", "+48 1", "2026-03-12"}}, staff(role::logistics, "log-1")},
            {order_command{place_order{"O-2", "D-1", "EUR", {{"DOOR", "Door", 1, 52000}}, {}, {}}}, d1},
            {order_command{cancel_order{"O-2", "ordered twice"}}, d1},
            {claim_command{file_claim{"CL-1", "O-1", "damage", "scratched frame"}}, d1},
        };
        int n = 0;
        for (const auto& [command, who] : story) {
            now = t0 + n * hour;
            auto r = handler.handle({"story-" + std::to_string(++n), command, who, std::nullopt, "story"});
            ASSERT_TRUE(r) << r.error().message;
        }
    }
    std::filesystem::path path() const { return dir.path() / "log"; }
    std::string data() const { return path().string(); }

    template <class F>
    run_result run(F f) {
        std::ostringstream out, err;
        const int status = f(out, err);
        return {status, out.str(), err.str()};
    }
    run_result events(audit::event_filter filter) {
        filter.jsonl = true;
        return run([&](auto& out, auto& err) { return audit::events(data(), filter, out, err); });
    }
    static std::vector<std::uint64_t> positions(const std::string& jsonl) {
        std::vector<std::uint64_t> out;
        std::istringstream lines(jsonl);
        for (std::string line; std::getline(lines, line);) out.push_back(std::stoull(line.substr(12)));
        return out;
    }
    run_result state_as_of(const std::string& stream, const std::string& as_of) {
        return run([&](auto& out, auto& err) { return audit::state(data(), stream, {as_of}, out, err); });
    }
    run_result verify_log(const std::string& expect_head = "") {
        return run([&](auto& out, auto& err) { return audit::verify(data(), {}, {}, expect_head, out, err); });
    }

    temp_dir dir;
    std::int64_t now = t0;
};

TEST_F(Audit, StateAsOfPositionsAndTimes) {
    auto at = [&](const std::string& as_of) { return state_as_of("order-O-1", as_of).out; };
    EXPECT_NE(at("3").find(R"("status":"accepted")"), std::string::npos) << at("3");
    EXPECT_NE(at("2026-03-01T11:30:00Z").find(R"("status":"in_production")"), std::string::npos);
    EXPECT_NE(at("2026-03-01T11:00:00Z").find(R"("status":"in_production")"), std::string::npos) << "an event at that very time counts";
    EXPECT_NE(at("2026-03-01T10:59:59Z").find(R"("status":"accepted")"), std::string::npos);
    EXPECT_NE(at("2026-03-01T08:30:00Z").find(R"("existed":false)"), std::string::npos);
    EXPECT_NE(at("").find(R"("status":"shipped")"), std::string::npos);
    EXPECT_NE(state_as_of("order-O-2", "").out.find(R"("status":"cancelled")"), std::string::npos);
    EXPECT_NE(state_as_of("claim-CL-1", "").out.find(R"("status":"open")"), std::string::npos);
}

TEST_F(Audit, StateRefusesWhatItCannotAnswer) {
    EXPECT_EQ(state_as_of("order-O-404", "").status, tools::exit_failed);
    EXPECT_EQ(state_as_of("extref-D-1/X", "").status, tools::exit_failed);
    auto bad_time = state_as_of("order-O-1", "last tuesday");
    EXPECT_EQ(bad_time.status, tools::exit_usage);
    EXPECT_NE(bad_time.err.find("RFC 3339"), std::string::npos);
}

TEST_F(Audit, HistoryTellsWhenWhoAndWhat) {
    auto h = run([&](auto& out, auto& err) { return audit::history(data(), "order-O-1", out, err); });
    ASSERT_EQ(h.status, tools::exit_ok) << h.err;
    const std::vector<std::string> steps{"2026-03-01T09:00:00Z  v1  OrderPlaced  by dealer:D-1",
                                         "2026-03-01T10:00:00Z  v2  OrderAccepted  by staff:eng-7",
                                         "2026-03-01T11:00:00Z  v3  ProductionStarted  by staff:prod-3",
                                         "2026-03-01T12:00:00Z  v4  ProductionCompleted  by staff:prod-3",
                                         "2026-03-01T13:00:00Z  v5  OrderShipped  by staff:log-1"};
    std::size_t from = 0;
    for (const auto& step : steps) {
        const auto at = h.out.find(step, from);
        ASSERT_NE(at, std::string::npos) << step << "\n" << h.out;
        from = at;
    }
    EXPECT_NE(h.out.find(R"("carrier":"Own fleet")"), std::string::npos);
    EXPECT_NE(h.out.find("command story-6, correlation story"), std::string::npos);
    EXPECT_EQ(run([&](auto& out, auto& err) { return audit::history(data(), "order-O-404", out, err); }).status, tools::exit_failed);
}

TEST_F(Audit, FiltersAndTimeRangesAreExact) {
    EXPECT_EQ(positions(events({.type = "OrderPlaced"}).out), (std::vector<std::uint64_t>{2, 7}));
    EXPECT_EQ(positions(events({.actor = "dealer:D-1"}).out), (std::vector<std::uint64_t>{2, 7, 8, 9}));
    EXPECT_EQ(positions(events({.category = "claim"}).out), (std::vector<std::uint64_t>{9}));
    EXPECT_EQ(positions(events({.stream = "order-O-2"}).out), (std::vector<std::uint64_t>{7, 8}));
    EXPECT_EQ(positions(events({.from = {"2026-03-01T12:00:00Z"}}).out), (std::vector<std::uint64_t>{5, 6, 7, 8, 9}));
    EXPECT_EQ(positions(events({.from = {"2026-03-01T11:59:59Z"}, .to = {"2026-03-01T14:00:00Z"}}).out),
              (std::vector<std::uint64_t>{5, 6}));
    EXPECT_EQ(positions(events({.from = {"3"}, .to = {"4"}}).out), (std::vector<std::uint64_t>{3, 4}));
    EXPECT_EQ(positions(events({.limit = 2}).out), (std::vector<std::uint64_t>{1, 2}));
    EXPECT_TRUE(positions(events({.from = {"2027-01-01T00:00:00Z"}}).out).empty());
    EXPECT_EQ(events({.from = {"soon"}}).status, tools::exit_usage);
}

TEST_F(Audit, VerifyPrintsTheHeadAndNamesTamperedPositions) {
    auto clean = verify_log();
    ASSERT_EQ(clean.status, tools::exit_ok) << clean.err;
    EXPECT_NE(clean.out.find("verified 9 events"), std::string::npos);
    const auto copy = dir.path() / "copy";
    auto tampered = [&](const std::function<void(raw_db&)>& edit) {
        std::filesystem::remove_all(copy);
        std::filesystem::copy(path(), copy);
        {
            raw_db raw(copy);
            edit(raw);
        }
        std::ostringstream out, err;
        EXPECT_EQ(audit::verify(copy.string(), {}, {}, "", out, err), tools::exit_failed);
        return err.str();
    };
    EXPECT_NE(tampered([](raw_db& r) {
                  auto v = r.get_event(5);
                  v[v.size() / 2] ^= 1;
                  r.put_event(5, v);
              }).find("position 5"),
              std::string::npos);
    EXPECT_NE(tampered([](raw_db& r) { (void)r.db().Delete(rocksdb::WriteOptions(), r.events(), detail::be64(6)); }).find("position 6"),
              std::string::npos);
    EXPECT_NE(tampered([](raw_db& r) {
                  auto a = r.get_event(3), b = r.get_event(4);
                  r.put_event(3, b);
                  r.put_event(4, a);
              }).find("position 3"),
              std::string::npos);
}

TEST_F(Audit, ExpectHeadAcceptsAnExtendedLogAndRejectsARewrittenOne) {
    const auto noted = [&] {
        auto v = verify_log();
        const auto at = v.out.find("head ");
        return v.out.substr(at + 5, v.out.find('\n', at) - at - 5);
    }();
    ASSERT_EQ(noted.substr(0, 2), "9:");
    {
        auto log = open_log(path());
        ASSERT_TRUE(log->append(append_to("order-O-9", storage::expected_version::any(), {event("Later")}, "later-1")));
    }
    EXPECT_EQ(verify_log(noted).status, tools::exit_ok) << verify_log(noted).err;
    {
        // Someone rebuilds the log with one event changed and every hash recomputed: the chain
        // verifies on its own, but no longer extends the head the auditor wrote down.
        auto events_before = open_log(path(), {.read_only = true})->read_all(1, 100).value();
        std::filesystem::remove_all(path());
        auto forged = open_log(path());
        for (auto e : events_before) {
            if (e.position == 4) e.actor = "staff:someone-else";
            ASSERT_TRUE(forged->append(append_to(e.stream, storage::expected_version::any(), {{e.type, e.schema_version, e.data, e.metadata}},
                                                 e.command_id)));
        }
    }
    auto rewritten = verify_log(noted);
    EXPECT_EQ(rewritten.status, tools::exit_failed);
    EXPECT_NE(rewritten.err.find("rewritten"), std::string::npos) << rewritten.err;
    EXPECT_EQ(verify_log("9:nothex").status, tools::exit_usage);
}

TEST_F(Audit, AnExportVerifiesOnItsOwnAndAnEditedLineFails) {
    const auto file = (dir.path() / "export.jsonl").string();
    auto exported = run([&](auto& out, auto& err) { return audit::export_jsonl(data(), {}, {}, file, out, err); });
    ASSERT_EQ(exported.status, tools::exit_ok) << exported.err;
    auto check = [&] { return run([&](auto& out, auto& err) { return audit::verify_file(file, out, err); }); };
    auto ok = check();
    EXPECT_EQ(ok.status, tools::exit_ok) << ok.err;
    EXPECT_NE(ok.out.find("verified 9 exported events"), std::string::npos);

    std::vector<std::string> lines;
    {
        std::ifstream in(file);
        for (std::string l; std::getline(in, l);) lines.push_back(l);
    }
    ASSERT_EQ(lines.size(), 10u);
    auto rewrite = [&](std::vector<std::string> content) {
        std::ofstream out(file, std::ios::trunc);
        for (const auto& l : content) out << l << '\n';
    };
    auto edited = lines;
    edited[3].replace(edited[3].find("eng-7"), 5, "eng-8");  // line 4: position 3's actor
    rewrite(edited);
    auto bad = check();
    EXPECT_EQ(bad.status, tools::exit_failed);
    EXPECT_NE(bad.err.find("line 4"), std::string::npos) << bad.err;

    auto dropped = lines;
    dropped.erase(dropped.begin() + 5);
    rewrite(dropped);
    EXPECT_EQ(check().status, tools::exit_failed);

    auto truncated = lines;
    truncated.pop_back();
    rewrite(truncated);
    EXPECT_EQ(check().status, tools::exit_failed);
}

// An output stream another thread can watch: the follower writes, the test waits for a line.
class watched_output : public std::streambuf {
public:
    bool wait_for_text(const std::string& text, std::chrono::seconds limit) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, limit, [&] { return text_.find(text) != std::string::npos; });
    }
    std::string text() {
        std::lock_guard lock(mutex_);
        return text_;
    }

protected:
    int_type overflow(int_type c) override {
        if (c != traits_type::eof()) append(std::string(1, static_cast<char>(c)));
        return c;
    }
    std::streamsize xsputn(const char* s, std::streamsize n) override {
        append(std::string(s, static_cast<std::size_t>(n)));
        return n;
    }

private:
    void append(const std::string& more) {
        {
            std::lock_guard lock(mutex_);
            text_ += more;
        }
        cv_.notify_all();
    }
    std::mutex mutex_;
    std::condition_variable cv_;
    std::string text_;
};

TEST_F(Audit, FollowPrintsEventsAsTheyAreCommitted) {
    auto log = open_log(path());  // the writer, as `serve` would hold it
    ASSERT_TRUE(log);
    watched_output seen;
    std::ostream out(&seen);
    auto follower = std::async(std::launch::async, [&] {
        std::ostringstream err;
        audit::event_filter f;
        f.jsonl = true;
        f.follow = true;
        f.until_position = 12;
        return audit::events(data(), f, out, err);
    });
    // Only once the follower has printed the whole story does the writer append more.
    ASSERT_TRUE(seen.wait_for_text(R"({"position":9,)", std::chrono::seconds(30))) << seen.text();
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(log->append(append_to("order-O-7", storage::expected_version::any(), {event("Noted")}, "n-" + std::to_string(i))));
    ASSERT_EQ(follower.wait_for(std::chrono::seconds(30)), std::future_status::ready) << "follow never saw position 12";
    EXPECT_EQ(follower.get(), tools::exit_ok);
    EXPECT_EQ(positions(seen.text()), (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}));
}

TEST_F(Audit, VerifiesAConsistentPrefixWhileAnotherProcessAppends) {
    const std::string program = DEALERLINE_CRASH_CHILD, dir_arg = data(), round = "1";
    char* argv[] = {const_cast<char*>(program.c_str()), const_cast<char*>(dir_arg.c_str()), const_cast<char*>(round.c_str()), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, program.c_str(), &actions, nullptr, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    // Wait (with a deadline) until the writer has appended past the story, then verify a few
    // times while it keeps going.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    std::uint64_t verified_past = 0;
    int rounds = 0;
    std::string failure;
    while (rounds < 5 && std::chrono::steady_clock::now() < deadline) {
        auto v = verify_log();
        if (v.status != tools::exit_ok) {
            failure = v.err;
            break;
        }
        const auto at = v.out.find("head ");
        verified_past = std::stoull(v.out.substr(at + 5));
        if (verified_past > 9) ++rounds;
    }
    ::kill(pid, SIGKILL);  // before any assertion: a failed one must not leave the writer running
    int status = 0;
    ::waitpid(pid, &status, 0);
    EXPECT_TRUE(failure.empty()) << failure;
    EXPECT_EQ(rounds, 5) << "the writer never got past the story";
    EXPECT_GT(verified_past, 9u);
}

int run_binary(const std::string& args) {
    const int status = std::system((std::string(DEALERLINE_BIN) + " " + args + " > /dev/null 2>&1").c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(Audit, TheExecutableKeepsItsExitCodes) {
    EXPECT_EQ(run_binary("audit verify --data " + data()), tools::exit_ok);
    EXPECT_EQ(run_binary("audit verify --data " + (dir.path() / "nothing-here").string()), tools::exit_failed);
    EXPECT_EQ(run_binary("audit events --data " + data() + " --from someday"), tools::exit_usage);
    EXPECT_EQ(run_binary("audit history"), tools::exit_usage);
    EXPECT_EQ(run_binary("audit frobnicate"), tools::exit_usage);
    EXPECT_EQ(run_binary("audit state order-O-404 --data " + data()), tools::exit_failed);
}

}  // namespace
}  // namespace dealerline::testing
