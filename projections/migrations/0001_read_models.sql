-- dealerline read models, version 1: bookkeeping, the dealer portal, analytics, the analyst role.
-- Every read-model table is derived from the event log and can be dropped and rebuilt from it
-- (`dealerline projections rebuild`). No foreign keys between them: each projection fills its own
-- tables independently and a rebuild swaps them one projection at a time.

CREATE SCHEMA IF NOT EXISTS dealerline;

-- One row per projection: everything up to `position` is applied, exactly once.
CREATE TABLE dealerline.projection_checkpoints (
    projection       text PRIMARY KEY,
    position         bigint NOT NULL DEFAULT 0,
    last_event_at    timestamptz,          -- log time of the event at `position`
    updated_at       timestamptz NOT NULL DEFAULT now(),
    failed_position  bigint,               -- a poison event stopped the projection here
    error            text
);

CREATE SCHEMA portal;

CREATE TABLE portal.dealers (
    dealer_id           text PRIMARY KEY,
    name                text NOT NULL,
    currency            text NOT NULL,
    payment_terms_days  bigint NOT NULL,
    credit_limit        bigint NOT NULL,   -- minor units
    opening_balance     bigint,            -- minor units, positive: the dealer owes
    registered_at       timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    version             bigint NOT NULL,   -- of the dealer's stream
    last_position       bigint NOT NULL
);

CREATE TABLE portal.orders (
    order_id                 text PRIMARY KEY,
    dealer_id                text NOT NULL,
    status                   text NOT NULL,
    currency                 text NOT NULL,
    total                    bigint NOT NULL,   -- minor units
    total_units              bigint NOT NULL,
    completed_units          bigint NOT NULL,
    line_count               bigint NOT NULL,
    delivery_address         text,
    external_ref             text,
    placed_at                timestamptz NOT NULL,
    accepted_at              timestamptz,
    rejected_at              timestamptz,
    production_started_at    timestamptz,
    produced_at              timestamptz,
    shipped_at               timestamptz,
    delivered_at             timestamptz,
    cancelled_at             timestamptz,
    planned_production_date  date,
    planned_delivery_date    date,
    carrier                  text,
    route                    text,
    vehicle                  text,
    driver_name              text,
    driver_phone             text,
    received_by              text,
    reject_reason            text,
    cancel_reason            text,
    cancelled_by_dealer      boolean,
    placed_position          bigint NOT NULL,   -- newest first = highest placed_position first
    version                  bigint NOT NULL,
    last_position            bigint NOT NULL,
    updated_at               timestamptz NOT NULL
);
CREATE INDEX orders_by_dealer ON portal.orders (dealer_id, placed_position DESC);
CREATE INDEX orders_by_status ON portal.orders (status, placed_position DESC);
CREATE INDEX orders_newest ON portal.orders (placed_position DESC);

