#include "api/detail/live.hpp"

#include <pthread.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <spdlog/spdlog.h>

#include "domain/account.hpp"
#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "domain/time.hpp"

namespace dealerline::api::detail {
namespace {

namespace json = boost::json;

constexpr std::size_t max_cached_streams = 200'000;  // then the cache starts over: a refold costs one short read

enum class category { order, claim, invoice, payment, credit_note, dealer, other };

// The aggregates' own categories, not hand-written prefixes.
category category_of(std::string_view stream) {
    const auto c = domain::category_of(stream);
    if (c == domain::order_aggregate::category) return category::order;
    if (c == domain::claim_aggregate::category) return category::claim;
    if (c == domain::invoice_aggregate::category) return category::invoice;
    if (c == domain::payment_aggregate::category) return category::payment;
    if (c == domain::credit_note_aggregate::category) return category::credit_note;
    if (c == domain::dealer_aggregate::category) return category::dealer;
    return category::other;
}

storage::error corrupt(const storage::recorded_event& e, const std::string& why) {
    return storage::error{storage::error::kind::corrupt,
                          "event at position " + std::to_string(e.position) + " (" + e.type + "): " + why};
}

// The state after `e`, given the state before it.
template <class Aggregate>
storage::result<typename Aggregate::state> evolve(typename Aggregate::state before, const storage::recorded_event& e) {
    auto decoded = domain::codec::decode<Aggregate>(e.type, e.schema_version, e.data);
    if (!decoded) return tl::unexpected(corrupt(e, decoded.error().message));
    return Aggregate::evolve(std::move(before), *decoded);
}

}  // namespace

storage::result<update_deriver::folded> update_deriver::fold(const std::string& stream, std::uint64_t through_version) {
    folded out;
    switch (category_of(stream)) {
        case category::order: out.state = domain::order_state{}; break;
        case category::claim: out.state = domain::claim_state{}; break;
        case category::invoice: out.state = domain::invoice_state{}; break;
        default: out.state = domain::payment_state{}; break;
    }
    while (out.version < through_version) {
        auto events = log_.read_stream(stream, out.version + 1, std::min<std::uint64_t>(through_version - out.version, 1000));
        if (!events) return tl::unexpected(events.error());
        if (events->empty()) break;
        for (const auto& e : *events) {
            if (e.version > through_version) break;
            std::optional<storage::error> failed;
            std::visit(
                [&](auto& st) {
                    using S = std::remove_cvref_t<decltype(st)>;
                    using A = std::conditional_t<std::is_same_v<S, domain::order_state>, domain::order_aggregate,
                              std::conditional_t<std::is_same_v<S, domain::claim_state>, domain::claim_aggregate,
                              std::conditional_t<std::is_same_v<S, domain::invoice_state>, domain::invoice_aggregate,
                                                 domain::payment_aggregate>>>;
                    auto next = evolve<A>(std::move(st), e);
                    if (!next) failed = next.error();
                    else st = std::move(*next);
                },
                out.state);
            if (failed) return tl::unexpected(*failed);
            out.version = e.version;
        }
    }
    return out;
}

// The dealer's account moved: one update per statement entry, by the domain's rule
// (domain/account.hpp, the same as portal.account_entries).
storage::result<std::optional<live_update>> update_deriver::derive_account(const storage::recorded_event& e) {
    // A void or a reversal needs the document before it (whose, how much), folded from the
    // stream's prefix only then.
    std::optional<storage::error> failed;
    auto before = [&](auto pick) {
        return [&, pick](const std::string&) -> domain::account_document {
            auto prefix = fold(e.stream, e.version - 1);
            if (!prefix) {
                failed = prefix.error();
                return {};
            }
            auto document = pick(prefix->state);
            if (!document) failed = corrupt(e, "the stream does not hold the document this event names");
            return document.value_or(domain::account_document{});
        };
    };
    std::optional<domain::account_entry> entry;
    switch (category_of(e.stream)) {
        case category::dealer: {
            auto ev = domain::codec::decode<domain::dealer_aggregate>(e.type, e.schema_version, e.data);
            if (!ev) return tl::unexpected(corrupt(e, ev.error().message));
            entry = domain::account_entry_of(*ev);
            break;
        }
        case category::credit_note: {
            auto ev = domain::codec::decode<domain::credit_note_aggregate>(e.type, e.schema_version, e.data);
            if (!ev) return tl::unexpected(corrupt(e, ev.error().message));
            entry = domain::account_entry_of(*ev);
            break;
        }
        case category::invoice: {
            auto ev = domain::codec::decode<domain::invoice_aggregate>(e.type, e.schema_version, e.data);
            if (!ev) return tl::unexpected(corrupt(e, ev.error().message));
            entry = domain::account_entry_of(*ev, before([](const auto& state) -> std::optional<domain::account_document> {
                                                 const auto* st = std::get_if<domain::invoice_state>(&state);
                                                 if (!st) return std::nullopt;
                                                 return domain::account_document{st->dealer_id, st->open_amount()};
                                             }));
            break;
        }
        case category::payment: {
            auto ev = domain::codec::decode<domain::payment_aggregate>(e.type, e.schema_version, e.data);
            if (!ev) return tl::unexpected(corrupt(e, ev.error().message));
            entry = domain::account_entry_of(*ev, before([](const auto& state) -> std::optional<domain::account_document> {
                                                 const auto* st = std::get_if<domain::payment_state>(&state);
                                                 if (!st) return std::nullopt;
                                                 return domain::account_document{st->dealer_id, st->amount};
                                             }));
            break;
        }
        case category::order:
        case category::claim:
        case category::other: break;
    }
    if (failed) return tl::unexpected(*failed);
    if (!entry) return std::optional<live_update>{};
    json::object u{{"type", "account_entry"},          {"position", e.position},   {"dealer_id", entry->dealer_id},
                   {"kind", domain::to_string(entry->kind)}, {"document_id", entry->document_id}, {"amount", entry->amount},
                   {"event", e.type},                  {"at", domain::iso8601(e.recorded_at_us)}};
    live_update out;
    out.position = e.position;
    out.dealer_id = entry->dealer_id;
    out.type = "account_entry";
    out.json = json::serialize(u);
    return std::optional<live_update>(std::move(out));
}

storage::result<std::optional<live_update>> update_deriver::derive(const storage::recorded_event& e) {
    const auto kind = category_of(e.stream);
    if (kind == category::other) return std::optional<live_update>{};
    if (kind != category::order && kind != category::claim) return derive_account(e);
    std::optional<folded> before;
    {
        std::lock_guard lock(m_);
        if (auto it = cache_.find(e.stream); it != cache_.end() && it->second.version + 1 == e.version) before = it->second;
    }
    if (!before) {  // not the next event of what we know: fold the stream's prefix (outside the lock)
        auto prefix = fold(e.stream, e.version - 1);
        if (!prefix) return tl::unexpected(prefix.error());
        before = std::move(*prefix);
    }
    folded after{e.version, before->state};
    json::object u;
    std::string dealer_id, status;
    if (kind == category::order) {
        const auto* state = std::get_if<domain::order_state>(&before->state);
        if (!state) return tl::unexpected(corrupt(e, "stream is not an order's"));
        auto next = evolve<domain::order_aggregate>(*state, e);
        if (!next) return tl::unexpected(next.error());
        dealer_id = next->dealer_id;
        status = std::string(domain::to_string(next->status));
        after.state = std::move(*next);
        u["type"] = "order_status";
        u["position"] = e.position;
        u["order_id"] = e.stream.substr(std::string_view("order-").size());
    } else {
        const auto* state = std::get_if<domain::claim_state>(&before->state);
        if (!state) return tl::unexpected(corrupt(e, "stream is not a claim's"));
        auto next = evolve<domain::claim_aggregate>(*state, e);
        if (!next) return tl::unexpected(next.error());
        dealer_id = next->dealer_id;
        status = std::string(domain::to_string(next->status));
        u["type"] = "claim_status";
        u["position"] = e.position;
        u["claim_id"] = e.stream.substr(std::string_view("claim-").size());
        u["order_id"] = next->order_id;
        after.state = std::move(*next);
    }
    u["dealer_id"] = dealer_id;
    u["status"] = status;
    u["event"] = e.type;
    u["at"] = domain::iso8601(e.recorded_at_us);
    // The event's own fields (carrier, reason, progress, …) minus the ids already named above.
    boost::system::error_code ec;
    auto data = json::parse(e.data, ec);
    if (ec || !data.is_object()) return tl::unexpected(corrupt(e, "data is not a JSON object"));
    auto& details = data.get_object();
    details.erase("order_id");
    details.erase("claim_id");
    details.erase("dealer_id");
    u["details"] = std::move(details);
    {
        std::lock_guard lock(m_);
        if (cache_.size() >= max_cached_streams) cache_.clear();
        auto& cached = cache_[e.stream];
        if (cached.version < after.version) cached = std::move(after);
    }
    live_update out;
    out.position = e.position;
    out.dealer_id = std::move(dealer_id);
    out.type = std::string(u["type"].get_string());
    out.json = json::serialize(u);
    return std::optional<live_update>(std::move(out));
}

void live_hub::start() {
    if (thread_.joinable()) return;
    position_ = source_.head();  // the hub delivers what comes from now on; before is catch-up
    stop_ = false;
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "dl-live-hub");
        run();
    });
}

