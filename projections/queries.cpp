// PostgreSQL builds the JSON (row_to_json / json_agg): one round trip per answer, and the API
// passes the text through.
#include "projections/queries.hpp"

#include <condition_variable>
#include <mutex>
#include <vector>

#include <boost/json/serialize.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {

struct queries::impl {
    impl(std::string c, std::size_t n) : conninfo(std::move(c)), size(std::max<std::size_t>(1, n)) {}
    std::string conninfo;
    std::size_t size;
    std::mutex m;
    std::condition_variable freed;
    std::vector<std::unique_ptr<pqxx::connection>> idle;
    std::size_t out = 0;

    // A connection for one query; back to the pool unless it broke.
    class lease {
    public:
        lease(impl& pool, std::unique_ptr<pqxx::connection> c) : pool_(pool), c_(std::move(c)) {}
        ~lease() {
            std::lock_guard lock(pool_.m);
            if (c_ && c_->is_open()) pool_.idle.push_back(std::move(c_));
            --pool_.out;
            pool_.freed.notify_one();
        }
        pqxx::connection& operator*() { return *c_; }
        void broken() { c_.reset(); }

    private:
        impl& pool_;
        std::unique_ptr<pqxx::connection> c_;
    };

    lease acquire() {
        std::unique_lock lock(m);
        freed.wait(lock, [&] { return !idle.empty() || out < size; });
        ++out;
        if (!idle.empty()) {
            auto c = std::move(idle.back());
            idle.pop_back();
            return lease(*this, std::move(c));
        }
        lock.unlock();
        try {
            return lease(*this, connect(conninfo, "dealerline-queries"));
        } catch (...) {
            std::lock_guard relock(m);
            --out;
            freed.notify_one();
            throw;
        }
    }

    // Runs `sql` and returns the first column of each row.
    result<std::vector<std::string>> run(const std::string& sql) {
        try {
            auto c = acquire();
            try {
                pqxx::read_transaction tx(*c);
                std::vector<std::string> out_rows;
                for (const auto& row : tx.exec(sql)) out_rows.push_back(row[0].is_null() ? "" : row[0].as<std::string>());
                return out_rows;
            } catch (const pqxx::broken_connection&) {
                c.broken();
                throw;
            }
        } catch (const std::exception& e) {
            return tl::unexpected(error{std::string("read models unavailable: ") + e.what()});
        }
    }
};

queries::queries(std::string conninfo, std::size_t connections)
    : impl_(std::make_unique<impl>(std::move(conninfo), connections)) {}

queries::~queries() = default;

namespace {

// " AND column = 'value'" when the value is given.
void and_equals(std::string& where, std::string_view column, const std::optional<std::string>& value) {
    if (!value) return;
    where += " AND ";
    where += column;
    where += " = ";
    sql::literal(where, *value);
}

// Rows "<key> <json>" (one more than `limit` when there is a next page) → {"<field>":[…],
// "next_cursor": the key of the page's last row, or null}; a text key is quoted.
std::string page_json(const std::vector<std::string>& rows, std::size_t limit, std::string_view field, bool text_key) {
    std::string out = "{\"" + std::string(field) + "\":[", next = "null";
    for (std::size_t i = 0; i < rows.size() && i < limit; ++i) {
        const auto& row = rows[i];
        const auto space = row.find(' ');
        if (i) out += ',';
        out.append(row, space + 1);
        if (i + 1 == limit && rows.size() > limit) {
            next = row.substr(0, space);
            if (text_key) next = boost::json::serialize(boost::json::value(boost::json::string(next)));
        }
    }
    out += "],\"next_cursor\":" + next + "}";
    return out;
}

}  // namespace

// Newest first by `key` (a log position, unique per row): keyset paging needs no OFFSET, and a
// page stays right while rows are added in front of it.
result<std::string> queries::page(const std::string& table, const std::string& key, const std::string& where_clause,
                                  std::size_t limit, std::optional<std::uint64_t> cursor, const std::string& field) {
    limit = std::clamp<std::size_t>(limit, 1, 200);
    std::string where = where_clause;
    if (cursor) where += " AND " + key + " < " + std::to_string(*cursor);
    // One more than asked: whether there is a next page. Each row: "<key> <json>".
    auto rows = impl_->run("SELECT " + key + "::text || ' ' || row_to_json(o)::text FROM (SELECT * FROM " + table + " WHERE " +
                           where + " ORDER BY " + key + " DESC LIMIT " + std::to_string(limit + 1) + ") o");
    if (!rows) return tl::unexpected(rows.error());
    return page_json(*rows, limit, field, false);
}

result<std::string> queries::orders(const order_page_request& r) {
    std::string where = "true";
    and_equals(where, "dealer_id", r.dealer_id);
    and_equals(where, "status", r.status);
    return page("portal.orders", "placed_position", where, r.limit, r.cursor, "orders");
}

