// A randomized plant: dealers, orders moving through every status (with rejections,
// cancellations, progress), claims filed, discussed, resolved, reopened and closed — all through
// the real command handler. Commands the domain refuses (the model here is only a guess of the
// state) append nothing and are simply counted.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "commands/handler.hpp"

namespace dealerline::testing {

class workload {
public:
    workload(commands::handler& h, std::uint64_t seed, std::string prefix = "")
        : handler_(h), rng_(seed), prefix_(std::move(prefix)) {}

    void register_dealers(int n) {
        using namespace domain;
        for (int i = 0; i < n; ++i) {
            const auto id = prefix_ + "D-" + std::to_string(dealers_.size() + 1);
            send(dealer_command{register_dealer{id, "Dealer " + id, i % 5 == 4 ? "PLN" : "EUR", 30, 5'000'000}},
                 actor{role::admin, "admin-1", {}});
            dealers_.push_back({id, i % 5 == 4 ? "PLN" : "EUR"});
            if (i % 3 == 0)
                send(dealer_command{set_opening_balance{id, 1000 * (i + 1)}}, actor{role::accountant, "acc-1", {}});
        }
    }

    // One random step; `steps` of them make a plant's day. About one step in six is money,
    // stock or a subscription.
    void step() {
        using namespace domain;
        const int dice = pick(100);
        if (dice >= 84 && !dealers_.empty()) return settlement_step();
        if (orders_.empty() || dice < 22) return place();
        if (dice < 30 && !claimable_.empty()) return claim_step();
        auto& o = orders_[static_cast<std::size_t>(pick(static_cast<int>(orders_.size())))];
        const actor engineer{role::engineer, "eng-7", {}}, production{role::production, "prod-3", {}},
            logistics{role::logistics, "log-1", {}}, dealer{role::dealer, o.dealer, o.dealer};
        switch (o.status) {
            case 0:  // placed
                if (pick(100) < 8) send(order_command{reject_order{o.id, "cannot be made in this colour"}}, engineer), o.status = 9;
                else if (pick(100) < 5) send(order_command{cancel_order{o.id, "changed my mind"}}, dealer), o.status = 9;
                else {
                    send(order_command{accept_order{o.id, pick(2) ? std::optional<std::string>("2026-12-01") : std::nullopt}}, engineer);
                    o.status = 1;
                    claimable_.push_back(o.id);
                }
                break;
            case 1:
                if (pick(100) < 5) send(order_command{cancel_order{o.id, "customer withdrew"}}, engineer), o.status = 9;
                else send(order_command{start_production{o.id}}, production), o.status = 2;
                break;
            case 2:
                if (o.done + 1 < o.units && pick(2)) {
                    o.done += 1 + pick(static_cast<int>(o.units - o.done - 1));
                    send(order_command{record_production_progress{o.id, o.done}}, production);
                } else {
                    send(order_command{complete_production{o.id}}, production), o.status = 3;
                }
                break;
            case 3:
                send(order_command{ship_order{o.id, "Own fleet", "R-" + std::to_string(pick(40)), "TRK-7", "Jan Nowak",
                                              "+48 600 100 200", "2026-12-05"}},
                     logistics);
                o.status = 4;
                break;
            case 4:
                send(order_command{confirm_delivery{o.id, pick(2) ? std::optional<std::string>("Anna") : std::nullopt}},
                     pick(2) ? dealer : logistics);
                o.status = 5;
                break;
            default:
                place();
        }
    }

    [[nodiscard]] int accepted() const noexcept { return accepted_; }
    [[nodiscard]] int refused() const noexcept { return refused_; }

private:
    struct dealer_info {
        std::string id, currency;
    };
    struct order_info {
        std::string id, dealer;
        std::int64_t units = 0, done = 0;
        int status = 0;  // 0 placed 1 accepted 2 in production 3 produced 4 shipped 5 delivered 9 closed
    };
    struct claim_info {
        std::string id, dealer;
        int status = 0;  // 0 open 1 in review 2 resolved 3 reopened 4 closed
    };