void live_hub::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

std::uint64_t live_hub::subscribe(const std::shared_ptr<live_subscriber>& s) {
    std::lock_guard lock(m_);
    const auto& dealer = s->filter().dealer_id;
    auto& list = dealer ? by_dealer_[*dealer] : everyone_;
    std::erase_if(list, [](const auto& w) { return w.expired(); });
    list.push_back(s);
    return position_.load();
}

storage::result<live_hub::page> live_hub::read(std::uint64_t after, std::uint64_t to, std::size_t max_events,
                                               const live_filter& filter) {
    page out;
    out.last = after;
    if (after >= to) return out;
    auto events = source_.read_after(after, std::min<std::uint64_t>(max_events, to - after), std::chrono::milliseconds(0));
    if (!events) return tl::unexpected(events.error());
    for (const auto& e : *events) {
        if (e.position > to) break;
        auto u = derive(e);
        if (!u) return tl::unexpected(u.error());
        if (*u && filter.wants(**u)) out.updates.push_back(std::make_shared<const live_update>(std::move(**u)));
        out.last = e.position;
    }
    return out;
}

storage::result<std::optional<live_update>> live_hub::derive(const storage::recorded_event& e) {
    try {
        return deriver_.derive(e);
    } catch (const std::exception& x) {
        return tl::unexpected(storage::error{storage::error::kind::corrupt, "deriving the update of event " +
                                                                                std::to_string(e.position) + " failed: " + x.what()});
    }
}

