#include "domain/codec.hpp"

#include <array>
#include <functional>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>
#include <boost/describe/enum_from_string.hpp>
#include <boost/describe/enum_to_string.hpp>
#include <boost/describe/members.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/mp11/algorithm.hpp>

// Descriptions live here, not beside the structs, so that the deciders compile without Boost.
namespace dealerline::domain {
BOOST_DESCRIBE_STRUCT(order_line, (), (sku, description, quantity, unit_price))

BOOST_DESCRIBE_STRUCT(register_dealer, (), (dealer_id, name, currency, payment_terms_days, credit_limit))
BOOST_DESCRIBE_STRUCT(update_dealer_terms, (), (dealer_id, payment_terms_days, credit_limit))
BOOST_DESCRIBE_STRUCT(set_opening_balance, (), (dealer_id, amount))
BOOST_DESCRIBE_STRUCT(dealer_registered, (), (dealer_id, name, currency, payment_terms_days, credit_limit))
BOOST_DESCRIBE_STRUCT(dealer_terms_updated, (), (dealer_id, payment_terms_days, credit_limit))
BOOST_DESCRIBE_STRUCT(opening_balance_set, (), (dealer_id, amount, currency))

BOOST_DESCRIBE_STRUCT(place_order, (), (order_id, dealer_id, currency, lines, delivery_address, external_ref))
BOOST_DESCRIBE_STRUCT(accept_order, (), (order_id, planned_production_date))
BOOST_DESCRIBE_STRUCT(reject_order, (), (order_id, reason))
BOOST_DESCRIBE_STRUCT(start_production, (), (order_id))
BOOST_DESCRIBE_STRUCT(record_production_progress, (), (order_id, completed_units))
BOOST_DESCRIBE_STRUCT(complete_production, (), (order_id))
BOOST_DESCRIBE_STRUCT(ship_order, (), (order_id, carrier, route, vehicle, driver_name, driver_phone, planned_delivery_date))
BOOST_DESCRIBE_STRUCT(confirm_delivery, (), (order_id, received_by))
BOOST_DESCRIBE_STRUCT(cancel_order, (), (order_id, reason))
BOOST_DESCRIBE_STRUCT(flag_stock_shortage, (), (order_id, sku, quantity, available))
BOOST_DESCRIBE_STRUCT(order_stock_shortage_flagged, (), (order_id, sku, quantity, available))
BOOST_DESCRIBE_STRUCT(order_placed, (), (order_id, dealer_id, currency, lines, delivery_address, external_ref, total, total_units))
BOOST_DESCRIBE_STRUCT(order_accepted, (), (order_id, planned_production_date))
BOOST_DESCRIBE_STRUCT(order_rejected, (), (order_id, reason))
BOOST_DESCRIBE_STRUCT(production_started, (), (order_id))
BOOST_DESCRIBE_STRUCT(production_progressed, (), (order_id, completed_units, total_units))
BOOST_DESCRIBE_STRUCT(production_completed, (), (order_id))
BOOST_DESCRIBE_STRUCT(order_shipped, (), (order_id, carrier, route, vehicle, driver_name, driver_phone, planned_delivery_date))
BOOST_DESCRIBE_STRUCT(order_delivered, (), (order_id, received_by))
BOOST_DESCRIBE_STRUCT(order_cancelled, (), (order_id, reason, by_dealer))

BOOST_DESCRIBE_STRUCT(file_claim, (), (claim_id, order_id, kind, description))
BOOST_DESCRIBE_STRUCT(assign_claim, (), (claim_id, manager))
BOOST_DESCRIBE_STRUCT(comment_on_claim, (), (claim_id, text))
BOOST_DESCRIBE_STRUCT(resolve_claim, (), (claim_id, resolution, compensation, note))
BOOST_DESCRIBE_STRUCT(reopen_claim, (), (claim_id, reason))
BOOST_DESCRIBE_STRUCT(close_claim, (), (claim_id))
BOOST_DESCRIBE_STRUCT(claim_filed, (), (claim_id, order_id, dealer_id, kind, description))
BOOST_DESCRIBE_STRUCT(claim_assigned, (), (claim_id, manager))
BOOST_DESCRIBE_STRUCT(claim_commented, (), (claim_id, text, author))
BOOST_DESCRIBE_STRUCT(claim_resolved, (), (claim_id, resolution, compensation, note, resolved_at))
BOOST_DESCRIBE_STRUCT(claim_reopened, (), (claim_id, reason))
BOOST_DESCRIBE_STRUCT(claim_closed, (), (claim_id))

BOOST_DESCRIBE_STRUCT(receive_stock, (), (warehouse, sku, quantity, reference))
BOOST_DESCRIBE_STRUCT(reserve_stock, (), (warehouse, sku, order_id, quantity))
BOOST_DESCRIBE_STRUCT(release_stock, (), (warehouse, sku, order_id))
BOOST_DESCRIBE_STRUCT(issue_stock, (), (warehouse, sku, order_id))
BOOST_DESCRIBE_STRUCT(write_off_stock, (), (warehouse, sku, quantity, reason))
BOOST_DESCRIBE_STRUCT(count_stock, (), (warehouse, sku, counted))
BOOST_DESCRIBE_STRUCT(stock_received, (), (warehouse, sku, quantity, reference))
BOOST_DESCRIBE_STRUCT(stock_reserved, (), (warehouse, sku, order_id, quantity))
BOOST_DESCRIBE_STRUCT(stock_released, (), (warehouse, sku, order_id, quantity))
BOOST_DESCRIBE_STRUCT(stock_issued, (), (warehouse, sku, order_id, quantity))
BOOST_DESCRIBE_STRUCT(stock_written_off, (), (warehouse, sku, quantity, reason))
BOOST_DESCRIBE_STRUCT(stock_counted, (), (warehouse, sku, counted, difference))
BOOST_DESCRIBE_STRUCT(stock_reservation, (), (order_id, quantity))
BOOST_DESCRIBE_STRUCT(stock_state, (), (exists, on_hand, reserved, reservations))

BOOST_DESCRIBE_STRUCT(invoice_line, (), (description, quantity, unit_price))
BOOST_DESCRIBE_STRUCT(issue_invoice, (), (invoice_id, dealer_id, source, source_id, lines, due_date))
BOOST_DESCRIBE_STRUCT(void_invoice, (), (invoice_id, reason))
BOOST_DESCRIBE_STRUCT(mark_invoice_overdue, (), (invoice_id))
BOOST_DESCRIBE_STRUCT(invoice_issued, (), (invoice_id, dealer_id, currency, source, source_id, lines, total, issued_on, due_date))
BOOST_DESCRIBE_STRUCT(invoice_payment_applied, (), (invoice_id, payment_id, amount))
BOOST_DESCRIBE_STRUCT(invoice_payment_reversed, (), (invoice_id, payment_id, amount))
BOOST_DESCRIBE_STRUCT(invoice_voided, (), (invoice_id, reason))
BOOST_DESCRIBE_STRUCT(invoice_overdue, (), (invoice_id, due_date, open_amount))
BOOST_DESCRIBE_ENUM(invoice_status, none, open, paid, voided)
BOOST_DESCRIBE_STRUCT(invoice_state, (), (status, dealer_id, currency, due_date, total, paid, overdue))
BOOST_DESCRIBE_STRUCT(record_payment, (), (payment_id, dealer_id, amount, method, received_at, external_ref))
BOOST_DESCRIBE_STRUCT(allocate_payment, (), (payment_id, invoice_id, amount))
BOOST_DESCRIBE_STRUCT(reverse_payment, (), (payment_id, reason))
BOOST_DESCRIBE_STRUCT(payment_allocation, (), (invoice_id, amount))
BOOST_DESCRIBE_STRUCT(payment_recorded, (), (payment_id, dealer_id, currency, amount, method, received_at, external_ref))
BOOST_DESCRIBE_STRUCT(payment_allocated, (), (payment_id, invoice_id, amount))
BOOST_DESCRIBE_STRUCT(payment_reversed, (), (payment_id, reason, undone))
BOOST_DESCRIBE_STRUCT(payment_state, (), (exists, reversed, dealer_id, currency, amount, allocated, allocations))
BOOST_DESCRIBE_STRUCT(issue_credit_note, (), (credit_note_id, dealer_id, amount, reason, claim_id))
BOOST_DESCRIBE_STRUCT(credit_note_issued, (), (credit_note_id, dealer_id, currency, amount, reason, claim_id))
BOOST_DESCRIBE_STRUCT(external_ref_reserved, (), (order_id, dealer_id, external_ref))
BOOST_DESCRIBE_STRUCT(payment_ref_reserved, (), (payment_id, dealer_id, external_ref))
BOOST_DESCRIBE_STRUCT(credit_note_state, (), (exists, dealer_id, amount))

BOOST_DESCRIBE_STRUCT(start_subscription, (), (subscription_id, dealer_id, plan, price, period, starts_on))
BOOST_DESCRIBE_STRUCT(change_subscription_plan, (), (subscription_id, plan, price, effective_on))
BOOST_DESCRIBE_STRUCT(pause_subscription, (), (subscription_id))
BOOST_DESCRIBE_STRUCT(resume_subscription, (), (subscription_id))
BOOST_DESCRIBE_STRUCT(cancel_subscription, (), (subscription_id, effective_on))
BOOST_DESCRIBE_STRUCT(bill_subscription_period, (), (subscription_id, period_start))
BOOST_DESCRIBE_STRUCT(subscription_started, (), (subscription_id, dealer_id, currency, plan, price, period, starts_on))
BOOST_DESCRIBE_STRUCT(subscription_plan_changed, (), (subscription_id, plan, price, effective_on))
BOOST_DESCRIBE_STRUCT(subscription_paused, (), (subscription_id, on))
BOOST_DESCRIBE_STRUCT(subscription_resumed, (), (subscription_id, on))
BOOST_DESCRIBE_STRUCT(subscription_cancelled, (), (subscription_id, effective_on))
BOOST_DESCRIBE_STRUCT(billing_line, (), (description, amount))
BOOST_DESCRIBE_STRUCT(subscription_period_billed, (), (subscription_id, dealer_id, currency, period_start, period_end, amount, lines))
BOOST_DESCRIBE_STRUCT(subscription_period_skipped, (), (subscription_id, period_start, period_end, reason))
BOOST_DESCRIBE_ENUM(subscription_status, none, active, paused, cancelled)
BOOST_DESCRIBE_STRUCT(plan_segment, (), (effective_on, plan, price))
BOOST_DESCRIBE_STRUCT(subscription_state, (), (status, dealer_id, currency, period, starts_on, cancel_on, next_billing, last_start, last_end,
                                               last_price, plans))

BOOST_DESCRIBE_ENUM(order_status, none, placed, accepted, rejected, in_production, produced, shipped, delivered, cancelled)
BOOST_DESCRIBE_ENUM(claim_status, none, open, in_review, resolved, reopened, closed)
BOOST_DESCRIBE_STRUCT(dealer_state, (), (registered, currency, payment_terms_days, credit_limit, opening_balance_set))
BOOST_DESCRIBE_STRUCT(order_state, (), (status, dealer_id, total_units, completed_units))
BOOST_DESCRIBE_STRUCT(claim_state, (), (status, dealer_id, order_id, resolved_at_us))
}  // namespace dealerline::domain

