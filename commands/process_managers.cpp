#include "commands/process_managers.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"

namespace dealerline::commands {
namespace {

using namespace domain;

const actor fulfilment{role::system, "fulfilment", {}};
const actor compensation{role::system, "claims", {}};
const actor allocation{role::system, "payments", {}};
const actor billing_actor{role::system, "billing", {}};

constexpr std::string_view checkpoint_name = "processmanagers";

template <class A>
std::optional<typename A::event> decode(const storage::recorded_event& e) {
    auto d = codec::decode<A>(e.type, e.schema_version, e.data);
    if (!d) return std::nullopt;
    return *d;
}

}  // namespace

std::vector<derived_command> process_managers::on(const storage::recorded_event& e) {
    std::vector<derived_command> out;
    const auto id = [&](std::string_view what) { return "pm:" + std::to_string(e.position) + ":" + std::string(what); };
    const auto category = category_of(e.stream);
    if (category == order_aggregate::category) {
        auto ev = decode<order_aggregate>(e);
        if (!ev) return out;
        std::visit(overloaded{
                       [&](const order_placed& x) {
                           auto& o = orders_[x.order_id];
                           o.dealer_id = x.dealer_id;
                           for (const auto& l : x.lines) o.lines.push_back({l.sku, l.description, l.quantity, l.unit_price});
                       },
                       [&](const order_accepted& x) {
                           auto it = orders_.find(x.order_id);
                           if (it == orders_.end()) return;
                           for (std::size_t i = 0; i < it->second.lines.size(); ++i) {
                               const auto& l = it->second.lines[i];
                               auto where = stock_.find(l.sku);
                               if (where == stock_.end() || where->second.empty()) continue;  // not a stocked SKU: made to order
                               // The warehouse with the most available; a shortage shows when even it has too little.
                               const auto best = std::max_element(where->second.begin(), where->second.end(), [](const auto& a, const auto& b) {
                                   return a.second.on_hand - a.second.reserved < b.second.on_hand - b.second.reserved;
                               });
                               out.push_back({id("reserve:" + std::to_string(i)),
                                              stock_command{reserve_stock{best->first, l.sku, x.order_id, l.quantity}}, fulfilment});
                           }
                       },
                       [&](const order_shipped& x) {
                           auto it = orders_.find(x.order_id);
                           if (it == orders_.end()) return;
                           for (const auto& [item, quantity] : it->second.held)
                               out.push_back({id("issue:" + item.first + ":" + item.second),
                                              stock_command{issue_stock{item.first, item.second, x.order_id}}, fulfilment});
                           std::vector<invoice_line> lines;
                           for (const auto& l : it->second.lines)
                               lines.push_back({l.description.empty() ? l.sku : l.sku + " " + l.description, l.quantity, l.unit_price});
                           out.push_back({id("invoice"),
                                          invoice_command{issue_invoice{"INV-" + x.order_id, it->second.dealer_id, "order", x.order_id,
                                                                        std::move(lines), std::nullopt}},
                                          fulfilment});
                       },
                       [&](const order_cancelled& x) {
                           auto it = orders_.find(x.order_id);
                           if (it == orders_.end()) return;
                           for (const auto& [item, quantity] : it->second.held)
                               out.push_back({id("release:" + item.first + ":" + item.second),
                                              stock_command{release_stock{item.first, item.second, x.order_id}}, fulfilment});
                       },
                       [&](const order_delivered& x) { orders_.erase(x.order_id); },
                       [&](const order_rejected& x) { orders_.erase(x.order_id); },
                       // Named, not a catch-all: a new order event is a compile error here until
                       // someone decides whether it derives a command.
                       [](const production_started&) {},
                       [](const production_progressed&) {},
                       [](const production_completed&) {},
                       [](const order_stock_shortage_flagged&) {},
                   },
                   *ev);
    } else if (category == stock_aggregate::category) {
        auto ev = decode<stock_aggregate>(e);
        if (!ev) return out;
        auto hold = [&](const std::string& order_id, const std::string& wh, const std::string& sku, std::int64_t delta) {
            auto it = orders_.find(order_id);
            if (it == orders_.end()) return;
            auto& held = it->second.held[{wh, sku}];
            held += delta;
            if (held <= 0) it->second.held.erase({wh, sku});
        };
        std::visit(overloaded{
                       [&](const stock_received& x) { stock_[x.sku][x.warehouse].on_hand += x.quantity; },
                       [&](const stock_reserved& x) {
                           stock_[x.sku][x.warehouse].reserved += x.quantity;
                           hold(x.order_id, x.warehouse, x.sku, x.quantity);
                       },
                       [&](const stock_released& x) {
                           stock_[x.sku][x.warehouse].reserved -= x.quantity;
                           hold(x.order_id, x.warehouse, x.sku, -x.quantity);
                       },
                       [&](const stock_issued& x) {
                           auto& s = stock_[x.sku][x.warehouse];
                           s.reserved -= x.quantity;
                           s.on_hand -= x.quantity;
                           hold(x.order_id, x.warehouse, x.sku, -x.quantity);
                       },
                       [&](const stock_written_off& x) { stock_[x.sku][x.warehouse].on_hand -= x.quantity; },
                       [&](const stock_counted& x) { stock_[x.sku][x.warehouse].on_hand = x.counted; },
                   },
                   *ev);
    } else if (category == claim_aggregate::category) {
        auto ev = decode<claim_aggregate>(e);
        if (!ev) return out;
        std::visit(overloaded{
                       [&](const claim_filed& x) { claim_dealer_[x.claim_id] = x.dealer_id; },
                       [&](const claim_resolved& x) {
                           if (x.compensation <= 0) return;
                           auto dealer = claim_dealer_.find(x.claim_id);
                           if (dealer == claim_dealer_.end()) return;
                           out.push_back({id("credit"),
                                          credit_note_command{issue_credit_note{"CN-" + x.claim_id + "-" + std::to_string(e.version),
                                                                                dealer->second, x.compensation,
                                                                                "compensation for claim " + x.claim_id + " (" + x.resolution + ")",
                                                                                x.claim_id}},
                                          compensation});
                       },
                       [](const claim_assigned&) {},
                       [](const claim_commented&) {},
                       [](const claim_reopened&) {},
                       [](const claim_closed&) {},
                   },
                   *ev);
    } else if (category == invoice_aggregate::category) {
        auto ev = decode<invoice_aggregate>(e);
        if (!ev) return out;
        auto find = [&](const std::string& invoice_id) -> open_invoice* {
            auto dealer = invoice_dealer_.find(invoice_id);
            if (dealer == invoice_dealer_.end()) return nullptr;
            auto& list = invoices_[dealer->second];
            auto it = std::find_if(list.begin(), list.end(), [&](const auto& i) { return i.invoice_id == invoice_id; });
            return it == list.end() ? nullptr : &*it;
        };
        auto drop_closed = [&](const std::string& invoice_id) {
            auto dealer = invoice_dealer_.find(invoice_id);
            if (dealer == invoice_dealer_.end()) return;
            std::erase_if(invoices_[dealer->second], [&](const auto& i) { return i.invoice_id == invoice_id && i.open <= 0; });
        };
        std::visit(overloaded{
                       [&](const invoice_issued& x) {
                           invoice_dealer_[x.invoice_id] = x.dealer_id;
                           if (x.total > 0) invoices_[x.dealer_id].push_back({x.invoice_id, x.currency, x.total});
                       },
                       [&](const invoice_payment_applied& x) {
                           if (auto* i = find(x.invoice_id)) i->open -= x.amount;
                           drop_closed(x.invoice_id);
                       },
                       [&](const invoice_payment_reversed& x) {
                           if (auto* i = find(x.invoice_id)) i->open += x.amount;
                           // A fully paid invoice reopened: back in the list, by age is lost; it goes last.
                           else if (auto d = invoice_dealer_.find(x.invoice_id); d != invoice_dealer_.end())
                               invoices_[d->second].push_back({x.invoice_id, "", x.amount});
                       },
                       [&](const invoice_voided& x) {
                           if (auto* i = find(x.invoice_id)) i->open = 0;
                           drop_closed(x.invoice_id);
                       },
                       [](const invoice_overdue&) {},
                   },
                   *ev);
    } else if (category == subscription_aggregate::category) {
        auto ev = decode<subscription_aggregate>(e);
        if (!ev) return out;
        const auto bill = [&](const subscription_period_billed& period) {
            const auto* billed = &period;
            // Invoice lines cannot be negative: a credit (a cheaper plan for part of the last
            // period) beyond what the invoice owes becomes a credit note.
            std::vector<invoice_line> lines;
            std::int64_t credit = 0;
            for (const auto& l : billed->lines) {
                if (l.amount > 0) lines.push_back({l.description, 1, l.amount});
                else credit -= l.amount;
            }
            std::int64_t positive = 0;
            for (const auto& l : lines) positive += l.unit_price;
            const auto key = billed->subscription_id + "-" + billed->period_start;
            if (credit > 0 && credit <= positive && !lines.empty()) {
                // Fold the credit into the first line the invoice has.
                lines.front().unit_price -= credit;
                lines.front().description += " (less " + std::to_string(credit) + " for a plan change)";
                credit = 0;
            }
            if (!lines.empty())
                out.push_back({id("invoice"),
                               invoice_command{issue_invoice{"INV-" + key, billed->dealer_id, "subscription", billed->subscription_id,
                                                             std::move(lines), std::nullopt}},
                               billing_actor});
            if (credit > 0)
                out.push_back({id("credit"),
                               credit_note_command{issue_credit_note{"CN-" + key, billed->dealer_id, credit,
                                                                     "plan change on subscription " + billed->subscription_id, std::nullopt}},
                               billing_actor});
        };
        std::visit(overloaded{
                       bill,
                       [](const subscription_started&) {},
                       [](const subscription_plan_changed&) {},
                       [](const subscription_paused&) {},
                       [](const subscription_resumed&) {},
                       [](const subscription_cancelled&) {},
                       [](const subscription_period_skipped&) {},
                   },
                   *ev);
    } else if (category == payment_aggregate::category) {
        auto ev = decode<payment_aggregate>(e);
        if (!ev) return out;
        std::visit(overloaded{
                       [&](const payment_recorded& paid) {
                           std::int64_t left = paid.amount;
                           for (const auto& inv : invoices_[paid.dealer_id]) {
                               if (left <= 0) break;
                               if (inv.open <= 0 || (!inv.currency.empty() && inv.currency != paid.currency)) continue;
                               const auto amount = std::min(left, inv.open);
                               out.push_back({id("allocate:" + inv.invoice_id),
                                              payment_command{allocate_payment{paid.payment_id, inv.invoice_id, amount}}, allocation});
                               left -= amount;
                           }
                       },
                       [](const payment_allocated&) {},
                       [](const payment_reversed&) {},
                   },
                   *ev);
    }
    return out;
}

manager_runner::manager_runner(storage::event_log& log, handler& h, manager_runner_options o, storage::event_source* events)
    : log_(log),
      own_events_(events ? nullptr : std::make_unique<storage::local_event_source>(log)),
      events_(events ? *events : *own_events_),
      handler_(h),
      options_(o) {}

manager_runner::~manager_runner() { stop(); }

void manager_runner::start() {
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] { run(); });
}

