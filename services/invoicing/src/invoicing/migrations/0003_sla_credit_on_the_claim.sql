-- amends checksum a54c80432742a94b8911441087a3e32dd09834d0ff29c5ae06828bee0a8ddac3
-- (the first text of this file dropped the percentage of the SLA claims still pending at the
-- upgrade: they credited nothing when their invoice came. This text resolves it from the
-- policies before they are dropped. A database that applied the first text keeps it: its
-- policies are gone, the amendment cannot run there.)

-- SlaBreached carries the service credit of the policy monitoring timed the stage with, so
-- invoicing stops resolving SLA policies (one owner per rule). A breach that waits for its
-- invoice keeps the percentage it carried; NULL for a cancellation, and for a breach
-- published before the event carried it (such a breach credits nothing). Unscaled numeric:
-- a waiting claim credits exactly what one settled at once would.
ALTER TABLE pending_credits
    ADD COLUMN service_credit_pct numeric CHECK (service_credit_pct BETWEEN 0 AND 100);

-- Claims stored before this migration are owed the credit of the policy that matched their
-- order, as invoicing resolved it then: the most specific of the supplier's policies, one
-- naming the requester beating one naming the priority, beating the supplier's alone (an
-- unknown priority matches priority-free policies only). The requester is known only when the
-- invoice comes, so the credit is kept per requester with a policy of its own, and '' for any
-- other requester; take_pending_claims picks the invoice's.
CREATE TABLE legacy_claim_credits (
    order_id           uuid NOT NULL,
    supplier           text NOT NULL,
    requester          text NOT NULL,   -- '' = any requester without a policy of its own
    service_credit_pct numeric NOT NULL CHECK (service_credit_pct BETWEEN 0 AND 100),
    PRIMARY KEY (order_id, supplier, requester)
);
INSERT INTO legacy_claim_credits (order_id, supplier, requester, service_credit_pct)
SELECT DISTINCT ON (c.order_id, c.supplier, r.requester)
       c.order_id, c.supplier, r.requester, p.service_credit_pct
FROM pending_credits c
LEFT JOIN order_terms t ON t.order_id = c.order_id
CROSS JOIN LATERAL (
    SELECT requester FROM sla_policies WHERE supplier = c.supplier UNION SELECT ''
) r
JOIN sla_policies p
  ON p.supplier = c.supplier
 AND p.requester IN ('', r.requester)
 AND p.priority IN ('', coalesce(t.priority, ''))
WHERE c.kind = 'sla_credit'
ORDER BY c.order_id, c.supplier, r.requester, p.requester <> '' DESC, p.priority <> '' DESC;

DROP TABLE sla_policies;
DROP TABLE order_terms;