namespace dealerline::domain::codec {
namespace {

namespace json = boost::json;

// The wire names. Stored event names and versions are a contract with every log ever written:
// never derive them from C++ identifiers, never reuse one for another meaning.
template <class T>
struct wire;
#define DL_WIRE(type, stored_name, schema) \
    template <>                            \
    struct wire<type> {                    \
        static constexpr std::string_view name = stored_name; \
        static constexpr std::uint32_t version = schema;      \
    };
DL_WIRE(register_dealer, "RegisterDealer", 1)
DL_WIRE(update_dealer_terms, "UpdateDealerTerms", 1)
DL_WIRE(set_opening_balance, "SetOpeningBalance", 1)
DL_WIRE(place_order, "PlaceOrder", 1)
DL_WIRE(accept_order, "AcceptOrder", 1)
DL_WIRE(reject_order, "RejectOrder", 1)
DL_WIRE(start_production, "StartProduction", 1)
DL_WIRE(record_production_progress, "RecordProductionProgress", 1)
DL_WIRE(complete_production, "CompleteProduction", 1)
DL_WIRE(ship_order, "ShipOrder", 1)
DL_WIRE(confirm_delivery, "ConfirmDelivery", 1)
DL_WIRE(cancel_order, "CancelOrder", 1)
DL_WIRE(flag_stock_shortage, "FlagStockShortage", 1)
DL_WIRE(file_claim, "FileClaim", 1)
DL_WIRE(assign_claim, "AssignClaim", 1)
DL_WIRE(comment_on_claim, "CommentOnClaim", 1)
DL_WIRE(resolve_claim, "ResolveClaim", 1)
DL_WIRE(reopen_claim, "ReopenClaim", 1)
DL_WIRE(close_claim, "CloseClaim", 1)

DL_WIRE(dealer_registered, "DealerRegistered", 1)
DL_WIRE(dealer_terms_updated, "DealerTermsUpdated", 1)
DL_WIRE(opening_balance_set, "OpeningBalanceSet", 1)
DL_WIRE(order_placed, "OrderPlaced", 1)
DL_WIRE(order_accepted, "OrderAccepted", 1)
DL_WIRE(order_rejected, "OrderRejected", 1)
DL_WIRE(production_started, "ProductionStarted", 1)
DL_WIRE(production_progressed, "ProductionProgressed", 1)
DL_WIRE(production_completed, "ProductionCompleted", 1)
DL_WIRE(order_shipped, "OrderShipped", 1)
DL_WIRE(order_delivered, "OrderDelivered", 1)
DL_WIRE(order_cancelled, "OrderCancelled", 2)  // v2 added by_dealer
DL_WIRE(order_stock_shortage_flagged, "OrderStockShortageFlagged", 1)
DL_WIRE(claim_filed, "ClaimFiled", 1)
DL_WIRE(claim_assigned, "ClaimAssigned", 1)
DL_WIRE(claim_commented, "ClaimCommented", 1)
DL_WIRE(claim_resolved, "ClaimResolved", 1)
DL_WIRE(claim_reopened, "ClaimReopened", 1)
DL_WIRE(claim_closed, "ClaimClosed", 1)
DL_WIRE(receive_stock, "ReceiveStock", 1)
DL_WIRE(reserve_stock, "ReserveStock", 1)
DL_WIRE(release_stock, "ReleaseStock", 1)
DL_WIRE(issue_stock, "IssueStock", 1)
DL_WIRE(write_off_stock, "WriteOffStock", 1)
DL_WIRE(count_stock, "CountStock", 1)
DL_WIRE(stock_received, "StockReceived", 1)
DL_WIRE(stock_reserved, "StockReserved", 1)
DL_WIRE(stock_released, "StockReleased", 1)
DL_WIRE(stock_issued, "StockIssued", 1)
DL_WIRE(stock_written_off, "StockWrittenOff", 1)
DL_WIRE(stock_counted, "StockCounted", 1)
DL_WIRE(issue_invoice, "IssueInvoice", 1)
DL_WIRE(void_invoice, "VoidInvoice", 1)
DL_WIRE(mark_invoice_overdue, "MarkInvoiceOverdue", 1)
DL_WIRE(invoice_issued, "InvoiceIssued", 1)
DL_WIRE(invoice_payment_applied, "InvoicePaymentApplied", 1)
DL_WIRE(invoice_payment_reversed, "InvoicePaymentReversed", 1)
DL_WIRE(invoice_voided, "InvoiceVoided", 1)
DL_WIRE(invoice_overdue, "InvoiceOverdue", 1)
DL_WIRE(record_payment, "RecordPayment", 1)
DL_WIRE(allocate_payment, "AllocatePayment", 1)
DL_WIRE(reverse_payment, "ReversePayment", 1)
DL_WIRE(payment_recorded, "PaymentRecorded", 1)
DL_WIRE(payment_allocated, "PaymentAllocated", 1)
DL_WIRE(payment_reversed, "PaymentReversed", 1)
DL_WIRE(issue_credit_note, "IssueCreditNote", 1)
DL_WIRE(credit_note_issued, "CreditNoteIssued", 1)
DL_WIRE(external_ref_reserved, "ExternalRefReserved", 1)
DL_WIRE(payment_ref_reserved, "PaymentRefReserved", 1)
DL_WIRE(start_subscription, "StartSubscription", 1)
DL_WIRE(change_subscription_plan, "ChangeSubscriptionPlan", 1)
DL_WIRE(pause_subscription, "PauseSubscription", 1)
DL_WIRE(resume_subscription, "ResumeSubscription", 1)
DL_WIRE(cancel_subscription, "CancelSubscription", 1)
DL_WIRE(bill_subscription_period, "BillSubscriptionPeriod", 1)
DL_WIRE(subscription_started, "SubscriptionStarted", 1)
DL_WIRE(subscription_plan_changed, "SubscriptionPlanChanged", 1)
DL_WIRE(subscription_paused, "SubscriptionPaused", 1)
DL_WIRE(subscription_resumed, "SubscriptionResumed", 1)
DL_WIRE(subscription_cancelled, "SubscriptionCancelled", 1)
DL_WIRE(subscription_period_billed, "SubscriptionPeriodBilled", 1)
DL_WIRE(subscription_period_skipped, "SubscriptionPeriodSkipped", 1)
#undef DL_WIRE

// Upcasters: each turns a stored event of (type, version) into the same event at version + 1.
struct upcaster {
    std::string_view type;
    std::uint32_t from;
    void (*apply)(json::object&);
};
const std::array<upcaster, 1> upcasters{{
    // OrderCancelled v1 did not say who cancelled; v1 logs were written when only staff could.
    {"OrderCancelled", 1, [](json::object& o) { o.emplace("by_dealer", false); }},
}};

// Fields that can be derived from the rest of the event, filled in when an early build did not
// store them (same schema version: the event meant the same thing). OrderPlaced's total and
// total_units came in after the first logs were written; they are sums over its lines.
void fill_derived(std::string_view type, json::object& o) {
    if (type != "OrderPlaced" || (o.contains("total") && o.contains("total_units"))) return;
    const auto* lines = o.if_contains("lines");
    if (!lines || !lines->is_array()) return;  // decoding will say what is wrong
    std::int64_t total = 0, units = 0;
    for (const auto& line : lines->get_array()) {
        const auto* l = line.if_object();
        const auto* q = l ? l->if_contains("quantity") : nullptr;
        const auto* p = l ? l->if_contains("unit_price") : nullptr;
        if (!q || !p || !q->is_int64() || !p->is_int64()) return;
        total += q->get_int64() * p->get_int64();
        units += q->get_int64();
    }
    o.emplace("total", total);
    o.emplace("total_units", units);
}

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// How many members an aggregate struct has: the most initializers `T{…}` accepts (each one
// converts to whatever the member is).
struct any_member {
    template <class M>
    operator M() const;  // never called: only asked whether the conversion exists
};
template <class T, class... Given>
consteval std::size_t member_count() {
    if constexpr (requires { T{Given{}..., any_member{}}; }) return member_count<T, Given..., any_member>();
    else return sizeof...(Given);
}

// Every member of a struct the codec reads or writes is in its describe list, which lives here,
// far from the struct: a member added in domain/ and not here is a compile error, not a field
// silently missing from the log.
template <class T>
consteval bool every_member_described() {
    return boost::mp11::mp_size<boost::describe::describe_members<T, boost::describe::mod_public>>::value == member_count<T>();
}

template <class T>
concept described = boost::describe::has_describe_members<T>::value;

enum class mode { strict, tolerant };

class reader {
public:
    explicit reader(mode m) : mode_(m) {}
    [[nodiscard]] const std::string& error() const { return error_; }

