-- dealerline read models, version 3: analytics for money, stock and subscriptions.
-- Months are first days ('2026-11-01'); a flow is dated by the event's log time, except where a
-- column says otherwise. Money is bigint minor units, one row per currency: never summed across.

-- One row per invoice: its life as facts (when issued, due, paid in full, voided, overdue).
CREATE TABLE analytics.invoice_facts (
    invoice_id     text PRIMARY KEY,
    dealer_id      text NOT NULL,
    currency       text NOT NULL,
    source         text NOT NULL,     -- order | subscription | delivery | manual
    source_id      text NOT NULL,
    total          bigint NOT NULL,
    paid           bigint NOT NULL,   -- applied payments, net of reversals
    status         text NOT NULL,     -- open | paid | voided
    issued_on      date NOT NULL,
    due_date       date NOT NULL,
    issued_at      timestamptz NOT NULL,
    paid_at        timestamptz,       -- when the open amount last reached 0
    overdue_at     timestamptz,
    voided_at      timestamptz,
    time_to_pay    interval GENERATED ALWAYS AS (paid_at - issued_at) STORED,
    last_position  bigint NOT NULL
);
CREATE INDEX invoice_facts_by_dealer ON analytics.invoice_facts (dealer_id, issued_on);

-- Month × dealer: what was invoiced (by source), voided and credited; net revenue.
CREATE TABLE analytics.revenue_monthly (
    month                 date NOT NULL,
    dealer_id             text NOT NULL,
    currency              text NOT NULL,
    invoices              bigint NOT NULL,
    invoiced              bigint NOT NULL,
    order_revenue         bigint NOT NULL,
    subscription_revenue  bigint NOT NULL,
    other_revenue         bigint NOT NULL,  -- delivery and manual invoices
    voided                bigint NOT NULL,  -- invoices voided this month (their open amount)
    credit_notes          bigint NOT NULL,
    credited              bigint NOT NULL,
    net_revenue           bigint GENERATED ALWAYS AS (invoiced - voided - credited) STORED,
    PRIMARY KEY (month, dealer_id, currency)
);

-- Month × currency: days sales outstanding. receivables = open invoice amounts at the month's
-- end (carried through months without activity); dso = receivables / sales × days in month.
-- Every month from the first invoice on has a row.
CREATE TABLE analytics.dso_monthly (
    month        date NOT NULL,
    currency     text NOT NULL,
    days         bigint NOT NULL,
    invoices     bigint NOT NULL,
    sales        bigint NOT NULL,   -- invoiced this month
    collected    bigint NOT NULL,   -- payments applied to invoices this month, net of reversals
    voided       bigint NOT NULL,
    receivables  bigint NOT NULL,   -- at the end of the month
    dso          numeric GENERATED ALWAYS AS
                     (CASE WHEN sales > 0 THEN round(receivables::numeric * days / sales, 1) END) STORED,
    PRIMARY KEY (month, currency)
);

-- Day × warehouse × SKU × actor: every movement of stock, and who made it (thefts and overuse
-- show up by actor).
CREATE TABLE analytics.stock_movements (
    day           date NOT NULL,
    warehouse     text NOT NULL,
    sku           text NOT NULL,
    actor         text NOT NULL,
    received      bigint NOT NULL,
    reserved      bigint NOT NULL,
    released      bigint NOT NULL,
    issued        bigint NOT NULL,
    written_off   bigint NOT NULL,
    count_difference bigint NOT NULL,  -- counted − on hand, summed over the day's counts
    movements     bigint NOT NULL,     -- events
    PRIMARY KEY (day, warehouse, sku, actor)
);
CREATE INDEX stock_movements_by_sku ON analytics.stock_movements (sku, day);

-- One row per subscription: plan, price, its monthly value (what it adds to MRR), status.
CREATE TABLE analytics.subscription_facts (
    subscription_id    text PRIMARY KEY,
    dealer_id          text NOT NULL,
    currency           text NOT NULL,
    period             text NOT NULL,
    plan               text NOT NULL,
    price              bigint NOT NULL,  -- per period
    monthly_value      bigint NOT NULL,  -- price per month, rounded half up to the minor unit
    plan_effective_on  date NOT NULL,
    status             text NOT NULL,    -- active | paused | cancelled
    starts_on          date NOT NULL,
    cancel_on          date,
    periods_billed     bigint NOT NULL,
    billed             bigint NOT NULL,
    plans              jsonb NOT NULL,   -- [{"on", "plan", "price"}]: the schedule, one plan per date
    pauses             jsonb NOT NULL,   -- [{"on", "paused"}]: every pause and resume, in order
    last_position      bigint NOT NULL
);

-- Month × currency: monthly recurring revenue at the month's end and how it moved. Movements
-- are dated by when they take effect (start date, plan change's effective date, cancellation's
-- effective date; pause and resume on the day they happen), so a cancellation booked for next
-- month shows next month. Every month from the first movement to the last has a row:
--   mrr = previous mrr + new + expansion − contraction − paused + resumed − churned
CREATE TABLE analytics.mrr_monthly (
    month                  date NOT NULL,
    currency               text NOT NULL,
    new_mrr                bigint NOT NULL,
    expansion_mrr          bigint NOT NULL,
    contraction_mrr        bigint NOT NULL,
    paused_mrr             bigint NOT NULL,
    resumed_mrr            bigint NOT NULL,
    churned_mrr            bigint NOT NULL,
    new_subscriptions      bigint NOT NULL,
    churned_subscriptions  bigint NOT NULL,
    mrr                    bigint NOT NULL,  -- at the end of the month
    active_subscriptions   bigint NOT NULL,  -- counted in mrr at the end of the month
    PRIMARY KEY (month, currency)
);