    int pick(int n) { return n <= 0 ? 0 : static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }

    void place() {
        using namespace domain;
        const auto& d = dealers_[static_cast<std::size_t>(pick(static_cast<int>(dealers_.size())))];
        const auto id = prefix_ + "O-" + std::to_string(orders_.size() + 1);
        std::vector<order_line> lines;
        std::int64_t units = 0;
        for (int i = 0, n = 1 + pick(4); i < n; ++i) {
            lines.push_back({"WIN-" + std::to_string(pick(30)), "Window 'Classic' " + std::to_string(i), 1 + pick(8),
                             10'000 + pick(50'000)});
            units += lines.back().quantity;
        }
        send(order_command{place_order{id, d.id, d.currency, lines, "Main St " + std::to_string(pick(99)),
                                       pick(3) ? std::optional<std::string>("EXT-" + id) : std::nullopt}},
             actor{role::dealer, d.id, d.id});
        orders_.push_back({id, d.id, units, 0, 0});
    }

    void claim_step() {
        using namespace domain;
        const actor manager{role::claims_manager, "cm-2", {}};
        if (claims_.empty() || pick(3) == 0) {
            const auto& order_id = claimable_[static_cast<std::size_t>(pick(static_cast<int>(claimable_.size())))];
            std::string dealer;
            for (const auto& o : orders_)
                if (o.id == order_id) dealer = o.dealer;
            const auto id = prefix_ + "CL-" + std::to_string(claims_.size() + 1);
            static const char* const kinds[] = {"defect", "damage", "missing_part", "delay", "other"};
            send(claim_command{file_claim{id, order_id, kinds[pick(5)], "The frame is scratched"}},
                 actor{role::dealer, dealer, dealer});
            claims_.push_back({id, dealer, 0});
            return;
        }
        auto& c = claims_[static_cast<std::size_t>(pick(static_cast<int>(claims_.size())))];
        const actor dealer{role::dealer, c.dealer, c.dealer};
        switch (c.status) {
            case 0:
            case 3:
                send(claim_command{assign_claim{c.id, "cm-" + std::to_string(pick(3))}}, manager), c.status = 1;
                break;
            case 1:
                if (pick(2)) send(claim_command{comment_on_claim{c.id, "Could you send a photo?"}}, manager);
                else {
                    const bool rejected = pick(4) == 0;
                    send(claim_command{resolve_claim{c.id, rejected ? "rejected" : "repair", rejected ? 0 : 100 * pick(500),
                                                     pick(2) ? "We will send a technician" : ""}},
                         manager);
                    c.status = 2;
                }
                break;
            case 2:
                if (pick(3) == 0) send(claim_command{reopen_claim{c.id, "Still broken"}}, dealer), c.status = 3;
                else send(claim_command{close_claim{c.id}}, manager), c.status = 4;
                break;
            default:
                send(claim_command{comment_on_claim{c.id, "Thank you"}}, dealer);
        }
    }