    bool read(const json::value& v, std::string& out, const std::string& path) {
        if (!v.is_string()) return fail(path, "expected a string");
        out.assign(v.get_string().data(), v.get_string().size());
        return true;
    }
    bool read(const json::value& v, std::int64_t& out, const std::string& path) {
        if (v.is_int64()) {
            out = v.get_int64();
            return true;
        }
        if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            out = static_cast<std::int64_t>(v.get_uint64());
            return true;
        }
        return fail(path, "expected an integer (money is in minor units, never a fraction)");
    }
    bool read(const json::value& v, bool& out, const std::string& path) {
        if (!v.is_bool()) return fail(path, "expected true or false");
        out = v.get_bool();
        return true;
    }
    template <class E>
        requires boost::describe::has_describe_enumerators<E>::value
    bool read(const json::value& v, E& out, const std::string& path) {
        if (!v.is_string() || !boost::describe::enum_from_string(v.get_string().c_str(), out))
            return fail(path, "expected one of the known names");
        return true;
    }
    template <class T>
    bool read(const json::value& v, std::optional<T>& out, const std::string& path) {
        if (v.is_null()) {
            out.reset();
            return true;
        }
        T x{};
        if (!read(v, x, path)) return false;
        out = std::move(x);
        return true;
    }
    template <class T>
    bool read(const json::value& v, std::vector<T>& out, const std::string& path) {
        if (!v.is_array()) return fail(path, "expected an array");
        const auto& array = v.get_array();
        out.clear();
        out.reserve(array.size());
        for (std::size_t i = 0; i < array.size(); ++i) {
            T x{};
            if (!read(array[i], x, path + "[" + std::to_string(i) + "]")) return false;
            out.push_back(std::move(x));
        }
        return true;
    }
    template <described T>
    bool read(const json::value& v, T& out, const std::string& path) {
        static_assert(every_member_described<T>(), "a member of this struct is missing from its BOOST_DESCRIBE_STRUCT list");
        using members = boost::describe::describe_members<T, boost::describe::mod_public>;
        if (!v.is_object()) return fail(path, "expected an object");
        const auto& object = v.get_object();
        bool ok = true;
        boost::mp11::mp_for_each<members>([&](auto d) {
            if (!ok) return;
            const std::string child = path.empty() ? std::string(d.name) : path + "." + d.name;
            using member = std::remove_cvref_t<decltype(out.*d.pointer)>;
            const auto* found = object.if_contains(d.name);
            if (found == nullptr) {
                if constexpr (!is_optional<member>::value) ok = fail(child, "is required");
                return;
            }
            ok = read(*found, out.*d.pointer, child);
        });
        if (!ok || mode_ == mode::tolerant) return ok;
        for (const auto& field : object) {
            bool known = false;
            boost::mp11::mp_for_each<members>([&](auto d) { known = known || field.key() == d.name; });
            if (!known) return fail(path, "unknown field " + std::string(field.key()));
        }
        return true;
    }

private:
    bool fail(const std::string& path, const std::string& what) {
        error_ = path.empty() ? what : path + ": " + what;
        return false;
    }
    mode mode_;
    std::string error_;
};

template <described T>
json::value write(const T& x);
json::value write(const std::string& s) { return json::string(s); }
json::value write(std::int64_t n) { return n; }
json::value write(bool b) { return b; }
template <class E>
    requires boost::describe::has_describe_enumerators<E>::value
json::value write(E e) {
    return json::string(boost::describe::enum_to_string(e, "unknown"));
}
template <class T>
json::value write(const std::vector<T>& items) {
    json::array array;
    array.reserve(items.size());
    for (const auto& x : items) array.push_back(write(x));
    return array;
}
template <described T>
json::value write(const T& x) {
    static_assert(every_member_described<T>(), "a member of this struct is missing from its BOOST_DESCRIBE_STRUCT list");
    json::object object;
    boost::mp11::mp_for_each<boost::describe::describe_members<T, boost::describe::mod_public>>([&](auto d) {
        const auto& member = x.*d.pointer;
        if constexpr (is_optional<std::remove_cvref_t<decltype(member)>>::value) {
            if (member) object.emplace(d.name, write(*member));  // absent, not null
        } else {
            object.emplace(d.name, write(member));
        }
    });
    return object;
}

template <class Command, class Group>
result<any_command> parse_as(const json::value& data) {
    Command c{};
    reader r(mode::strict);
    if (!r.read(data, c, "")) return reject("bad_request", r.error());
    return any_command{Group{std::move(c)}};
}

struct command_entry {
    std::string_view name;
    result<any_command> (*parse)(const json::value&);
};
template <class Group, class... Commands>
constexpr auto entries(std::variant<Commands...>*) {
    return std::array<command_entry, sizeof...(Commands)>{{{wire<Commands>::name, &parse_as<Commands, Group>}...}};
}
// Each aggregate's command table, made once.
template <class Group>
const auto& commands_of() {
    static const auto table = entries<Group>(static_cast<Group*>(nullptr));
    return table;
}

// Over every aggregate of all_aggregates: the command named `type`, if one has it.
template <class... Aggregates>
std::optional<result<any_command>> parse_in(std::string_view type, const json::value& data, aggregate_list<Aggregates...>*) {
    std::optional<result<any_command>> out;
    auto try_group = [&]<class Group>(Group*) {
        if (out) return;
        for (const auto& e : commands_of<Group>())
            if (e.name == type) {
                out = e.parse(data);
                return;
            }
    };
    (try_group(static_cast<typename Aggregates::command*>(nullptr)), ...);
    return out;
}

template <class Variant>
stored_event encode_variant(const Variant& e) {
    return std::visit(
        [](const auto& x) {
            using T = std::remove_cvref_t<decltype(x)>;
            return stored_event{std::string(wire<T>::name), wire<T>::version, json::serialize(write(x))};
        },
        e);
}

template <class... Events>
std::uint32_t version_in(std::string_view type, std::variant<Events...>*) {
    std::uint32_t v = 0;
    ((type == wire<Events>::name ? (v = wire<Events>::version, 0) : 0), ...);
    return v;
}

// Decodes `object` as the alternative of Variant whose stored name is `type`.
template <class... Events>
result<std::variant<Events...>> decode_alternative(std::string_view type, const json::value& object,
                                                   std::variant<Events...>*) {
    std::optional<result<std::variant<Events...>>> out;
    auto try_one = [&](auto* tag) {
        using T = std::remove_pointer_t<decltype(tag)>;
        if (out || type != wire<T>::name) return;
        T e{};
        reader r(mode::tolerant);
        if (r.read(object, e, "")) out.emplace(std::variant<Events...>{std::move(e)});
        else out.emplace(reject("corrupt", std::string(type) + ": " + r.error()));
    };
    (try_one(static_cast<Events*>(nullptr)), ...);
    if (!out) return reject("corrupt", "unknown event type " + std::string(type));
    return std::move(*out);
}

}  // namespace

