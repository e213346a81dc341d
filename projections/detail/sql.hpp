// Rows in, SQL out: how a projector turns a batch into a few set-based statements.
//
// A row type is a plain struct described with BOOST_DESCRIBE_STRUCT; its members are the table's
// columns in order, the first `key_columns` of them the primary key. Values are written as SQL
// literals (standard_conforming_strings is on for our connections), so a whole batch travels as
// one multi-statement string: one round trip, however many rows.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <ranges>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/describe/class.hpp>
#include <boost/describe/members.hpp>
#include <boost/mp11/algorithm.hpp>
#include <pqxx/pqxx>

namespace dealerline::projections::sql {

// Column types beyond text, bigint and boolean.
struct timestamp {  // timestamptz, microseconds since the epoch
    std::int64_t us = 0;
    bool operator==(const timestamp&) const = default;
};
struct date {  // date, "YYYY-MM-DD"
    std::string text;
    bool operator==(const date&) const = default;
};
struct json {  // jsonb, as JSON text
    std::string text;
    bool operator==(const json&) const = default;
};
struct interval {  // interval, in microseconds
    std::int64_t us = 0;
    bool operator==(const interval&) const = default;
};

// An event the projection cannot apply: the runner stops this projection at `position`.
struct poison : std::runtime_error {
    poison(std::uint64_t at, const std::string& why) : std::runtime_error(why), position(at) {}
    std::uint64_t position;
};

// COPY text (unquoted, unescaped: libpqxx escapes) of a column value.
[[nodiscard]] std::string text_of(timestamp);
[[nodiscard]] std::string text_of(interval);

void literal(std::string& out, std::string_view text);
inline void literal(std::string& out, const std::string& text) { literal(out, std::string_view(text)); }
void literal(std::string& out, std::int64_t);
void literal(std::string& out, bool);
void literal(std::string& out, timestamp);
void literal(std::string& out, const date&);
void literal(std::string& out, const json&);
void literal(std::string& out, interval);
template <class T>
void literal(std::string& out, const std::optional<T>& v) {
    if (v) literal(out, *v);
    else out += "NULL";
}
// "(v1, v2, …)": the values of a range, for `IN`.
template <class Range>
void literal_list(std::string& out, const Range& values) {
    out += '(';
    bool first = true;
    for (const auto& v : values) {
        if (!first) out += ", ";
        first = false;
        literal(out, v);
    }
    out += ')';
}

// "2026-11-23T10:15:00.123456Z" → the UTC day, "2026-11-23", and its month's first day.
[[nodiscard]] date day_of(std::int64_t us);
[[nodiscard]] date month_of(std::int64_t us);

namespace detail {
template <class T> struct unoptional { using type = T; };
template <class T> struct unoptional<std::optional<T>> { using type = T; };

template <class T>
std::string select_expression(std::string_view column) {
    using V = typename unoptional<T>::type;
    if constexpr (std::is_same_v<V, timestamp>)
        return "(extract(epoch from " + std::string(column) + ") * 1000000)::int8";
    else if constexpr (std::is_same_v<V, interval>)
        return "(extract(epoch from " + std::string(column) + ") * 1000000)::int8";
    else if constexpr (std::is_same_v<V, date> || std::is_same_v<V, json>)
        return std::string(column) + "::text";
    else
        return std::string(column);
}

template <class V>
V parse_value(const pqxx::field& f) {
    if constexpr (std::is_same_v<V, timestamp>) return timestamp{f.as<std::int64_t>()};
    else if constexpr (std::is_same_v<V, interval>) return interval{f.as<std::int64_t>()};
    else if constexpr (std::is_same_v<V, date>) return date{f.as<std::string>()};
    else if constexpr (std::is_same_v<V, json>) return json{f.as<std::string>()};
    else return f.as<V>();
}

template <class T>
void parse(const pqxx::field& f, T& into) {
    if constexpr (std::is_same_v<T, typename unoptional<T>::type>) {
        into = parse_value<T>(f);
    } else {
        if (f.is_null()) into.reset();
        else into = parse_value<typename unoptional<T>::type>(f);
    }
}
}  // namespace detail

template <class Row>
using members = boost::describe::describe_members<Row, boost::describe::mod_public>;

// "a, b, c"
template <class Row>
std::string column_list() {
    std::string out;
    boost::mp11::mp_for_each<members<Row>>([&](auto d) {
        if (!out.empty()) out += ", ";
        out += d.name;
    });
    return out;
}

// "a, (extract(epoch from b) * 1000000)::int8, …": the columns as parse_row reads them.
template <class Row>
std::string select_list() {
    std::string out;
    boost::mp11::mp_for_each<members<Row>>([&](auto d) {
        using T = std::remove_cvref_t<decltype(std::declval<Row>().*d.pointer)>;
        if (!out.empty()) out += ", ";
        out += detail::select_expression<T>(d.name);
    });
    return out;
}

template <class Row>
std::string first_column() {
    return boost::mp11::mp_front<members<Row>>::name;
}

// A row selected with select_list<Row>().
template <class Row>
Row parse_row(const pqxx::row& r) {
    Row row;
    int i = 0;
    boost::mp11::mp_for_each<members<Row>>([&](auto d) { detail::parse(r[i++], row.*d.pointer); });
    return row;
}

// "b = EXCLUDED.b, …" for every non-key column: an upsert that writes the whole row.
template <class Row>
std::string set_all_excluded(std::size_t key_columns) {
    std::string out;
    std::size_t i = 0;
    boost::mp11::mp_for_each<members<Row>>([&](auto d) {
        if (i++ < key_columns) return;
        if (!out.empty()) out += ", ";
        out += std::string(d.name) + " = EXCLUDED." + d.name;
    });
    return out;
}

// "(v1, v2, …)"
template <class Row>
void append_values(std::string& out, const Row& row) {
    out += '(';
    bool first = true;
    boost::mp11::mp_for_each<members<Row>>([&](auto d) {
        if (!first) out += ", ";
        first = false;
        literal(out, row.*d.pointer);
    });
    out += ')';
}

// INSERT of many rows in one statement; `tail` is appended (e.g. an ON CONFLICT clause).
template <class Row, class Range>
void append_insert(std::string& sql, const std::string& table, const Range& rows, std::string_view tail = {}) {
    bool first = true;
    for (const auto& row : rows) {
        if (first) sql += "INSERT INTO " + table + " (" + column_list<Row>() + ") VALUES\n";
        else sql += ",\n";
        first = false;
        append_values(sql, row);
    }
    if (!first) {
        sql += tail;
        sql += ";\n";
    }
}

namespace detail {
inline std::int64_t added(std::int64_t a, std::int64_t b) { return a + b; }
inline interval added(interval a, interval b) { return {a.us + b.us}; }
}  // namespace detail

// Adds rows of per-key counters to a table: one INSERT … ON CONFLICT that adds every counter of a
// row that is there already. Columns: the first `key_columns` are the key, the next
// `kept_columns` are written with a new row only (facts of the key, like its currency), every
// later one is a counter. Rows with the same key are added up first: one statement must not
// name a key twice. Nothing happens for no rows.
template <class Row, class Range>
void add_to_counters(pqxx::transaction_base& tx, const std::string& table, const Range& rows, std::size_t key_columns,
                     std::size_t kept_columns = 0) {
    std::string keys, sums;
    std::size_t i = 0;
    boost::mp11::mp_for_each<members<Row>>([&](auto d) {
        const std::string name = d.name;
        if (i < key_columns) keys += (keys.empty() ? "" : ", ") + name;
        else if (i >= key_columns + kept_columns) sums += (sums.empty() ? "" : ", ") + name + " = t." + name + " + EXCLUDED." + name;
        ++i;
    });
    std::map<std::string, Row> by_key;  // the key columns as SQL literals
    for (const auto& row : rows) {
        std::string key;
        i = 0;
        boost::mp11::mp_for_each<members<Row>>([&](auto d) {
            if (i++ < key_columns) {
                literal(key, row.*d.pointer);
                key += ',';
            }
        });
        auto [at, fresh] = by_key.try_emplace(std::move(key), row);
        if (fresh) continue;
        i = 0;
        boost::mp11::mp_for_each<members<Row>>([&](auto d) {
            using T = std::remove_cvref_t<decltype(row.*d.pointer)>;
            if (i++ < key_columns + kept_columns) return;
            if constexpr (std::is_same_v<T, std::int64_t> || std::is_same_v<T, interval>)
                at->second.*d.pointer = detail::added(at->second.*d.pointer, row.*d.pointer);
            else
                throw std::logic_error("add_to_counters: column " + std::string(d.name) + " of " + table + " is no counter");
        });
    }
    std::string statement;
    append_insert<Row>(statement, table + " AS t", std::views::values(by_key),
                       "\nON CONFLICT (" + keys + ") DO UPDATE SET " + sums);
    if (!statement.empty()) tx.exec(statement);
}

// One field of a COPY row: its text, or NULL.
struct copy_field {
    std::string text;
    bool null = false;
};

}  // namespace dealerline::projections::sql

