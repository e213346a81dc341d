#include "commands/handler.hpp"

#include <array>
#include <chrono>
#include <list>
#include <mutex>
#include <type_traits>
#include <unordered_map>
#include <variant>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "domain/stream_name.hpp"

namespace dealerline::commands {
namespace {

using namespace domain;

// Which aggregate decides a group of commands (only its type is used, in decltype).
constexpr dealer_aggregate aggregate_for(const dealer_command&) { return {}; }
constexpr order_aggregate aggregate_for(const order_command&) { return {}; }
constexpr claim_aggregate aggregate_for(const claim_command&) { return {}; }
constexpr stock_aggregate aggregate_for(const stock_command&) { return {}; }
constexpr invoice_aggregate aggregate_for(const invoice_command&) { return {}; }
constexpr payment_aggregate aggregate_for(const payment_command&) { return {}; }
constexpr credit_note_aggregate aggregate_for(const credit_note_command&) { return {}; }
constexpr subscription_aggregate aggregate_for(const subscription_command&) { return {}; }

using any_state = std::variant<dealer_state, order_state, claim_state, stock_state, invoice_state, payment_state, credit_note_state,
                               subscription_state>;

failure fail(failure::kind k, std::string code, std::string message) { return failure{k, std::move(code), std::move(message)}; }

failure from_storage(const storage::error& e) {
    switch (e.code) {
        case storage::error::kind::command_mismatch: return fail(failure::kind::conflict, "command_id_reused", e.message);
        case storage::error::kind::conflict: return fail(failure::kind::conflict, "conflict", e.message);
        case storage::error::kind::bad_request: return fail(failure::kind::rejected, "validation_failed", e.message);
        default: return fail(failure::kind::unavailable, "unavailable", e.message);
    }
}

failure from_rejection(const rejection& r) {
    if (r.code == codes::forbidden) return fail(failure::kind::forbidden, r.code, r.message);
    if (r.code == codes::not_found) return fail(failure::kind::not_found, r.code, r.message);
    return fail(failure::kind::rejected, r.code, r.message);
}

// Bounded LRU of aggregate states by stream. A stale entry is harmless: its version becomes the
// expected version, the append conflicts, and the handler reloads.
class state_cache {
public:
    explicit state_cache(std::size_t capacity) : capacity_(capacity) {}

    std::optional<std::pair<std::uint64_t, any_state>> get(const std::string& stream) {
        std::lock_guard lock(mutex_);
        auto it = index_.find(stream);
        if (it == index_.end()) return std::nullopt;
        order_.splice(order_.begin(), order_, it->second);
        return std::make_pair(it->second->version, it->second->state);
    }
    void erase(const std::string& stream) {
        std::lock_guard lock(mutex_);
        if (auto it = index_.find(stream); it != index_.end()) {
            order_.erase(it->second);
            index_.erase(it);
        }
    }