result<any_command> parse_command(std::string_view type, const json::value& data) {
    if (auto parsed = parse_in(type, data, static_cast<all_aggregates*>(nullptr))) return std::move(*parsed);
    return reject("unknown_command", "unknown command type " + std::string(type));
}

std::string_view command_type(const any_command& c) {
    return std::visit([](const auto& group) { return std::visit([](const auto& x) { return wire<std::remove_cvref_t<decltype(x)>>::name; }, group); },
                      c);
}

json::object command_data(const any_command& c) {
    return std::visit([](const auto& group) { return std::visit([](const auto& x) { return write(x).as_object(); }, group); }, c);
}

stored_event encode(const dealer_event& e) { return encode_variant(e); }
stored_event encode(const order_event& e) { return encode_variant(e); }
stored_event encode(const claim_event& e) { return encode_variant(e); }
stored_event encode(const stock_event& e) { return encode_variant(e); }
stored_event encode(const invoice_event& e) { return encode_variant(e); }
stored_event encode(const payment_event& e) { return encode_variant(e); }
stored_event encode(const credit_note_event& e) { return encode_variant(e); }
stored_event encode(const subscription_event& e) { return encode_variant(e); }
stored_event encode(const reservation_event& e) { return encode_variant(e); }

template <class... Aggregates>
std::uint32_t version_among(std::string_view type, aggregate_list<Aggregates...>*) {
    std::uint32_t v = 0;
    ((v = v ? v : version_in(type, static_cast<typename Aggregates::event*>(nullptr))), ...);
    return v;
}

