-- Invoicing's copy of the legal entities (their currency) and of the exchange rates, from
-- LegalEntityDefined and FxRateDefined on the reference topic (order intake owns them). The
-- group view of the ledger translates at the rate valid on each posting's day.
CREATE TABLE legal_entities (
    code       text PRIMARY KEY,
    currency   text NOT NULL,
    active     boolean NOT NULL DEFAULT true,
    changed_at timestamptz
);
CREATE TABLE fx_rates (
    base       text NOT NULL,
    quote      text NOT NULL,
    valid_from date NOT NULL,
    rate       numeric NOT NULL CHECK (rate > 0),
    PRIMARY KEY (base, quote, valid_from)
);

-- A cancellation the supplier settled (WorkCancelled): the order is never invoiced, and SLA
-- claims waiting for its invoice are dropped (nothing will be charged to credit).
CREATE TABLE cancelled_orders (
    order_id       uuid PRIMARY KEY,
    supplier       text NOT NULL,
    cancelled_at   timestamptz NOT NULL,
    cause_event_id uuid NOT NULL
);

-- When the supplier shipped (OrderShipped), for deliveries that do not carry shipped_at:
-- an end-to-end breach credits only when the supplier shipped after its deadline.
CREATE TABLE shipments (
    order_id   uuid PRIMARY KEY,
    shipped_at timestamptz NOT NULL
);
-- The breach's deadline travels with a claim waiting for its invoice (end-to-end claims are
-- judged against the shipping time when the invoice comes); stage NULL for older claims.
ALTER TABLE pending_credits ADD COLUMN stage text;
ALTER TABLE pending_credits ADD COLUMN deadline timestamptz;

-- Invoices in the order's (the supplier's) currency; when the requester's differs, the rate
-- of the order and the total in the requester's currency. Credit notes use their invoice's.
ALTER TABLE invoices ADD COLUMN requester_currency text;
ALTER TABLE invoices ADD COLUMN fx_rate numeric CHECK (fx_rate > 0);
ALTER TABLE invoices ADD COLUMN requester_total numeric(18, 2);
ALTER TABLE invoices ADD COLUMN original_period text;
ALTER TABLE credit_notes ADD COLUMN requester_currency text;
ALTER TABLE credit_notes ADD COLUMN fx_rate numeric CHECK (fx_rate > 0);
ALTER TABLE credit_notes ADD COLUMN requester_amount numeric(18, 2);
ALTER TABLE credit_notes ADD COLUMN original_period text;
ALTER TABLE credit_notes ADD COLUMN dispute_id uuid;
ALTER TABLE credit_notes ADD COLUMN reverses_credit_note_id uuid;

-- Credit note kinds are the contract's (sla, dispute, reversal); `cancellation` notes issued
-- before this migration stay as they were (invoicing no longer credits a cancellation). One
-- SLA credit per invoice; any number of dispute credits, one per dispute; a reversal is
-- negative.
ALTER TABLE credit_notes DROP CONSTRAINT credit_notes_kind_check;
UPDATE credit_notes SET kind = 'sla' WHERE kind = 'sla_credit';
ALTER TABLE credit_notes ADD CONSTRAINT credit_notes_kind_check
    CHECK (kind IN ('sla', 'dispute', 'reversal', 'cancellation'));
ALTER TABLE credit_notes DROP CONSTRAINT credit_notes_amount_check;
ALTER TABLE credit_notes ADD CONSTRAINT credit_notes_amount_check CHECK (amount <> 0);
ALTER TABLE credit_notes DROP CONSTRAINT credit_notes_invoice_id_kind_key;
CREATE UNIQUE INDEX credit_notes_one_per_kind ON credit_notes (invoice_id, kind)
    WHERE kind IN ('sla', 'cancellation');
CREATE UNIQUE INDEX credit_notes_one_per_dispute ON credit_notes (dispute_id)
    WHERE dispute_id IS NOT NULL;
CREATE UNIQUE INDEX credit_notes_one_reversal ON credit_notes (reverses_credit_note_id)
    WHERE reverses_credit_note_id IS NOT NULL;

-- Waiting SLA claims keep their percentage; waiting cancellation claims are not owed any
-- more (a cancellation is a request; a settled one is never invoiced, a refused one is
-- charged in full), so they are removed here rather than left to wait for ever.
ALTER TABLE pending_credits DROP CONSTRAINT pending_credits_kind_check;
UPDATE pending_credits SET kind = 'sla' WHERE kind = 'sla_credit';
DELETE FROM pending_credits WHERE kind = 'cancellation';
ALTER TABLE pending_credits ADD CONSTRAINT pending_credits_kind_check CHECK (kind = 'sla');
