// The portal_claims projection: how each event moves the rows of portal.claims, portal.claim_messages.
// One projection per file; what they share is in projections/detail/ (docs/projections.md).
// The dealer portal reads it: what a dealer sees when it opens the portal, one query away.
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "domain/codec.hpp"
#include "domain/stream_name.hpp"
#include "domain/time.hpp"
#include "projections/detail/decode.hpp"
#include "projections/detail/projector.hpp"
#include "projections/detail/sql.hpp"

namespace dealerline::projections {
namespace {

using namespace domain;
using sql::timestamp;
using opt_text = std::optional<std::string>;
using opt_time = std::optional<timestamp>;

struct claim_row {
    std::string claim_id, order_id, dealer_id, kind, description, status;
    opt_text manager, resolution;
    std::optional<std::int64_t> compensation;
    opt_text resolution_note;
    timestamp filed_at;
    opt_time assigned_at, resolved_at, reopened_at, closed_at;
    std::int64_t reopen_count = 0, message_count = 0, filed_position = 0, version = 0, last_position = 0;
    timestamp updated_at;
};
BOOST_DESCRIBE_STRUCT(claim_row, (), (claim_id, order_id, dealer_id, kind, description, status, manager, resolution,
                                      compensation, resolution_note, filed_at, assigned_at, resolved_at, reopened_at,
                                      closed_at, reopen_count, message_count, filed_position, version, last_position,
                                      updated_at))

struct claim_message_row {
    std::string claim_id;
    std::int64_t seq = 0, position = 0;
    timestamp at;
    std::string author, kind, text;
};
BOOST_DESCRIBE_STRUCT(claim_message_row, (), (claim_id, seq, position, at, author, kind, text))

class claims_projector final : public projector {
public:
    std::string_view name() const override { return "portal_claims"; }
    std::string_view schema() const override { return "portal"; }
    std::vector<table> tables() const override { return {{"claims", true}, {"claim_messages", false}}; }

    std::unique_ptr<state> deferred_state(const std::string& schema, std::size_t max_rows) const override {
        return std::make_unique<held_table<claim_row>>(schema + ".claims", max_rows);
    }

    void apply(pqxx::transaction_base& tx, const std::string& schema, std::span<const storage::recorded_event> events,
               state* deferred) const override {
        held_table<claim_row> per_batch(schema + ".claims", 0);
        auto& held = held_or(deferred, per_batch);
        auto& claims = held.rows.rows;
        const auto mine = events_of<claim_aggregate>(events);
        if (mine.empty()) return;
        for (const auto& [e, ev] : mine)
            if (!std::holds_alternative<claim_filed>(ev)) claims.want(id_of(ev));
        claims.load(tx);
        std::vector<claim_message_row> messages;
        for (const auto& [e, ev] : mine) {
            const timestamp at{e->recorded_at_us};
            auto message = [&](std::string kind, std::string text) {
                messages.push_back({id_of(ev), i64(e->version), i64(e->position), at, e->actor, std::move(kind),
                                    std::move(text)});
            };
            claim_row* row = nullptr;
            if (const auto* f = std::get_if<claim_filed>(&ev)) {
                claim_row fresh;
                fresh.claim_id = f->claim_id;
                fresh.order_id = f->order_id;
                fresh.dealer_id = f->dealer_id;
                fresh.kind = f->kind;
                fresh.description = f->description;
                fresh.filed_at = at;
                fresh.filed_position = i64(e->position);
                row = &claims.create(std::move(fresh));
            } else {
                row = claims.find(id_of(ev));
                if (!row) throw sql::poison(e->position, e->type + " for claim " + id_of(ev) + " before ClaimFiled");
            }
            std::visit(overloaded{
                           [&](const claim_filed& x) {
                               row->status = named(claim_status::open);
                               message("description", x.description);
                           },
                           [&](const claim_assigned& x) {
                               row->status = named(claim_status::in_review);
                               row->manager = x.manager;
                               row->assigned_at = at;
                           },
                           [&](const claim_commented& x) { message("comment", x.text); },
                           [&](const claim_resolved& x) {
                               row->status = named(claim_status::resolved);
                               row->resolution = x.resolution;
                               row->compensation = x.compensation;
                               row->resolution_note = x.note.empty() ? std::nullopt : opt_text(x.note);
                               row->resolved_at = at;
                               if (!x.note.empty()) message("resolution", x.note);
                           },
                           [&](const claim_reopened& x) {
                               row->status = named(claim_status::reopened);
                               row->reopened_at = at;
                               ++row->reopen_count;
                               message("reopen_reason", x.reason);
                           },
                           [&](const claim_closed&) {
                               row->status = named(claim_status::closed);
                               row->closed_at = at;
                           },
                       },
                       ev);
            if (!messages.empty() && messages.back().position == i64(e->position)) ++row->message_count;
            row->version = i64(e->version);
            row->last_position = i64(e->position);
            row->updated_at = at;
        }
        held.rows.batch_done(tx);
        sql::copy_rows<claim_message_row>(tx, schema + ".claim_messages", messages);
    }

};

}  // namespace

std::unique_ptr<projector> make_portal_claims() { return std::make_unique<claims_projector>(); }

}  // namespace dealerline::projections