std::uint32_t current_schema_version(std::string_view type) {
    if (auto v = version_among(type, static_cast<all_aggregates*>(nullptr))) return v;
    return version_in(type, static_cast<reservation_event*>(nullptr));
}

template <class Aggregate>
result<typename Aggregate::event> decode(std::string_view type, std::uint32_t schema_version, std::string_view data) {
    const auto current = current_schema_version(type);
    if (current == 0) return reject("corrupt", "unknown event type " + std::string(type));
    if (schema_version == 0 || schema_version > current)
        return reject("corrupt", std::string(type) + " v" + std::to_string(schema_version) + " is newer than this build reads (v" +
                                     std::to_string(current) + ")");
    boost::system::error_code ec;
    auto value = json::parse(data, ec);
    if (ec || !value.is_object()) return reject("corrupt", std::string(type) + ": data is not a JSON object");
    for (auto version = schema_version; version < current; ++version) {
        bool upcast = false;
        for (const auto& u : upcasters)
            if (u.type == type && u.from == version) {
                u.apply(value.as_object());
                upcast = true;
            }
        if (!upcast)
            return reject("corrupt", "no upcaster from " + std::string(type) + " v" + std::to_string(version));
    }
    fill_derived(type, value.as_object());
    return decode_alternative(type, value, static_cast<typename Aggregate::event*>(nullptr));
}