namespace pqxx {
template <>
struct string_traits<dealerline::projections::sql::copy_field> {
    using field = dealerline::projections::sql::copy_field;
    static constexpr const char* name() noexcept { return "copy_field"; }
    static constexpr bool has_null() noexcept { return true; }
    static bool is_null(const field& f) { return f.null; }
    static field null() { return field{{}, true}; }
    static void from_string(const char s[], field& f) { f = field{s, false}; }
    static std::string to_string(const field& f) { return f.text; }
};
}  // namespace pqxx

namespace dealerline::projections::sql {

void set_field(copy_field& f, const std::string& v);
inline void set_field(copy_field& f, std::int64_t v) { f = {std::to_string(v), false}; }
inline void set_field(copy_field& f, bool v) { f = {v ? "t" : "f", false}; }
inline void set_field(copy_field& f, timestamp v) { f = {text_of(v), false}; }
inline void set_field(copy_field& f, interval v) { f = {text_of(v), false}; }
inline void set_field(copy_field& f, const date& v) { set_field(f, v.text); }
inline void set_field(copy_field& f, const json& v) { set_field(f, v.text); }
template <class T>
void set_field(copy_field& f, const std::optional<T>& v) {
    if (v) set_field(f, *v);
    else f = {{}, true};
}

template <class Row>
const Row& deref(const Row& r) { return r; }
template <class Row>
const Row& deref(const Row* r) { return *r; }

// COPY of many rows into a table that only ever gains rows: the cheapest way in, several times
// faster for PostgreSQL than parsing the same rows as an INSERT.
template <class Row, class Range>
void copy_rows(pqxx::transaction_base& tx, const std::string& table, const Range& rows) {
    if (std::begin(rows) == std::end(rows)) return;
    std::vector<std::string> columns;
    boost::mp11::mp_for_each<members<Row>>([&](auto d) { columns.emplace_back(d.name); });
    std::array<copy_field, boost::mp11::mp_size<members<Row>>::value> fields;
    pqxx::stream_to copy(tx, table, columns);
    for (const auto& row : rows) {
        std::size_t i = 0;
        const Row& r = deref(row);
        boost::mp11::mp_for_each<members<Row>>([&](auto d) { set_field(fields[i++], r.*d.pointer); });
        copy << fields;
    }
    copy.complete();
}

// The rows of one table that a batch touches, keyed by their one-column primary key: loaded in
// one SELECT, changed in memory event by event, written back in one upsert.
template <class Row>
class keyed_rows {
public:
    explicit keyed_rows(std::string table) : table_(std::move(table)) {}

