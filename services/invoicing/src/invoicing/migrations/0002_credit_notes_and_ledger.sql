-- The parties' legal entities are frozen on the invoice, like their cost centres: credit
-- notes and postings of an old invoice must not move when the company is reorganised.
ALTER TABLE invoices ADD COLUMN supplier_legal_entity text;
ALTER TABLE invoices ADD COLUMN requester_legal_entity text;
UPDATE invoices SET
    supplier_legal_entity = (SELECT legal_entity FROM departments WHERE code = invoices.supplier),
    requester_legal_entity = (SELECT legal_entity FROM departments WHERE code = invoices.requester);
CREATE INDEX invoices_requester ON invoices (requester, period);
CREATE INDEX invoices_supplier ON invoices (supplier, period);

-- Reference data: the service credit of each SLA policy (the sample company's policies).
CREATE TABLE sla_policies (
    supplier           text NOT NULL,
    requester          text NOT NULL DEFAULT '',   -- '' = any requester
    priority           text NOT NULL DEFAULT '',   -- '' = any priority
    service_credit_pct numeric(5, 2) NOT NULL CHECK (service_credit_pct BETWEEN 0 AND 100),
    PRIMARY KEY (supplier, requester, priority)
);

-- What invoicing needs from OrderPlaced: the priority picks the SLA policy, and
-- OrderDelivered does not carry it.
CREATE TABLE order_terms (
    order_id uuid PRIMARY KEY,
    priority text NOT NULL
);

-- Credits whose cause (a cancellation, an SLA breach) arrived before the invoice: settled
-- in the transaction that issues the invoice. The first claim of a kind wins.
CREATE TABLE pending_credits (
    order_id       uuid NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('sla_credit', 'cancellation')),
    supplier       text NOT NULL,
    detail         text NOT NULL,
    cause_event_id uuid NOT NULL,
    caused_at      timestamptz NOT NULL,
    PRIMARY KEY (order_id, kind, supplier)
);

-- A credit note is never edited either; at most one per invoice and kind, so a redelivered
-- or duplicated cause cannot credit twice.
CREATE TABLE credit_notes (
    credit_note_id uuid PRIMARY KEY,
    invoice_id     uuid NOT NULL REFERENCES invoices (invoice_id),
    order_id       uuid NOT NULL,
    root_order_id  uuid NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('sla_credit', 'cancellation')),
    supplier       text NOT NULL,
    requester      text NOT NULL,
    employee_id    text,
    period         text NOT NULL,
    currency       text NOT NULL,
    amount         numeric(18, 2) NOT NULL CHECK (amount > 0),
    reason         text NOT NULL,
    issued_at      timestamptz NOT NULL,
    cause_event_id uuid NOT NULL,
    UNIQUE (invoice_id, kind)
);
CREATE INDEX credit_notes_supplier ON credit_notes (supplier, period);
CREATE INDEX credit_notes_requester ON credit_notes (requester, period);

-- Double-entry ledger: every document posts lines whose debits equal their credits.
CREATE TABLE postings (
    document_kind       text NOT NULL CHECK (document_kind IN ('invoice', 'credit_note')),
    document_id         uuid NOT NULL,
    line_no             integer NOT NULL,
    period              text NOT NULL,
    currency            text NOT NULL,
    legal_entity        text NOT NULL,
    account             text NOT NULL,
    department          text NOT NULL,
    cost_centre         text NOT NULL,
    counterparty_entity text NOT NULL,
    counterparty        text NOT NULL,
    debit               numeric(18, 2) NOT NULL DEFAULT 0 CHECK (debit >= 0),
    credit              numeric(18, 2) NOT NULL DEFAULT 0 CHECK (credit >= 0),
    posted_at           timestamptz NOT NULL,
    PRIMARY KEY (document_kind, document_id, line_no),
    CHECK ((debit = 0) <> (credit = 0))
);
CREATE INDEX postings_period ON postings (period, legal_entity, account);