template <class Aggregate>
std::string encode_state(const typename Aggregate::state& s) {
    return json::serialize(write(s));
}

template <class Aggregate>
result<typename Aggregate::state> decode_state(std::string_view text) {
    boost::system::error_code ec;
    auto value = json::parse(text, ec);
    typename Aggregate::state s{};
    reader r(mode::strict);
    if (ec || !r.read(value, s, "")) return reject("corrupt", "snapshot does not decode: " + (ec ? ec.message() : r.error()));
    return s;
}

template std::string encode_state<dealer_aggregate>(const dealer_state&);
template std::string encode_state<order_aggregate>(const order_state&);
template std::string encode_state<claim_aggregate>(const claim_state&);
template std::string encode_state<stock_aggregate>(const stock_state&);
template std::string encode_state<subscription_aggregate>(const subscription_state&);
template std::string encode_state<credit_note_aggregate>(const credit_note_state&);
template std::string encode_state<payment_aggregate>(const payment_state&);
template std::string encode_state<invoice_aggregate>(const invoice_state&);
template result<dealer_state> decode_state<dealer_aggregate>(std::string_view);
template result<order_state> decode_state<order_aggregate>(std::string_view);
template result<claim_state> decode_state<claim_aggregate>(std::string_view);
template result<stock_state> decode_state<stock_aggregate>(std::string_view);
template result<subscription_state> decode_state<subscription_aggregate>(std::string_view);
template result<credit_note_state> decode_state<credit_note_aggregate>(std::string_view);
template result<payment_state> decode_state<payment_aggregate>(std::string_view);
template result<invoice_state> decode_state<invoice_aggregate>(std::string_view);

template result<dealer_event> decode<dealer_aggregate>(std::string_view, std::uint32_t, std::string_view);
template result<order_event> decode<order_aggregate>(std::string_view, std::uint32_t, std::string_view);
template result<claim_event> decode<claim_aggregate>(std::string_view, std::uint32_t, std::string_view);
template result<stock_event> decode<stock_aggregate>(std::string_view, std::uint32_t, std::string_view);
template result<subscription_event> decode<subscription_aggregate>(std::string_view, std::uint32_t, std::string_view);
template result<credit_note_event> decode<credit_note_aggregate>(std::string_view, std::uint32_t, std::string_view);
template result<payment_event> decode<payment_aggregate>(std::string_view, std::uint32_t, std::string_view);
template result<invoice_event> decode<invoice_aggregate>(std::string_view, std::uint32_t, std::string_view);

}  // namespace dealerline::domain::codec