result<std::string> queries::claims(const claim_page_request& r) {
    std::string where = "true";
    and_equals(where, "dealer_id", r.dealer_id);
    and_equals(where, "status", r.status);
    and_equals(where, "order_id", r.order_id);
    return page("portal.claims", "filed_position", where, r.limit, r.cursor, "claims");
}

result<std::optional<std::string>> queries::claim(const std::string& claim_id, const std::optional<std::string>& dealer_id) {
    std::string where = "c.claim_id = ";
    sql::literal(where, claim_id);
    and_equals(where, "c.dealer_id", dealer_id);
    auto rows = impl_->run(
        "SELECT (to_jsonb(c) || jsonb_build_object("
        "'messages', (SELECT coalesce(jsonb_agg(m ORDER BY m.seq), '[]') FROM portal.claim_messages m WHERE m.claim_id = c.claim_id)"
        "))::text FROM portal.claims c WHERE " + where);
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<std::string>{};
    return std::optional<std::string>{rows->front()};
}

result<std::optional<std::string>> queries::order(const std::string& order_id, const std::optional<std::string>& dealer_id) {
    std::string where = "o.order_id = ";
    sql::literal(where, order_id);
    and_equals(where, "o.dealer_id", dealer_id);
    auto rows = impl_->run(
        "SELECT (to_jsonb(o) || jsonb_build_object("
        "'lines', (SELECT coalesce(jsonb_agg(l ORDER BY l.line_no), '[]') FROM portal.order_lines l WHERE l.order_id = o.order_id),"
        "'timeline', (SELECT coalesce(jsonb_agg(t ORDER BY t.step), '[]') FROM portal.order_timeline t WHERE t.order_id = o.order_id)"
        "))::text FROM portal.orders o WHERE " + where);
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<std::string>{};
    return std::optional<std::string>{rows->front()};
}

result<std::optional<std::string>> queries::account(const std::string& dealer_id, std::size_t limit, std::optional<std::uint64_t> cursor) {
    limit = std::clamp<std::size_t>(limit, 1, 500);
    std::string dealer;
    sql::literal(dealer, dealer_id);
    const std::string before = cursor ? " AND e.position < " + std::to_string(*cursor) : "";
    auto rows = impl_->run(
        "SELECT (to_jsonb(b) || jsonb_build_object("
        "'open_invoices', (SELECT coalesce(jsonb_agg(i ORDER BY i.issued_position), '[]') FROM portal.invoices i"
        "  WHERE i.dealer_id = b.dealer_id AND i.status = 'open'),"
        "'entries', (SELECT coalesce(jsonb_agg(e ORDER BY e.position DESC), '[]') FROM (SELECT * FROM portal.account_entries e"
        "  WHERE e.dealer_id = b.dealer_id" + before + " ORDER BY e.position DESC LIMIT " + std::to_string(limit) + ") e),"
        // The last entry shown, when there is more: the next page starts below it.
        "'next_cursor', (SELECT CASE WHEN count(*) > " + std::to_string(limit) + " THEN (array_agg(p ORDER BY p DESC))[" +
        std::to_string(limit) + "] END FROM (SELECT e.position AS p FROM portal.account_entries e WHERE e.dealer_id = b.dealer_id" +
        before + " ORDER BY e.position DESC LIMIT " + std::to_string(limit + 1) + ") x)"
        "))::text FROM portal.dealer_balances b WHERE b.dealer_id = " + dealer);
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return std::optional<std::string>{};
    return std::optional<std::string>{rows->front()};
}

result<std::string> queries::stock(const stock_request& r) {
    const std::size_t limit = std::clamp<std::size_t>(r.limit, 1, 500);
    std::string where = "true";
    and_equals(where, "warehouse", r.warehouse);
    and_equals(where, "sku", r.sku);
    if (r.after) {
        where += " AND stock_id > ";
        sql::literal(where, *r.after);
    }
    auto rows = impl_->run("SELECT stock_id || ' ' || row_to_json(s)::text FROM (SELECT * FROM portal.stock_levels WHERE " + where +
                           " ORDER BY stock_id LIMIT " + std::to_string(limit + 1) + ") s");
    if (!rows) return tl::unexpected(rows.error());
    return page_json(*rows, limit, "stock", true);  // stock ids hold no spaces (ids never do)
}

result<std::string> queries::subscriptions(const subscription_page_request& r) {
    std::string where = "true";
    and_equals(where, "dealer_id", r.dealer_id);
    and_equals(where, "status", r.status);
    return page("portal.subscriptions", "started_position", where, r.limit, r.cursor, "subscriptions");
}

result<std::uint64_t> queries::position(const std::string& projection) {
    std::string sql = "SELECT position FROM dealerline.projection_checkpoints WHERE projection = ";
    sql::literal(sql, projection);
    auto rows = impl_->run(sql);
    if (!rows) return tl::unexpected(rows.error());
    return rows->empty() || rows->front().empty() ? 0 : std::stoull(rows->front());
}

}  // namespace dealerline::projections