void manager_runner::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

bool manager_runner::wait_for(std::uint64_t position, std::chrono::steady_clock::time_point deadline) const {
    while (position_.load() < position) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

void manager_runner::fold_early(const std::vector<std::uint64_t>& positions, std::uint64_t current) {
    for (const auto p : positions) {
        if (p <= current || folded_early_.contains(p)) continue;
        auto e = events_.read_after(p - 1, 1, std::chrono::milliseconds(0));
        if (!e || e->empty() || e->front().position != p) continue;  // the main loop folds it in turn
        folded_early_.insert(p);
        for (const auto& c : managers_.on(e->front())) execute(c, current);
    }
}

bool manager_runner::wait_until_idle(std::chrono::steady_clock::time_point deadline) const {
    for (;;) {
        const auto head = events_.head();
        if (!wait_for(head, deadline)) return false;
        if (events_.head() == head) return true;  // their last commands appended nothing more
    }
}

void manager_runner::execute(const derived_command& c, std::uint64_t current) {
    auto r = handler_.handle({c.command_id, c.command, c.actor, std::nullopt, ""});
    if (r) return fold_early(r->positions, current);
    // Not enough stock for a line: the order says so, visibly.
    if (const auto* stock = std::get_if<domain::stock_command>(&c.command); stock && r.error().code == "insufficient_stock") {
        if (const auto* reserve = std::get_if<domain::reserve_stock>(stock)) {
            std::int64_t available = 0;
            if (auto s = handler_.load<domain::stock_aggregate>(domain::stream_name(domain::stock_aggregate::category,
                                                                                   reserve->warehouse + ":" + reserve->sku)))
                available = s->second.available();
            auto flagged = handler_.handle({c.command_id + ":shortage",
                                            domain::order_command{domain::flag_stock_shortage{reserve->order_id, reserve->sku, reserve->quantity, available}},
                                            c.actor, std::nullopt, ""});
            if (flagged) fold_early(flagged->positions, current);
            else spdlog::warn("process managers: {}: {}", c.command_id, flagged.error().message);
            return;
        }
    }
    // The domain said no (an order cancelled meanwhile, an invoice paid by hand…): nothing to do.
    spdlog::info("process managers: {} refused: {} ({})", c.command_id, r.error().message, r.error().code);
}

manager_runner::health_report manager_runner::health() const {
    std::lock_guard lock(problem_m_);
    return {problem_, errors_.load()};
}

void manager_runner::run() {
    std::uint64_t checkpoint = 0;
    if (auto snap = log_.get_snapshot(checkpoint_name); options_.use_checkpoint && snap && *snap) checkpoint = (*snap)->version;
    std::uint64_t at = 0;
    auto backoff = std::chrono::milliseconds(100);
    auto trouble = [&](std::string problem) {
        ++errors_;
        spdlog::error("process managers: {}; retrying in {} ms", problem, backoff.count());
        {
            std::lock_guard lock(problem_m_);
            problem_ = std::move(problem);
        }
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    };
    while (!stop_) {
        auto events = events_.read_after(at, options_.batch, std::chrono::milliseconds(100));
        if (events && events->empty()) continue;  // nothing new within the wait
        if (!events) {
            trouble("cannot read the log after " + std::to_string(at) + ": " + events.error().message);
            continue;
        }
        // The thread's last resort: an event whose handling throws is retried after a pause.
        try {
            for (const auto& e : *events) {
                if (folded_early_.erase(e.position) == 0) {
                    auto commands = managers_.on(e);
                    if (e.position > checkpoint)
                        for (const auto& c : commands) execute(c, e.position);
                }
                at = e.position;
                position_ = at;
                if (stop_) break;
            }
        } catch (const std::exception& x) {
            trouble("handling the event after position " + std::to_string(at) + " failed: " + x.what());
            continue;
        }
        if (backoff != std::chrono::milliseconds(100)) {
            backoff = std::chrono::milliseconds(100);
            std::lock_guard lock(problem_m_);
            problem_.clear();
        }
        // The checkpoint may only pass what is folded in order (early folds are redone on restart).
        if (at > checkpoint) {
            checkpoint = at;
            (void)log_.put_snapshot(checkpoint_name, {checkpoint, ""});  // a cache: losing it re-runs duplicates
        }
    }
}

}  // namespace dealerline::commands