    void want(const std::string& key) { wanted_.push_back(key); }

    void load(pqxx::transaction_base& tx) {
        std::erase_if(wanted_, [&](const std::string& key) { return rows_.contains(key); });  // held already
        std::sort(wanted_.begin(), wanted_.end());
        wanted_.erase(std::unique(wanted_.begin(), wanted_.end()), wanted_.end());
        if (wanted_.empty()) return;
        const std::string key_column = first_column<Row>();
        std::string select = "SELECT " + select_list<Row>() + " FROM " + table_ + " WHERE " + key_column + " IN ";
        literal_list(select, wanted_);
        for (const auto& r : tx.exec(select)) {
            std::string key = r[0].as<std::string>();
            rows_.emplace(std::move(key), parse_row<Row>(r));
        }
        wanted_.clear();
    }

    [[nodiscard]] Row* find(const std::string& key) {
        auto it = rows_.find(key);
        if (it == rows_.end()) return nullptr;
        dirty_.emplace(key);
        return &it->second;
    }
    // The key is the row's own first column, so two rows of one statement never share a key.
    Row& create(Row row) {
        std::string key = row.*boost::mp11::mp_front<members<Row>>::pointer;
        dirty_.emplace(key);
        return rows_.insert_or_assign(std::move(key), std::move(row)).first->second;
    }