    // Stock moves, invoices, payments (allocated, some reversed), credit notes, subscriptions
    // started, changed, paused, billed and cancelled. Refusals (a guess gone wrong) are fine.
    void settlement_step() {
        using namespace domain;
        const actor keeper{role::storekeeper, "sk-1", {}}, fulfilment{role::system, "fulfilment", {}}, accountant{role::accountant, "acc-1", {}};
        const auto& d = dealers_[static_cast<std::size_t>(pick(static_cast<int>(dealers_.size())))];
        const std::string wh = pick(2) ? "WH-1" : "WH-2", sku = "WIN-" + std::to_string(pick(3));
        const std::string some_order = orders_.empty() ? "O-0" : orders_[static_cast<std::size_t>(pick(static_cast<int>(orders_.size())))].id;
        switch (pick(14)) {
            case 0: return send(stock_command{receive_stock{wh, sku, 1 + pick(20), "batch " + std::to_string(pick(99))}}, keeper);
            case 1: return send(stock_command{reserve_stock{wh, sku, some_order, 1 + pick(6)}}, fulfilment);
            case 2: return send(stock_command{release_stock{wh, sku, some_order}}, fulfilment);
            case 3: return send(stock_command{issue_stock{wh, sku, some_order}}, fulfilment);
            case 4: return send(pick(2) ? stock_command{write_off_stock{wh, sku, 1, "broken glass"}} : stock_command{count_stock{wh, sku, pick(30)}}, keeper);
            case 5:
            case 6: {
                const auto id = prefix_ + "INV-" + std::to_string(++invoices_);
                return send(invoice_command{issue_invoice{id, d.id, "manual", "M-" + std::to_string(invoices_),
                                                          {{"Service", 1 + pick(3), 1000 + 100 * pick(90)}}, std::nullopt}},
                            accountant);
            }
            case 7: {
                const auto id = prefix_ + "P-" + std::to_string(++payments_);
                return send(payment_command{record_payment{id, d.id, 500 + 100 * pick(100), "bank", "2026-11-16", "REF-" + id}}, accountant);
            }
            case 8:
                if (invoices_ && payments_)
                    return send(payment_command{allocate_payment{prefix_ + "P-" + std::to_string(1 + pick(payments_)),
                                                                 prefix_ + "INV-" + std::to_string(1 + pick(invoices_)), 100 + 100 * pick(20)}},
                                accountant);
                return;
            case 9:
                if (payments_) return send(payment_command{reverse_payment{prefix_ + "P-" + std::to_string(1 + pick(payments_)), "returned"}}, accountant);
                return;
            case 10:
                if (pick(2) && invoices_) return send(invoice_command{void_invoice{prefix_ + "INV-" + std::to_string(1 + pick(invoices_)), "wrong"}}, accountant);
                return send(credit_note_command{issue_credit_note{prefix_ + "CN-" + std::to_string(++credit_notes_), d.id, 100 + pick(900), "goodwill", std::nullopt}},
                            accountant);
            case 11: {
                const auto id = prefix_ + "S-" + std::to_string(++subscriptions_);
                return send(subscription_command{start_subscription{id, d.id, "PBX", 3000, pick(2) ? "monthly" : "quarterly", "2026-0" + std::to_string(1 + pick(6)) + "-1" + std::to_string(pick(9))}},
                            accountant);
            }
            default: {
                if (!subscriptions_) return;
                const auto id = prefix_ + "S-" + std::to_string(1 + pick(subscriptions_));
                const int what = pick(6);
                if (what == 0) return send(subscription_command{change_subscription_plan{id, "PBX plus", 4500, "2026-0" + std::to_string(7 + pick(3)) + "-15"}}, accountant);
                if (what == 1) return send(subscription_command{pause_subscription{id}}, accountant);
                if (what == 2) return send(subscription_command{resume_subscription{id}}, accountant);
                if (what == 3) return send(subscription_command{cancel_subscription{id, "2026-12-01"}}, accountant);
                // Bill the next period, whatever it is.
                auto s = handler_.load<subscription_aggregate>("subscription-" + id);
                if (s && !s->second.next_billing.empty())
                    return send(subscription_command{bill_subscription_period{id, s->second.next_billing}}, staff_billing());
                return;
            }
        }
    }
    static domain::actor staff_billing() { return {domain::role::system, "billing", {}}; }

    void send(domain::any_command c, domain::actor by) {
        auto r = handler_.handle(commands::envelope{prefix_ + "cmd-" + std::to_string(++sent_), std::move(c), std::move(by),
                                                    std::nullopt, ""});
        if (r && !r->positions.empty()) ++accepted_;
        else ++refused_;
    }

    commands::handler& handler_;
    std::mt19937_64 rng_;
    std::string prefix_;
    std::vector<dealer_info> dealers_;
    std::vector<order_info> orders_;
    std::vector<std::string> claimable_;
    std::vector<claim_info> claims_;
    int sent_ = 0, accepted_ = 0, refused_ = 0;
    int invoices_ = 0, payments_ = 0, credit_notes_ = 0, subscriptions_ = 0;
};

}  // namespace dealerline::testing
