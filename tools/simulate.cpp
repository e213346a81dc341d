// `dealerline simulate`: a plant producing live traffic over the HTTP API, as the real plant's
// systems and dealers would (API.md "Command line"). It registers the dealers, places orders and
// drives them through acceptance, production progress, shipment and delivery, with occasional
// rejections, cancellations and claims, at a steady rate. The money and the warehouse move too:
// stock is received and written off, dealers pay their invoices by bank transfer (the server's
// process managers reserve and issue stock, invoice shipments and allocate payments), and a
// quarter of the dealers have telecom subscriptions whose plans change, pause and end. Tokens are minted with the server's
// secret, one per dealer and one per staff role.
#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/auth.hpp"
#include "domain/codec.hpp"
#include "domain/time.hpp"
#include "tools/cli.hpp"
#include "tools/http_client.hpp"

namespace dealerline::tools {
namespace {

using steady = std::chrono::steady_clock;
namespace json = boost::json;

std::atomic<bool> stop_requested{false};
extern "C" void on_stop_signal(int) { stop_requested = true; }

struct simulate_options {
    std::string url, secret;
    double rate = 20;
    int dealers = 50;
    int connections = 1;
    double duration = 0;     // seconds; 0: until Ctrl-C
    std::uint64_t count = 0;  // commands; 0: no limit
    std::uint64_t seed = 0;   // 0: from the clock
    std::string acked;        // a file to append "command_id position,…" to for each 200
};

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string today() {
    return domain::date_of(
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

std::string dealer_id(int n) {
    char id[16];
    std::snprintf(id, sizeof id, "D-%04d", n);
    return id;
}

struct tally {
    std::atomic<std::uint64_t> sent{0}, ok{0}, refused{0}, failed{0};
};

// What an earlier run left open on the same log (the demo restarts on its data): orders not yet
// delivered, rejected or cancelled, and what each dealer owes. The plant goes on with them, so
// that no order stays where the last run stopped.
struct carried_over {
    struct order {
        std::string id, dealer_id;
        std::int64_t units = 0, done = 0, total = 0;
        int stage = 0;  // as plant's orders: 0 placed … 4 shipped
    };
    std::vector<order> orders;
    std::vector<std::pair<std::string, std::int64_t>> owed;  // dealer, balance due
};

// One command for the server, and whose token sends it.
struct next_command {
    domain::any_command command;
    std::string token;
};

// The plant as this simulator believes it to be; the server is the judge (a refused command
// just moves the model on).
class plant {
public:
    static constexpr std::size_t max_orders = 400;  // open at once in this plant's model

    plant(std::uint64_t seed, std::string tag, const std::string& secret, int dealers, std::int64_t expires)
        : rng_(seed), tag_(std::move(tag)) {
        for (int i = 1; i <= dealers; ++i) {
            const auto id = dealer_id(i);
            dealers_.push_back({id, i % 5 == 0 ? "PLN" : "EUR",
                                *api::issue_token(secret, {"sim-" + id, domain::role::dealer, id, expires})});
        }
        auto staff = [&](domain::role r, const char* who) { return *api::issue_token(secret, {who, r, "", expires}); };
        engineer_ = staff(domain::role::engineer, "sim-engineer");
        production_ = staff(domain::role::production, "sim-production");
        logistics_ = staff(domain::role::logistics, "sim-logistics");
        claims_ = staff(domain::role::claims_manager, "sim-claims");
        admin_ = staff(domain::role::admin, "sim-admin");
        storekeeper_ = staff(domain::role::storekeeper, "sim-storekeeper");
        accountant_ = staff(domain::role::accountant, "sim-accountant");
        owed_.assign(dealers_.size(), 0);
    }

    std::vector<next_command> registrations() const {
        std::vector<next_command> out;
        for (const auto& d : dealers_)
            out.push_back({domain::dealer_command{domain::register_dealer{d.id, "Dealer " + d.id, d.currency, 30, 10'000'000}}, admin_});
        return out;
    }

    // The warehouse's first stock of every product, and the subscriptions of every fourth dealer
    // (starting today: the server's billing scheduler invoices them).
    std::vector<next_command> setup() {
        using namespace domain;
        std::vector<next_command> out;
        for (int p = 0; p < products; ++p)
            out.push_back({stock_command{receive_stock{warehouse, sku(p), 400, "opening stock"}}, storekeeper_});
        for (std::size_t i = 3; i < dealers_.size(); i += 4) out.push_back(start_subscription_for(dealers_[i]));
        return out;
    }

    next_command next() {
        using namespace domain;
        std::erase_if(orders_, [](const order& o) { return o.stage >= 5; });
        const int dice = pick(100);
        if (orders_.size() < 5 || (dice < 20 && orders_.size() < max_orders)) return place();
        if (dice < 26 && !delivered_.empty()) return claim_step();
        if (dice < 30 && owing_ > 0) return payment();
        if (dice < 32) return stock_step();
        if (dice < 34) return subscription_step();
        auto& o = orders_[static_cast<std::size_t>(pick(static_cast<int>(orders_.size())))];
        switch (o.stage) {
            case 0:
                if (pick(100) < 5) return o.stage = 9, next_command{order_command{reject_order{o.id, "cannot be made in this colour"}}, engineer_};
                if (pick(100) < 4) return o.stage = 9, next_command{order_command{cancel_order{o.id, "changed my mind"}}, o.dealer_token};
                o.stage = 1;
                return {order_command{accept_order{o.id, std::nullopt}}, engineer_};
            case 1:
                o.stage = 2;
                return {order_command{start_production{o.id}}, production_};
            case 2:
                if (o.done + 1 < o.units && pick(3) > 0) {
                    o.done += 1 + pick(static_cast<int>(std::min<std::int64_t>(o.units - o.done - 1, 4)));
                    return {order_command{record_production_progress{o.id, o.done}}, production_};
                }
                o.stage = 3;
                return {order_command{complete_production{o.id}}, production_};
            case 3:
                o.stage = 4;
                owed_[o.dealer] += o.total;  // the shipment's invoice (issued by the server)
                owing_ += o.total;
                return {order_command{ship_order{o.id, "Own fleet", "R-" + std::to_string(1 + pick(40)), "TRK-" + std::to_string(1 + pick(9)),
                                                 "Jan Nowak", "+48 600 100 200", "2026-12-05"}},
                        logistics_};
            default: {
                o.stage = 5;
                if (delivered_.size() > 200) delivered_.erase(delivered_.begin());
                delivered_.push_back(o);
                return {order_command{confirm_delivery{o.id, std::optional<std::string>("Anna")}}, o.dealer_token};
            }
        }
    }

    // Takes over an order an earlier run left open, and what a dealer owes (dealers this plant
    // does not have are left alone).
    void adopt(const carried_over::order& o) {
        const auto d = dealer_index(o.dealer_id);
        if (!d || orders_.size() >= max_orders) return;
        orders_.push_back({o.id, dealers_[*d].token, *d, o.units, o.done, o.total, o.stage});
    }
    void owes(const std::string& dealer_id, std::int64_t amount) {
        const auto d = dealer_index(dealer_id);
        if (!d || amount <= 0) return;
        owed_[*d] += amount;
        owing_ += amount;
    }

    // The server refused what the model expected to work: forget that order or claim.
    void refused(const next_command& c) {
        const auto* oc = std::get_if<domain::order_command>(&c.command);
        if (!oc) return;
        std::visit([&](const auto& cmd) { std::erase_if(orders_, [&](const order& o) { return o.id == cmd.order_id; }); }, *oc);
    }

private:
    struct dealer {
        std::string id, currency, token;
    };
    struct order {
        std::string id, dealer_token;
        std::size_t dealer = 0;
        std::int64_t units = 0, done = 0, total = 0;
        int stage = 0;  // 0 placed 1 accepted 2 in production 3 produced 4 shipped 5 delivered 9 closed
    };
    struct claim {
        std::string id, dealer_token;
        int stage = 0;  // 0 open 1 in review 2 resolved 3 closed
    };

    struct subscription {
        std::string id;
        bool paused = false;
    };
    static constexpr int products = 5;
    static constexpr const char* warehouse = "WH-MAIN";
    static std::string sku(int p) { return "WIN-" + std::to_string(100 + p); }

    std::optional<std::size_t> dealer_index(const std::string& id) const {
        const auto d = std::find_if(dealers_.begin(), dealers_.end(), [&](const dealer& x) { return x.id == id; });
        if (d == dealers_.end()) return std::nullopt;
        return static_cast<std::size_t>(d - dealers_.begin());
    }

    int pick(int n) { return n <= 0 ? 0 : static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }

    next_command start_subscription_for(const dealer& d) {
        static const char* const plans[] = {"PBX 10 lines", "Internet 300", "PBX 30 lines"};
        const int plan = pick(3);
        const auto id = "S-" + tag_ + "-" + std::to_string(++subscriptions_started_);
        subscriptions_.push_back({id});
        return {domain::subscription_command{domain::start_subscription{id, d.id, plans[plan], 4'900 + 5'000 * plan,
                                                                         pick(4) ? "monthly" : "quarterly", today()}},
                accountant_};
    }

    // A dealer who owes pays all of it, or half, by bank transfer; the server allocates it to the
    // oldest open invoices.
    next_command payment() {
        using namespace domain;
        // The first dealer who owes, from a random one on (someone does: owing_ > 0).
        const auto n = owed_.size(), start = static_cast<std::size_t>(pick(static_cast<int>(n)));
        std::size_t who = start;
        for (std::size_t i = 0; i < n && owed_[who] == 0; ++i) who = (start + i) % n;
        const auto amount = pick(3) ? owed_[who] : (owed_[who] + 1) / 2;
        owed_[who] -= amount;
        owing_ -= amount;
        const auto number = std::to_string(++payments_);
        return {payment_command{record_payment{"P-" + tag_ + "-" + number, dealers_[who].id, amount, "bank", today(),
                                               "BANK-" + tag_ + "-" + number}},
                accountant_};
    }

    next_command stock_step() {
        using namespace domain;
        const auto item = sku(pick(products));
        if (pick(5) == 0) return {stock_command{write_off_stock{warehouse, item, 1, "broken in the warehouse"}}, storekeeper_};
        return {stock_command{receive_stock{warehouse, item, 20 + pick(40), "production batch " + std::to_string(1 + pick(999))}},
                storekeeper_};
    }

    next_command subscription_step() {
        using namespace domain;
        if (subscriptions_.empty() || pick(4) == 0) return start_subscription_for(dealers_[static_cast<std::size_t>(pick(static_cast<int>(dealers_.size())))]);
        const auto at = static_cast<std::size_t>(pick(static_cast<int>(subscriptions_.size())));
        auto& s = subscriptions_[at];
        const int dice = pick(10);
        if (dice < 5) {
            static const char* const plans[] = {"PBX 10 lines", "Internet 300", "PBX 30 lines", "Internet 1000"};
            const int plan = pick(4);
            return {subscription_command{change_subscription_plan{s.id, plans[plan], 4'900 + 5'000 * plan, domain::first_of_next_month(today())}},
                    accountant_};
        }
        if (dice < 9) {
            s.paused = !s.paused;
            if (s.paused) return {subscription_command{pause_subscription{s.id}}, accountant_};
            return {subscription_command{resume_subscription{s.id}}, accountant_};
        }
        auto id = s.id;
        subscriptions_.erase(subscriptions_.begin() + static_cast<std::ptrdiff_t>(at));
        return {subscription_command{cancel_subscription{id, domain::first_of_next_month(today())}}, accountant_};
    }

    next_command place() {
        using namespace domain;
        const auto who = static_cast<std::size_t>(pick(static_cast<int>(dealers_.size())));
        const auto& d = dealers_[who];
        const auto id = "O-" + tag_ + "-" + std::to_string(++orders_placed_);
        std::vector<order_line> lines;
        std::int64_t units = 0, total = 0;
        static const char* const names[products] = {"Window 'Classic' 120x150", "Balcony door 90x220", "Roof window 78x118",
                                                     "Window 'Passive' 100x120", "Sliding door 240x220"};
        for (int i = 0, n = 1 + pick(3); i < n; ++i) {
            const int p = pick(products);
            lines.push_back({sku(p), names[p], 1 + pick(6), 25'000 + 5'000 * pick(20)});
            units += lines.back().quantity;
            total += lines.back().quantity * lines.back().unit_price;
        }
        orders_.push_back({id, d.token, who, units, 0, total, 0});
        return {order_command{place_order{id, d.id, d.currency, std::move(lines), "Main St " + std::to_string(1 + pick(99)), std::nullopt}},
                d.token};
    }

    next_command claim_step() {
        using namespace domain;
        if (claims_open_.empty() || pick(3) == 0) {
            const auto& o = delivered_[static_cast<std::size_t>(pick(static_cast<int>(delivered_.size())))];
            const auto id = "CL-" + tag_ + "-" + std::to_string(++claims_filed_);
            static const char* const kinds[] = {"defect", "damage", "missing_part", "delay"};
            claims_open_.push_back({id, o.dealer_token, 0});
            return {claim_command{file_claim{id, o.id, kinds[pick(4)], "The frame arrived scratched"}}, o.dealer_token};
        }
        const auto at = static_cast<std::size_t>(pick(static_cast<int>(claims_open_.size())));
        auto& c = claims_open_[at];
        switch (c.stage) {
            case 0:
                c.stage = 1;
                return {claim_command{assign_claim{c.id, "cm-" + std::to_string(1 + pick(3))}}, claims_};
            case 1:
                if (pick(2)) return {claim_command{comment_on_claim{c.id, "Could you send a photo?"}}, claims_};
                c.stage = 2;
                return {claim_command{resolve_claim{c.id, "repair", 100 * pick(500), "We will send a technician"}}, claims_};
            default: {
                auto id = c.id;
                claims_open_.erase(claims_open_.begin() + static_cast<std::ptrdiff_t>(at));
                return {claim_command{close_claim{id}}, claims_};
            }
        }
    }

    std::mt19937_64 rng_;
    std::string tag_;
    std::vector<dealer> dealers_;
    std::string engineer_, production_, logistics_, claims_, admin_, storekeeper_, accountant_;
    std::vector<order> orders_, delivered_;
    std::vector<claim> claims_open_;
    std::vector<subscription> subscriptions_;
    std::vector<std::int64_t> owed_;  // per dealer: invoiced for our shipments, not yet paid
    std::int64_t owing_ = 0;
    std::uint64_t orders_placed_ = 0, claims_filed_ = 0, subscriptions_started_ = 0, payments_ = 0;
};

std::int64_t int_field(const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_int64() ? v->as_int64() : 0;
}

// Read from the read models, which may lag the log a little: a step the server then refuses just
// drops that order from the plant. Nothing read is fatal: the plant starts afresh instead.
carried_over read_open_work(http_client& client, const std::string& staff_token, int dealers, std::size_t at_most) {
    carried_over out;
    auto ours = [&](std::string_view id) {  // D-0001 … D-<dealers>
        int n = 0;
        if (id.size() < 3 || !id.starts_with("D-") || std::from_chars(id.data() + 2, id.data() + id.size(), n).ec != std::errc()) return false;
        return n >= 1 && n <= dealers && id == dealer_id(n);
    };
    static const char* const open_statuses[] = {"placed", "accepted", "in_production", "produced", "shipped"};
    for (int stage = 0; stage < 5 && out.orders.size() < at_most; ++stage) {
        std::string cursor;
        for (;;) {
            const auto answer = client.get("/api/orders?status=" + std::string(open_statuses[stage]) + "&limit=200" +
                                               (cursor.empty() ? "" : "&cursor=" + cursor),
                                           staff_token);
            boost::system::error_code ec;
            const auto page = answer.status == 200 ? json::parse(answer.body, ec) : json::value();
            if (ec || !page.is_object() || !page.as_object().contains("orders") || !page.at("orders").is_array()) break;
            for (const auto& row : page.at("orders").as_array()) {
                if (!row.is_object() || out.orders.size() >= at_most) break;
                const auto& o = row.as_object();
                const auto* id = o.if_contains("order_id");
                const auto* dealer = o.if_contains("dealer_id");
                if (!id || !id->is_string() || !dealer || !dealer->is_string() || !ours(dealer->as_string())) continue;
                out.orders.push_back({std::string(id->as_string()), std::string(dealer->as_string()), int_field(o, "total_units"),
                                      int_field(o, "completed_units"), int_field(o, "total"), stage});
            }
            const auto* next = page.as_object().if_contains("next_cursor");
            if (out.orders.size() >= at_most || !next || !next->is_int64()) break;  // null: the last page
            cursor = std::to_string(next->as_int64());
        }
    }
    for (int i = 1; i <= dealers; ++i) {
        const auto answer = client.get("/api/dealers/" + dealer_id(i) + "/account?limit=1", staff_token);
        boost::system::error_code ec;
        const auto account = answer.status == 200 ? json::parse(answer.body, ec) : json::value();
        if (ec || !account.is_object()) continue;
        if (const auto balance = int_field(account.as_object(), "balance"); balance > 0) out.owed.emplace_back(dealer_id(i), balance);
    }
    return out;
}

std::string body_of(const domain::any_command& c, const std::string& command_id) {
    return json::serialize(json::object{{"command_id", command_id},
                                        {"type", domain::codec::command_type(c)},
                                        {"data", domain::codec::command_data(c)}});
}

int run_simulate(const simulate_options& o) {
    std::signal(SIGINT, on_stop_signal);
    std::signal(SIGTERM, on_stop_signal);
    if (o.secret.size() < api::min_secret_bytes) {
        std::cerr << "dealerline simulate: the JWT secret must be at least " << api::min_secret_bytes << " bytes\n";
        return exit_usage;
    }
    try {
        http_client probe(o.url);
    } catch (const std::invalid_argument& e) {
        std::cerr << "dealerline simulate: --url: " << e.what() << '\n';
        return exit_usage;
    }
    // Wait (bounded) for the server to answer: the demo starts both together.
    {
        http_client probe(o.url);
        const auto deadline = steady::now() + std::chrono::seconds(60);
        while (probe.get("/healthz").status != 200) {
            if (steady::now() > deadline || stop_requested) {
                std::cerr << "dealerline simulate: no answer from " << o.url << "/healthz\n";
                return exit_failed;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
        }
    }
    const std::uint64_t seed = o.seed ? o.seed : static_cast<std::uint64_t>(steady::now().time_since_epoch().count());
    // Ids unique to this run, so that a restarted demo goes on beside what is in the log (from the
    // clock in microseconds: two runs in one second must not share their command ids).
    char tag[24];
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::snprintf(tag, sizeof tag, "%llx", static_cast<unsigned long long>(micros % (1ll << 44)));
    const std::int64_t expires = unix_now() + 30 * 24 * 3600;
    tally counts;
    // What the server acknowledged, for the soak's check that each is in the log afterwards.
    std::mutex acked_mutex;
    std::ofstream acked;
    if (!o.acked.empty()) {
        acked.open(o.acked, std::ios::app);
        if (!acked) {
            std::cerr << "dealerline simulate: cannot write " << o.acked << '\n';
            return exit_usage;
        }
    }
    auto record_ack = [&](const std::string& command_id, const std::string& body) {
        if (!acked.is_open()) return;
        boost::system::error_code ec;
        const auto answer = json::parse(body, ec);
        std::string line = command_id + ' ';
        const auto* positions = !ec && answer.is_object() ? answer.as_object().if_contains("positions") : nullptr;
        if (positions && positions->is_array())
            for (const auto& p : positions->as_array())
                if (p.is_int64() || p.is_uint64()) line += std::to_string(p.to_number<std::uint64_t>()) + ',';
        if (line.back() == ',') line.pop_back();
        const std::lock_guard lock(acked_mutex);
        acked << line << std::endl;  // flushed: a killed simulator keeps what it was told
    };
    auto send = [&](http_client& client, plant& p, const next_command& c, const std::string& command_id) {
        ++counts.sent;
        for (int attempt = 0;; ++attempt) {
            auto answer = client.post("/api/commands", body_of(c.command, command_id), c.token);
            if (answer.status == 200) {
                record_ack(command_id, answer.body);
                return void(++counts.ok);
            }
            if (answer.status == 422 || answer.status == 409 || answer.status == 404) {
                ++counts.refused;
                return p.refused(c);
            }
            // Not there, busy or stopping: the same command id again is safe (idempotent).
            if ((answer.status == 0 || answer.status == 429 || answer.status == 503) && attempt < 20 && !stop_requested) {
                std::this_thread::sleep_for(std::chrono::milliseconds(100 * (attempt + 1)));
                continue;
            }
            ++counts.failed;
            std::cerr << "dealerline simulate: " << domain::codec::command_type(c.command) << ": "
                      << (answer.status ? std::to_string(answer.status) + " " + answer.body : answer.error) << '\n';
            return;
        }
    };
    carried_over earlier;
    {
        http_client client(o.url);
        earlier = read_open_work(client, *api::issue_token(o.secret, {"sim-accountant", domain::role::accountant, "", expires}),
                                 o.dealers, plant::max_orders * static_cast<std::size_t>(o.connections));
        plant first(seed, tag, o.secret, o.dealers, expires);
        int n = 0;
        for (const auto& r : first.registrations()) send(client, first, r, "sim-register-" + dealer_id(++n));
        n = 0;
        for (const auto& c : first.setup()) send(client, first, c, "sim-setup-" + std::string(tag) + "-" + std::to_string(++n));
    }
    std::cerr << "dealerline simulate: " << o.dealers << " dealers, " << o.rate << " changes/s on " << o.connections
              << " connection(s), going on with " << earlier.orders.size() << " open order(s) of earlier runs; Ctrl-C stops\n";
    const auto started = steady::now();
    std::vector<std::thread> workers;
    for (int w = 0; w < o.connections; ++w) {
        workers.emplace_back([&, w] {
            http_client client(o.url);
            plant p(seed + static_cast<std::uint64_t>(w), std::string(tag) + "w" + std::to_string(w), o.secret, o.dealers, expires);
            for (std::size_t i = static_cast<std::size_t>(w); i < earlier.orders.size(); i += static_cast<std::size_t>(o.connections))
                p.adopt(earlier.orders[i]);
            if (w == 0)
                for (const auto& [dealer, amount] : earlier.owed) p.owes(dealer, amount);
            const auto interval = std::chrono::duration<double>(o.connections / o.rate);
            auto next = steady::now();
            std::uint64_t n = 0;
            while (!stop_requested) {
                if (o.duration > 0 && steady::now() - started > std::chrono::duration<double>(o.duration)) break;
                if (o.count && counts.sent.load() >= o.count) break;
                std::this_thread::sleep_until(next);
                next += std::chrono::duration_cast<steady::duration>(interval);
                if (steady::now() - next > std::chrono::seconds(1)) next = steady::now();  // fell behind: no burst to catch up
                const auto c = p.next();
                send(client, p, c, "sim-" + std::string(tag) + "-" + std::to_string(w) + "-" + std::to_string(++n));
            }
        });
    }
    auto report = [&] {
        std::cerr << "dealerline simulate: " << counts.sent << " sent, " << counts.ok << " ok, " << counts.refused
                  << " refused by the domain, " << counts.failed << " failed\n";
    };
    auto last_report = steady::now();
    bool running = true;
    while (running) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        running = !stop_requested && !(o.duration > 0 && steady::now() - started > std::chrono::duration<double>(o.duration)) &&
                  !(o.count && counts.sent.load() >= o.count);
        if (steady::now() - last_report > std::chrono::seconds(30)) {
            report();
            last_report = steady::now();
        }
    }
    for (auto& t : workers) t.join();
    report();
    return counts.failed ? exit_failed : exit_ok;
}

}  // namespace

void add_simulate(CLI::App& app, int& status) {
    auto* cmd = app.add_subcommand("simulate", "A plant producing live traffic against a running server");
    auto o = std::make_shared<simulate_options>();
    cmd->add_option("--url", o->url, "The server, http://HOST:PORT")->envname("DEALERLINE_URL")->required();
    cmd->add_option("--jwt-secret", o->secret, "The server's token secret (tokens are minted with it)")
        ->envname("DEALERLINE_JWT_SECRET")
        ->required();
    cmd->add_option("--rate", o->rate, "Changes per second (default 20)")->envname("DEALERLINE_SIM_RATE")->check(CLI::Range(0.1, 100000.0));
    cmd->add_option("--dealers", o->dealers, "How many dealers (default 50)")->check(CLI::Range(1, 100000));
    cmd->add_option("--connections", o->connections, "Parallel connections (default 1)")->check(CLI::Range(1, 1024));
    cmd->add_option("--duration", o->duration, "Stop after this many seconds (default: run until Ctrl-C)")->check(CLI::Range(0.0, 1e9));
    cmd->add_option("--count", o->count, "Stop after this many commands");
    cmd->add_option("--seed", o->seed, "Random seed (default: from the clock)");
    cmd->add_option("--acked", o->acked, "Append each acknowledged command to this file: its id and positions (for checks)");
    cmd->callback([o, &status] { status = run_simulate(*o); });
}

}  // namespace dealerline::tools