std::string live_hub::problem() const {
    std::lock_guard lock(problem_m_);
    return problem_;
}

void live_hub::set_problem(std::string problem) {
    std::lock_guard lock(problem_m_);
    problem_ = std::move(problem);
}

void live_hub::run() {
    auto backoff = std::chrono::milliseconds(100);
    while (!stop_) {
        // The last resort of the feed's thread: whatever throws is logged, counted and shown in
        // /readyz, and the feed tries again after a pause rather than end the process.
        try {
            run_once(backoff);
        } catch (const std::exception& e) {
            ++errors_;
            set_problem(std::string("the live feed failed: ") + e.what());
            spdlog::error("live feed: {}; retrying in {} ms", e.what(), backoff.count());
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        }
    }
}

void live_hub::run_once(std::chrono::milliseconds& backoff) {
    const auto at = position_.load();
    auto events = source_.read_after(at, 1000, std::chrono::milliseconds(100));
    if (events && events->empty()) return;  // nothing new within the wait
    if (!events) {
        ++errors_;
        set_problem("cannot read the log after position " + std::to_string(at) + ": " + events.error().message);
        spdlog::error("live feed: cannot read the log after position {}: {}", at, events.error().message);
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        return;
    }
    std::vector<update_ptr> updates;
    std::uint64_t last = at;
    for (const auto& e : *events) {
        auto u = derive(e);
        if (!u) {
            // A stored event the domain cannot read: the auditor's business (audit verify);
            // the feed skips it rather than stall every client behind it.
            ++errors_;
            spdlog::error("live feed: skipping event at position {}: {}", e.position, u.error().message);
        } else if (*u) {
            updates.push_back(std::make_shared<const live_update>(std::move(**u)));
        }
        last = e.position;
    }
    backoff = std::chrono::milliseconds(100);
    set_problem({});
    std::lock_guard lock(m_);
    for (const auto& u : updates) {
        auto hand = [&](std::vector<std::weak_ptr<live_subscriber>>& list) {
            for (const auto& w : list)
                if (auto s = w.lock(); s && s->filter().wants(*u)) s->deliver(u);
        };
        if (auto it = by_dealer_.find(u->dealer_id); it != by_dealer_.end()) hand(it->second);
        hand(everyone_);
    }
    position_ = last;  // under the lock: a subscriber registered now gets exactly what follows
}

}  // namespace dealerline::api::detail
