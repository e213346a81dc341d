-- dealerline read models, version 2: the dealer's mutual settlements, stock levels, subscriptions.

-- One row per invoice: what it is for, what is paid and open, when it is due.
CREATE TABLE portal.invoices (
    invoice_id        text PRIMARY KEY,
    dealer_id         text NOT NULL,
    currency          text NOT NULL,
    source            text NOT NULL,     -- order | subscription | delivery | manual
    source_id         text NOT NULL,
    total             bigint NOT NULL,   -- minor units
    paid              bigint NOT NULL,
    open_amount       bigint NOT NULL,
    status            text NOT NULL,     -- open | paid | voided
    overdue           boolean NOT NULL,
    issued_on         date NOT NULL,
    due_date          date NOT NULL,
    void_reason       text,
    issued_position   bigint NOT NULL,   -- oldest first = lowest issued_position first
    version           bigint NOT NULL,
    last_position     bigint NOT NULL,
    updated_at        timestamptz NOT NULL
);
CREATE INDEX invoices_by_dealer ON portal.invoices (dealer_id, issued_position DESC);
CREATE INDEX invoices_open ON portal.invoices (dealer_id, due_date) WHERE status = 'open';

CREATE TABLE portal.payments (
    payment_id     text PRIMARY KEY,
    dealer_id      text NOT NULL,
    currency       text NOT NULL,
    amount         bigint NOT NULL,
    allocated      bigint NOT NULL,
    method         text NOT NULL,
    received_at    text NOT NULL,     -- as the bank gave it: a date or a time
    external_ref   text NOT NULL,
    reversed       boolean NOT NULL,
    recorded_at    timestamptz NOT NULL,
    version        bigint NOT NULL,
    last_position  bigint NOT NULL
);
CREATE INDEX payments_by_dealer ON portal.payments (dealer_id, last_position DESC);

-- The dealer's account as one row: balance (positive: the dealer owes), what of it is overdue.
CREATE TABLE portal.dealer_balances (
    dealer_id            text PRIMARY KEY,
    currency             text NOT NULL,
    balance              bigint NOT NULL,
    open_invoices        bigint NOT NULL,
    overdue_amount       bigint NOT NULL,
    last_payment_at      timestamptz,
    last_payment_amount  bigint,
    updated_at           timestamptz NOT NULL,
    last_position        bigint NOT NULL
);

-- The statement: every invoice, payment, credit note, reversal and the opening balance, with the
-- running balance after it (mutual settlements).
CREATE TABLE portal.account_entries (
    dealer_id        text NOT NULL,
    position         bigint NOT NULL,
    at               timestamptz NOT NULL,
    kind             text NOT NULL,     -- opening_balance | invoice | payment | credit_note | payment_reversed | invoice_voided
    document_id      text NOT NULL,
    description      text NOT NULL,
    amount           bigint NOT NULL,   -- positive: the dealer owes more
    running_balance  bigint NOT NULL,
    PRIMARY KEY (dealer_id, position)
);

CREATE TABLE portal.stock_levels (
    stock_id         text PRIMARY KEY,  -- "<warehouse>:<sku>"
    warehouse        text NOT NULL,
    sku              text NOT NULL,
    on_hand          bigint NOT NULL,
    reserved         bigint NOT NULL,
    available        bigint NOT NULL,
    last_counted_at  timestamptz,
    updated_at       timestamptz NOT NULL,
    last_position    bigint NOT NULL
);
CREATE INDEX stock_by_sku ON portal.stock_levels (sku, warehouse);

CREATE TABLE portal.subscriptions (
    subscription_id  text PRIMARY KEY,
    dealer_id        text NOT NULL,
    plan             text NOT NULL,     -- as last changed (in effect from plan_effective_on)
    price            bigint NOT NULL,
    plan_effective_on date NOT NULL,
    currency         text NOT NULL,
    period           text NOT NULL,
    status           text NOT NULL,     -- active | paused | cancelled
    starts_on        date NOT NULL,
    cancel_on        date,
    next_billing     date NOT NULL,
    last_billed      date,
    started_position bigint NOT NULL,
    version          bigint NOT NULL,
    last_position    bigint NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX subscriptions_by_dealer ON portal.subscriptions (dealer_id, started_position DESC);