CREATE TABLE portal.order_lines (
    order_id     text NOT NULL,
    line_no      bigint NOT NULL,   -- 1-based, in the order of the PlaceOrder command
    sku          text NOT NULL,
    description  text NOT NULL,
    quantity     bigint NOT NULL,
    unit_price   bigint NOT NULL,
    line_total   bigint NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- One row per step of an order's life (every order event), as the dealer sees it.
CREATE TABLE portal.order_timeline (
    order_id   text NOT NULL,
    step       bigint NOT NULL,   -- the event's version in the order's stream
    position   bigint NOT NULL,
    at         timestamptz NOT NULL,
    event      text NOT NULL,
    status     text NOT NULL,     -- the order's status after this step
    actor      text NOT NULL,
    details    jsonb NOT NULL,
    PRIMARY KEY (order_id, step)
);

CREATE TABLE portal.claims (
    claim_id         text PRIMARY KEY,
    order_id         text NOT NULL,
    dealer_id        text NOT NULL,
    kind             text NOT NULL,
    description      text NOT NULL,
    status           text NOT NULL,
    manager          text,
    resolution       text,
    compensation     bigint,            -- minor units of the order's currency
    resolution_note  text,
    filed_at         timestamptz NOT NULL,
    assigned_at      timestamptz,
    resolved_at      timestamptz,
    reopened_at      timestamptz,
    closed_at        timestamptz,
    reopen_count     bigint NOT NULL,
    message_count    bigint NOT NULL,
    filed_position   bigint NOT NULL,
    version          bigint NOT NULL,
    last_position    bigint NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX claims_by_dealer ON portal.claims (dealer_id, filed_position DESC);
CREATE INDEX claims_by_order ON portal.claims (order_id);

-- The conversation of a claim: its description, comments, resolution notes, reopening reasons.
CREATE TABLE portal.claim_messages (
    claim_id  text NOT NULL,
    seq       bigint NOT NULL,   -- the event's version in the claim's stream
    position  bigint NOT NULL,
    at        timestamptz NOT NULL,
    author    text NOT NULL,     -- actor label, "dealer:D-0042", "staff:cm-2"
    kind      text NOT NULL,     -- description | comment | resolution | reopen_reason
    text      text NOT NULL,
    PRIMARY KEY (claim_id, seq)
);

CREATE SCHEMA analytics;

-- Every event of the log, flattened, for ad-hoc SQL.
CREATE TABLE analytics.events (
    position        bigint PRIMARY KEY,
    stream          text NOT NULL,
    category        text NOT NULL,
    stream_version  bigint NOT NULL,
    type            text NOT NULL,
    schema_version  integer NOT NULL,
    actor           text NOT NULL,
    actor_role      text NOT NULL,   -- "dealer", "staff", "system": the part before ':'
    command_id      text NOT NULL,
    correlation_id  text NOT NULL,
    recorded_at     timestamptz NOT NULL,
    data            jsonb NOT NULL,
    metadata        text
);
CREATE INDEX events_by_stream ON analytics.events (stream, stream_version);
CREATE INDEX events_by_type ON analytics.events (type, recorded_at);

-- Per order: what it was worth and how long each stage took.
CREATE TABLE analytics.order_facts (
    order_id               text PRIMARY KEY,
    dealer_id              text NOT NULL,
    currency               text NOT NULL,
    value                  bigint NOT NULL,   -- minor units
    units                  bigint NOT NULL,
    line_count             bigint NOT NULL,
    final_status           text NOT NULL,     -- the status now
    placed_at              timestamptz NOT NULL,
    accepted_at            timestamptz,
    production_started_at  timestamptz,
    produced_at            timestamptz,
    shipped_at             timestamptz,
    delivered_at           timestamptz,
    rejected_at            timestamptz,
    cancelled_at           timestamptz,
    last_position          bigint NOT NULL,
    placed_to_accepted       interval GENERATED ALWAYS AS (accepted_at - placed_at) STORED,
    accepted_to_production   interval GENERATED ALWAYS AS (production_started_at - accepted_at) STORED,
    production_time          interval GENERATED ALWAYS AS (produced_at - production_started_at) STORED,
    produced_to_shipped      interval GENERATED ALWAYS AS (shipped_at - produced_at) STORED,
    shipped_to_delivered     interval GENERATED ALWAYS AS (delivered_at - shipped_at) STORED,
    placed_to_delivered      interval GENERATED ALWAYS AS (delivered_at - placed_at) STORED
);
CREATE INDEX order_facts_by_dealer ON analytics.order_facts (dealer_id);
CREATE INDEX order_facts_by_placed ON analytics.order_facts (placed_at);

-- Day (UTC, the day the event happened) × dealer.
CREATE TABLE analytics.daily_orders (
    day        date NOT NULL,
    dealer_id  text NOT NULL,
    currency   text NOT NULL,
    placed     bigint NOT NULL,
    accepted   bigint NOT NULL,
    rejected   bigint NOT NULL,
    cancelled  bigint NOT NULL,
    delivered  bigint NOT NULL,
    units      bigint NOT NULL,   -- of the orders placed that day
    value      bigint NOT NULL,   -- minor units, of the orders placed that day
    PRIMARY KEY (day, dealer_id)
);

-- Per claim, for the monthly figures and for ad-hoc questions.
CREATE TABLE analytics.claim_facts (
    claim_id          text PRIMARY KEY,
    order_id          text NOT NULL,
    dealer_id         text NOT NULL,
    kind              text NOT NULL,
    status            text NOT NULL,
    filed_at          timestamptz NOT NULL,
    pending_since     timestamptz,      -- filed or reopened, not resolved since
    first_resolved_at timestamptz,
    last_resolved_at  timestamptz,
    resolution        text,
    compensation      bigint,           -- of the latest resolution, minor units
    resolutions       bigint NOT NULL,
    reopen_count      bigint NOT NULL,
    closed_at         timestamptz,
    last_position     bigint NOT NULL
);

-- Month (UTC) × claim kind. Filed counts in the month of filing; a resolution in the month it
-- happened, with the time from filing (or reopening) to it.
CREATE TABLE analytics.claims_monthly (
    month               date NOT NULL,   -- the first day of the month
    kind                text NOT NULL,
    filed               bigint NOT NULL,
    resolved            bigint NOT NULL,
    compensation        bigint NOT NULL, -- minor units, summed over the month's resolutions
    resolve_time_total  interval NOT NULL,
    mean_time_to_resolve interval GENERATED ALWAYS AS
        (CASE WHEN resolved > 0 THEN resolve_time_total / resolved END) STORED,
    PRIMARY KEY (month, kind)
);

-- Analysts read analytics and nothing else. Roles are cluster-wide: another database of the same
-- cluster may have created it already.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dealerline_analyst') THEN
        CREATE ROLE dealerline_analyst NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
GRANT USAGE ON SCHEMA analytics TO dealerline_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO dealerline_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO dealerline_analyst;
