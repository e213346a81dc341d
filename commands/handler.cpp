#include "commands/handler.hpp"

#include <array>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <list>
#include <mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <variant>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "domain/codec.hpp"
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

using any_state = all_aggregates::any_state;

failure fail(failure::kind k, std::string code, std::string message) { return failure{k, std::move(code), std::move(message)}; }

// A reservation's event as the log stores it (its name and schema version from the codec).
storage::event_data stored(const reservation_event& r) {
    auto e = codec::encode(r);
    return {std::move(e.type), e.schema_version, std::move(e.data), "{}"};
}

failure from_storage(const storage::error& e) {
    switch (e.code) {
        case storage::error::kind::command_mismatch: return fail(failure::kind::conflict, "command_id_reused", e.message);
        case storage::error::kind::conflict: return fail(failure::kind::conflict, "conflict", e.message);
        case storage::error::kind::bad_request: return fail(failure::kind::rejected, "validation_failed", e.message);
        case storage::error::kind::no_space: return fail(failure::kind::unavailable, "disk_space_low", e.message);
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

// Commands on one aggregate take turns in this process (one lane per stream hash): racing them
// optimistically only makes all but one of them reload and retry, and on a hot stream a retrier
// can lose again and again. A turn lasts until the command's append is answered; no thread
// waits meanwhile — the next command of the lane is queued and started when the turn ends.
class turn_lanes {
public:
    using work = std::function<void()>;
    static constexpr std::size_t count = 1024;

    // Runs `w` now, on this thread, if the lane is free; otherwise it waits for its turn.
    void take(std::size_t key, work w) {
        auto& l = lanes_[key % count];
        {
            std::lock_guard lock(l.m);
            if (l.busy) return l.waiting.push_back(std::move(w));
            l.busy = true;
        }
        w();
    }
    // Ends the lane's turn: the next command's work, if one waits (its turn has begun).
    [[nodiscard]] work end(std::size_t key) {
        auto& l = lanes_[key % count];
        std::lock_guard lock(l.m);
        if (l.waiting.empty()) {
            l.busy = false;
            return {};
        }
        auto next = std::move(l.waiting.front());
        l.waiting.pop_front();
        return next;
    }

private:
    struct one_lane {
        std::mutex m;
        bool busy = false;
        std::deque<work> waiting;
    };
    std::array<one_lane, count> lanes_;
};

// A couple of threads for what must not run on a caller's or the log's thread: the next command
// of a busy lane, and a retry that first waits for the log to publish.
class workers {
public:
    explicit workers(std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] { run(); });
    }
    ~workers() {
        {
            std::lock_guard lock(m_);
            stopping_ = true;
        }
        cv_.notify_all();
        for (auto& t : threads_) t.join();
    }
    void post(std::function<void()> w) {
        {
            std::lock_guard lock(m_);
            queue_.push_back(std::move(w));
        }
        cv_.notify_one();
    }

private:
    void run() {
        for (;;) {
            std::function<void()> w;
            {
                std::unique_lock lock(m_);
                cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
                if (queue_.empty()) return;
                w = std::move(queue_.front());
                queue_.pop_front();
            }
            w();
        }
    }
    std::mutex m_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> queue_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

}  // namespace

struct handler::impl {
    storage::event_log& log;
    handler_options options;
    state_cache cache;
    turn_lanes lanes;  // conflicts then come only from other writers
    workers helpers{2};

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