    void put(const std::string& stream, std::uint64_t version, any_state state) {
        if (capacity_ == 0) return;
        std::lock_guard lock(mutex_);
        if (auto it = index_.find(stream); it != index_.end()) {
            if (it->second->version > version) return;  // someone already stored a newer one
            it->second->version = version;
            it->second->state = std::move(state);
            order_.splice(order_.begin(), order_, it->second);
            return;
        }
        order_.push_front(entry{stream, version, std::move(state)});
        index_.emplace(stream, order_.begin());
        if (index_.size() > capacity_) {
            index_.erase(order_.back().stream);
            order_.pop_back();
        }
    }
    void forget(const std::string& stream) {
        std::lock_guard lock(mutex_);
        if (auto it = index_.find(stream); it != index_.end()) {
            order_.erase(it->second);
            index_.erase(it);
        }
    }

private:
    struct entry {
        std::string stream;
        std::uint64_t version;
        any_state state;
    };
    std::size_t capacity_;
    std::mutex mutex_;
    std::list<entry> order_;
    std::unordered_map<std::string, std::list<entry>::iterator> index_;
};

std::int64_t system_clock_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct handler::impl {
    storage::event_log& log;
    handler_options options;
    state_cache cache;
    // Commands on one aggregate take turns in this process (one stripe per stream hash): racing
    // them optimistically only makes all but one of them reload and retry, and on a hot stream a
    // retrier can lose again and again. Conflicts then come only from other writers.
    std::array<std::mutex, 1024> stripes;

    impl(storage::event_log& l, handler_options o) : log(l), options(std::move(o)), cache(options.cache_entries) {}

    std::int64_t now() const { return options.clock ? options.clock() : system_clock_us(); }

    template <domain::aggregate A>
    result<std::pair<std::uint64_t, typename A::state>> load(const std::string& stream, bool use_cache) {
        using state = typename A::state;
        if (use_cache) {
            if (auto hit = cache.get(stream); hit && std::holds_alternative<state>(hit->second))
                return std::make_pair(hit->first, std::get<state>(hit->second));
        }
        std::uint64_t version = 0;
        state s{};
        auto snap = log.get_snapshot(stream);
        if (!snap) return tl::unexpected(from_storage(snap.error()));
        if (*snap) {
            // A snapshot that does not decode (an older state shape) only costs a full replay.
            if (auto decoded = codec::decode_state<A>((*snap)->state)) {
                version = (*snap)->version;
                s = *decoded;
            }
        }
        constexpr std::size_t page = 1000;
        for (;;) {
            auto events = log.read_stream(stream, version + 1, page);
            if (!events) return tl::unexpected(from_storage(events.error()));
            for (const auto& e : *events) {
                auto decoded = codec::decode<A>(e.type, e.schema_version, e.data);
                if (!decoded)
                    return tl::unexpected(fail(failure::kind::unavailable, "corrupt",
                                               "event " + std::to_string(e.position) + ": " + decoded.error().message));
                s = A::evolve(std::move(s), *decoded);
                version = e.version;
            }
            if (events->size() < page) break;
        }
        cache.put(stream, version, any_state{s});
        return std::make_pair(version, std::move(s));
    }

    static std::string fingerprint(const envelope& env) {
        std::string f(codec::command_type(env.command));
        f += '|';
        f += boost::json::serialize(codec::command_data(env.command));
        f += '|';
        f += env.actor.label();
        f += '|';
        if (env.expected_version) f += std::to_string(*env.expected_version);
        return f;
    }

    result<outcome> replay(const storage::append_result& first) {
        outcome out;
        out.duplicate = true;
        if (!first.streams.empty()) {
            out.stream = first.streams.front().stream;
            out.version = first.streams.front().version;
        }
        auto events = log.read_all(first.first_position, first.event_count);
        if (!events) return tl::unexpected(from_storage(events.error()));
        for (const auto& e : *events) {
            out.positions.push_back(e.position);
            out.events.push_back(e.type);
        }
        return out;
    }

    result<outcome> handle(const envelope& env) {
        const auto print = fingerprint(env);
        auto seen = log.find_command(env.command_id, print);
        if (!seen) return tl::unexpected(from_storage(seen.error()));
        if (*seen) return replay(**seen);
        return std::visit(
            [&](const auto& group) {
                using A = decltype(aggregate_for(group));
                return handle_as<A>(env, group, print);
            },
            env.command);
    }

    // What a command needs from other aggregates, and the version guards that keep those facts
    // true until the append commits.
    // A unique reference taken in the same append (no_stream: fails if another order has it).
    struct reservation {
        storage::stream_write write;
        failure taken;  // what the caller hears when it is already taken
    };
    struct related {
        std::vector<storage::stream_write> writes;
        std::optional<reservation> reserve;
        std::vector<std::string> touched;  // other aggregates' streams this append writes events to
    };

    // The dealer's facts for the decision, and a guard that they still hold at the append.
    result<void> know_dealer(const std::string& dealer_id, context& ctx, related& out, bool use_cache) {
        const auto dealer_stream = stream_name(dealer_aggregate::category, dealer_id);
        auto dealer = load<dealer_aggregate>(dealer_stream, use_cache);
        if (!dealer) return tl::unexpected(dealer.error());
        ctx.dealer = dealer_facts{dealer->second.registered, dealer->second.currency, dealer->second.payment_terms_days};
        out.writes.push_back({dealer_stream, storage::expected_version::exact(dealer->first), {}});
        return {};
    }

    result<related> gather(const order_command& cmd, context& ctx, bool use_cache) {
        related out;
        if (const auto* place = std::get_if<place_order>(&cmd)) {
            if (auto known = know_dealer(place->dealer_id, ctx, out, use_cache); !known) return tl::unexpected(known.error());
            if (place->external_ref) {
                boost::json::object data;
                data["order_id"] = place->order_id;
                data["dealer_id"] = place->dealer_id;
                data["external_ref"] = *place->external_ref;
                out.reserve = reservation{
                    {stream_name("extref", place->dealer_id + "/" + *place->external_ref), storage::expected_version::no_stream(),
                     {{"ExternalRefReserved", 1, boost::json::serialize(data), "{}"}}},
                    fail(failure::kind::rejected, std::string(codes::duplicate_external_ref),
                         "dealer " + place->dealer_id + " already has an order with external_ref " + *place->external_ref)};
            }
        }
        return out;
    }
    result<related> gather(const claim_command& cmd, context& ctx, bool use_cache) {
        related out;
        if (const auto* file = std::get_if<file_claim>(&cmd)) {
            const auto order_stream = stream_name(order_aggregate::category, file->order_id);
            auto order = load<order_aggregate>(order_stream, use_cache);
            if (!order) return tl::unexpected(order.error());
            const auto& s = order->second;
            ctx.order = order_facts{s.status != order_status::none, s.dealer_id, std::string(to_string(s.status))};
            out.writes.push_back({order_stream, storage::expected_version::exact(order->first), {}});
        }
        return out;
    }
    result<related> gather(const dealer_command&, context&, bool) { return related{}; }
    result<related> gather(const stock_command&, context&, bool) { return related{}; }
    result<related> gather(const invoice_command& cmd, context& ctx, bool use_cache) {
        related out;
        if (const auto* issue = std::get_if<issue_invoice>(&cmd))
            if (auto known = know_dealer(issue->dealer_id, ctx, out, use_cache); !known) return tl::unexpected(known.error());
        return out;
    }
    result<related> gather(const subscription_command& cmd, context& ctx, bool use_cache) {
        related out;
        if (const auto* start = std::get_if<start_subscription>(&cmd))
            if (auto known = know_dealer(start->dealer_id, ctx, out, use_cache); !known) return tl::unexpected(known.error());
        return out;
    }
    result<related> gather(const credit_note_command& cmd, context& ctx, bool use_cache) {
        related out;
        const auto& issue = std::get<issue_credit_note>(cmd);
        if (auto known = know_dealer(issue.dealer_id, ctx, out, use_cache); !known) return tl::unexpected(known.error());
        return out;
    }
    result<related> gather(const payment_command& cmd, context& ctx, bool use_cache) {
        related out;
        if (const auto* record = std::get_if<record_payment>(&cmd)) {
            if (auto known = know_dealer(record->dealer_id, ctx, out, use_cache); !known) return tl::unexpected(known.error());
            // One payment per bank reference and dealer: an import run twice records nothing twice.
            boost::json::object data;
            data["payment_id"] = record->payment_id;
            data["dealer_id"] = record->dealer_id;
            data["external_ref"] = record->external_ref;
            out.reserve = reservation{
                {stream_name("payref", record->dealer_id + "/" + record->external_ref), storage::expected_version::no_stream(),
                 {{"PaymentRefReserved", 1, boost::json::serialize(data), "{}"}}},
                fail(failure::kind::rejected, std::string(codes::duplicate_external_ref),
                     "dealer " + record->dealer_id + " already has a payment with external_ref " + record->external_ref)};
        } else if (const auto* allocate = std::get_if<allocate_payment>(&cmd)) {
            // The invoice's facts, and its stream guarded: InvoicePaymentApplied goes into it.
            const auto invoice_stream = stream_name(invoice_aggregate::category, allocate->invoice_id);
            auto invoice = load<invoice_aggregate>(invoice_stream, use_cache);
            if (!invoice) return tl::unexpected(invoice.error());
            const auto& s = invoice->second;
            ctx.invoice = invoice_facts{s.status != invoice_status::none, s.status == invoice_status::voided, s.dealer_id, s.currency,
                                        s.open_amount()};
            out.writes.push_back({invoice_stream, storage::expected_version::exact(invoice->first), {}});
        }
        return out;
    }

    // What a decision does to other aggregates, appended in the same batch: a payment's events
    // move its invoices. Other aggregates' decisions touch only their own stream.
    template <class Event>
    void effects(const std::vector<Event>&, related&) {}
    void effects(const std::vector<payment_event>& decided, related& rel) {
        for (const auto& e : decided)
            for (auto& [invoice_id, effect] : invoice_effects(e)) {
                const auto stream = stream_name(invoice_aggregate::category, invoice_id);
                auto stored = codec::encode(effect);
                storage::event_data data{std::move(stored.type), stored.schema_version, std::move(stored.data), "{}"};
                auto it = std::find_if(rel.writes.begin(), rel.writes.end(), [&](const auto& w) { return w.stream == stream; });
                // A reversal reaches invoices the decision did not load: it only lowers what is
                // paid, so it needs no guard.
                if (it == rel.writes.end()) rel.writes.push_back({stream, storage::expected_version::any(), {std::move(data)}});
                else it->events.push_back(std::move(data));
                rel.touched.push_back(stream);
            }
    }

    template <domain::aggregate A>
    result<outcome> handle_as(const envelope& env, const typename A::command& cmd, const std::string& print) {
        const auto stream = stream_name(A::category, A::stream_id(cmd));
        std::lock_guard turn(stripes[std::hash<std::string>{}(stream) % stripes.size()]);
        for (int attempt = 0; attempt <= options.max_retries; ++attempt) {
            const bool use_cache = attempt == 0;
            const auto head_at_load = log.head_position();
            auto current = load<A>(stream, use_cache);
            if (!current) return tl::unexpected(current.error());
            auto& [version, state] = *current;
            if (env.expected_version && *env.expected_version != version)
                return tl::unexpected(fail(failure::kind::conflict, "conflict",
                                           stream + " is at version " + std::to_string(version) + ", not " +
                                               std::to_string(*env.expected_version)));

            context ctx{env.actor, now(), std::nullopt, std::nullopt, std::nullopt};
            auto rel = gather(cmd, ctx, use_cache);
            if (!rel) return tl::unexpected(rel.error());
            auto decision = A::decide(cmd, state, ctx);
            if (!decision) return tl::unexpected(from_rejection(decision.error()));
            if (decision->empty()) return outcome{stream, version, {}, {}, false};

            if (rel->reserve) {
                auto taken = log.stream_version(rel->reserve->write.stream);
                if (!taken) return tl::unexpected(from_storage(taken.error()));
                if (*taken > 0) return tl::unexpected(rel->reserve->taken);
            }

            effects(*decision, *rel);
            storage::append_request request;
            request.command_id = env.command_id;
            request.actor = env.actor.label();
            request.correlation_id = env.correlation_id.empty() ? env.command_id : env.correlation_id;
            request.fingerprint = print;
            std::vector<std::string> types;
            storage::stream_write own{stream, storage::expected_version::exact(version), {}};
            for (const auto& e : *decision) {
                auto stored = codec::encode(e);
                types.push_back(stored.type);
                own.events.push_back({std::move(stored.type), stored.schema_version, std::move(stored.data), "{}"});
            }
            request.writes.push_back(std::move(own));
            for (auto& w : rel->writes) {
                for (const auto& e : w.events) types.push_back(e.type);
                request.writes.push_back(std::move(w));
            }
            if (rel->reserve) {
                request.writes.push_back(rel->reserve->write);
                types.push_back(rel->reserve->write.events.front().type);
            }

            auto appended = log.append(std::move(request));
            if (appended) {
                if (appended->duplicate) return replay(*appended);  // the same command raced us
                auto next = state;
                for (const auto& e : *decision) next = A::evolve(std::move(next), e);
                const auto new_version = appended->streams.front().version;
                cache.put(stream, new_version, any_state{next});
                for (const auto& other : rel->touched) cache.erase(other);  // their cached state is behind now
                maybe_snapshot<A>(stream, version, new_version, next);
                outcome out{stream, new_version, {}, {}, false};
                for (std::uint32_t i = 0; i < appended->event_count; ++i) out.positions.push_back(appended->first_position + i);
                out.events = std::move(types);
                return out;
            }
            if (appended.error().code != storage::error::kind::conflict) return tl::unexpected(from_storage(appended.error()));
            if (rel->reserve) {
                auto taken = log.stream_version(rel->reserve->write.stream);
                if (taken && *taken > 0) return tl::unexpected(rel->reserve->taken);
            }
            if (env.expected_version) return tl::unexpected(from_storage(appended.error()));
            // Someone else moved one of the streams: load again and decide again, once the log has
            // published past what we loaded (until then a reload would see the same old state).
            (void)log.wait_for(head_at_load, std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
        }
        return tl::unexpected(fail(failure::kind::conflict, "conflict",
                                   stream + " kept changing; gave up after " + std::to_string(options.max_retries) + " retries"));
    }

    template <domain::aggregate A>
    void maybe_snapshot(const std::string& stream, std::uint64_t before, std::uint64_t after, const typename A::state& s) {
        const auto every = options.snapshot_every;
        if (every == 0 || before / every == after / every) return;
        // A lost snapshot only costs a longer replay next time.
        (void)log.put_snapshot(stream, {after, codec::encode_state<A>(s)});
    }
};

handler::handler(storage::event_log& log, handler_options options)
    : impl_(std::make_unique<impl>(log, std::move(options))) {}
handler::~handler() = default;

result<outcome> handler::handle(const envelope& env) { return impl_->handle(env); }

template <domain::aggregate A>
result<std::pair<std::uint64_t, typename A::state>> handler::load(const std::string& stream, bool use_cache) {
    return impl_->load<A>(stream, use_cache);
}

template result<std::pair<std::uint64_t, dealer_state>> handler::load<dealer_aggregate>(const std::string&, bool);
template result<std::pair<std::uint64_t, order_state>> handler::load<order_aggregate>(const std::string&, bool);
template result<std::pair<std::uint64_t, claim_state>> handler::load<claim_aggregate>(const std::string&, bool);
template result<std::pair<std::uint64_t, stock_state>> handler::load<stock_aggregate>(const std::string&, bool);
template result<std::pair<std::uint64_t, invoice_state>> handler::load<invoice_aggregate>(const std::string&, bool);
template result<std::pair<std::uint64_t, payment_state>> handler::load<payment_aggregate>(const std::string&, bool);
template result<std::pair<std::uint64_t, credit_note_state>> handler::load<credit_note_aggregate>(const std::string&, bool);
template result<std::pair<std::uint64_t, subscription_state>> handler::load<subscription_aggregate>(const std::string&, bool);

}  // namespace dealerline::commands