    // Writes every row found or created: COPY into a session-local staging table, then one
    // INSERT … ON CONFLICT DO UPDATE from it (parsing thousands of VALUES rows costs PostgreSQL
    // several times more than COPYing them). The statement empties the stage as it reads it:
    // ON COMMIT DELETE ROWS alone would leave this write's rows there for the next write of the
    // same transaction (a rebuild's swap applies many batches in one), which would then upsert
    // them a second time and fail ("cannot affect row a second time").
    void write(pqxx::transaction_base& tx) {
        if (dirty_.empty()) return;
        std::vector<const Row*> changed;
        changed.reserve(dirty_.size());
        for (const auto& key : dirty_) changed.push_back(&rows_.at(key));
        std::string stage = "stage_" + table_;
        std::replace(stage.begin(), stage.end(), '.', '_');
        const std::string key_column = first_column<Row>();
        tx.exec("CREATE TEMP TABLE IF NOT EXISTS " + stage + " (LIKE " + table_ + ") ON COMMIT DELETE ROWS");
        copy_rows<Row>(tx, stage, changed);
        const auto columns = column_list<Row>();
        tx.exec("WITH staged AS (DELETE FROM " + stage + " RETURNING *) INSERT INTO " + table_ + " (" + columns + ") SELECT " +
                columns + " FROM staged ON CONFLICT (" + key_column + ") DO UPDATE SET " + set_all_excluded<Row>(1));
        dirty_.clear();
    }

    [[nodiscard]] std::size_t size() const noexcept { return rows_.size(); }
    void forget() { rows_.clear(); }  // only once written

private:
    std::string table_;
    std::vector<std::string> wanted_;
    std::map<std::string, Row> rows_;
    std::set<std::string> dirty_;  // ordered: the same batch always writes the same statement
};

// keyed_rows as a projection uses them: per batch (max_rows 0: written at the end of each
// batch), or deferred in a rebuild (held across batches, written once `max_rows` are held, and
// on flush).
template <class Row>
class row_set {
public:
    row_set(std::string table, std::size_t max_rows) : rows(std::move(table)), max_rows_(max_rows) {}
    void batch_done(pqxx::transaction_base& tx) {
        if (rows.size() < max_rows_) return;
        flush(tx);
    }
    void flush(pqxx::transaction_base& tx) {
        rows.write(tx);
        rows.forget();
    }
    keyed_rows<Row> rows;

private:
    std::size_t max_rows_;
};

}  // namespace dealerline::projections::sql