    void handle(envelope env, completion done) {
        auto print = fingerprint(env);
        auto seen = log.find_command(env.command_id, print);
        if (!seen) return done(tl::unexpected(from_storage(seen.error())));
        if (*seen) return done(replay(**seen));
        auto command = std::move(env.command);  // the job keeps it typed; the rest of env goes along
        std::visit(
            [&](auto& group) {
                using A = decltype(aggregate_for(group));
                begin<A>(std::make_shared<job<A>>(std::move(env), std::move(group), std::move(print), std::move(done)));
            },
            command);
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
                out.reserve = reservation{
                    {stream_name("extref", place->dealer_id + "/" + *place->external_ref), storage::expected_version::no_stream(),
                     {stored(external_ref_reserved{place->order_id, place->dealer_id, *place->external_ref})}},
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
        const std::string& dealer_id = std::visit(overloaded{[](const issue_credit_note& issue) -> const std::string& { return issue.dealer_id; }}, cmd);
        if (auto known = know_dealer(dealer_id, ctx, out, use_cache); !known) return tl::unexpected(known.error());
        return out;
    }
    result<related> gather(const payment_command& cmd, context& ctx, bool use_cache) {
        related out;
        if (const auto* record = std::get_if<record_payment>(&cmd)) {
            if (auto known = know_dealer(record->dealer_id, ctx, out, use_cache); !known) return tl::unexpected(known.error());
            // One payment per bank reference and dealer: an import run twice records nothing twice.
            out.reserve = reservation{
                {stream_name("payref", record->dealer_id + "/" + record->external_ref), storage::expected_version::no_stream(),
                 {stored(payment_ref_reserved{record->payment_id, record->dealer_id, record->external_ref})}},
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

    // One command on its way: the command, and what its current attempt decided.
    template <domain::aggregate A>
    struct job {
        job(envelope e, typename A::command c, std::string p, completion d)
            : env(std::move(e)), cmd(std::move(c)), print(std::move(p)), done(std::move(d)) {}
        envelope env;
        typename A::command cmd;
        std::string print;
        completion done;
        std::string stream;
        std::size_t lane = 0;
        int attempts = 0;
        // The current attempt: the state it decided on, the decision, the append it sent.
        std::uint64_t head_at_load = 0, version = 0;
        typename A::state state{};
        std::vector<typename A::event> decision;
        std::vector<std::string> touched, types;
        std::optional<reservation> reserve;
        storage::append_request request;
    };

    template <domain::aggregate A>
    void begin(std::shared_ptr<job<A>> j) {
        j->stream = stream_name(A::category, A::stream_id(j->cmd));
        j->lane = std::hash<std::string>{}(j->stream);
        lanes.take(j->lane, [this, j] { run(j); });
    }

    // One attempt: load, decide, append; answered here when there is nothing to append.
    template <domain::aggregate A>
    void run(const std::shared_ptr<job<A>>& j) {
        if (auto answer = attempt<A>(*j)) return complete(j, std::move(*answer));
        log.append(std::move(j->request), [this, j](storage::result<storage::append_result> appended) {
            if (auto answer = finish<A>(*j, std::move(appended))) return complete(j, std::move(*answer));
            // Someone else moved one of the streams: load again and decide again, once the log has
            // published past what we loaded (until then a reload would see the same old state).
            helpers.post([this, j] {
                (void)log.wait_for(j->head_at_load, std::chrono::steady_clock::now() + std::chrono::milliseconds(100));
                run(j);
            });
        });
    }

    template <domain::aggregate A>
    void complete(const std::shared_ptr<job<A>>& j, result<outcome> answer) {
        // The lane's next command starts off this thread (it may be the log's).
        if (auto next = lanes.end(j->lane)) helpers.post(std::move(next));
        j->done(std::move(answer));
    }

    // Loads and decides; fills the job's append, or returns the answer when there is none.
    template <domain::aggregate A>
    std::optional<result<outcome>> attempt(job<A>& j) {
        const auto& env = j.env;
        const auto& stream = j.stream;
        if (j.attempts > options.max_retries)
            return tl::unexpected(fail(failure::kind::conflict, "conflict",
                                       stream + " kept changing; gave up after " + std::to_string(options.max_retries) + " retries"));
        const bool use_cache = j.attempts++ == 0;
        j.head_at_load = log.head_position();
        auto current = load<A>(stream, use_cache);
        if (!current) return tl::unexpected(current.error());
        auto& [version, state] = *current;
        if (env.expected_version && *env.expected_version != version)
            return tl::unexpected(fail(failure::kind::conflict, "conflict",
                                       stream + " is at version " + std::to_string(version) + ", not " +
                                           std::to_string(*env.expected_version)));

        context ctx{env.actor, now(), std::nullopt, std::nullopt, std::nullopt};
        auto rel = gather(j.cmd, ctx, use_cache);
        if (!rel) return tl::unexpected(rel.error());
        auto decision = A::decide(j.cmd, state, ctx);
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
        request.fingerprint = j.print;
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
        j.version = version;
        j.state = std::move(state);
        j.decision = std::move(*decision);
        j.touched = std::move(rel->touched);
        j.types = std::move(types);
        j.reserve = std::move(rel->reserve);
        j.request = std::move(request);
        return std::nullopt;
    }

    // The append's answer: the command's answer, or nothing when it should be tried again.
    template <domain::aggregate A>
    std::optional<result<outcome>> finish(job<A>& j, storage::result<storage::append_result> appended) {
        if (appended) {
            if (appended->duplicate) return replay(*appended);  // the same command raced us
            auto next = j.state;
            for (const auto& e : j.decision) next = A::evolve(std::move(next), e);
            const auto new_version = appended->streams.front().version;
            cache.put(j.stream, new_version, any_state{next});
            for (const auto& other : j.touched) cache.erase(other);  // their cached state is behind now
            maybe_snapshot<A>(j.stream, j.version, new_version, next);
            outcome out{j.stream, new_version, {}, {}, false};
            for (std::uint32_t i = 0; i < appended->event_count; ++i) out.positions.push_back(appended->first_position + i);
            out.events = std::move(j.types);
            return out;
        }
        if (appended.error().code != storage::error::kind::conflict) return tl::unexpected(from_storage(appended.error()));
        if (j.reserve) {
            auto taken = log.stream_version(j.reserve->write.stream);
            if (taken && *taken > 0) return tl::unexpected(j.reserve->taken);
        }
        if (j.env.expected_version) return tl::unexpected(from_storage(appended.error()));
        return std::nullopt;
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

result<outcome> handler::handle(const envelope& env) {
    auto promise = std::make_shared<std::promise<result<outcome>>>();
    auto answer = promise->get_future();
    impl_->handle(env, [promise](result<outcome> r) { promise->set_value(std::move(r)); });
    return answer.get();
}

void handler::handle_async(envelope env, completion done) { impl_->handle(std::move(env), std::move(done)); }

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
