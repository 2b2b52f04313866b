-- Order intake owns legal entities, departments, the catalogue and employees. Each row keeps
-- its definition as the company file has it (`definition`, the contract model as JSON; the
-- typed columns are what placing an order reads), whether it is part of the company (a removed
-- one stays, inactive: orders and history name it), what the company file last said of it
-- (`file_definition`, null: not in it) and who changed it last.
CREATE TABLE legal_entities (
    code            text PRIMARY KEY,
    name            text NOT NULL,
    currency        text NOT NULL,
    definition      jsonb NOT NULL,
    file_definition jsonb,
    active          boolean NOT NULL DEFAULT true,
    changed_by      text NOT NULL,
    changed_at      timestamptz NOT NULL
);
ALTER TABLE departments
    ADD COLUMN definition      jsonb,
    ADD COLUMN file_definition jsonb,
    ADD COLUMN active          boolean NOT NULL DEFAULT true,
    ADD COLUMN changed_by      text NOT NULL DEFAULT 'company-file',
    ADD COLUMN changed_at      timestamptz NOT NULL DEFAULT now();
ALTER TABLE catalogue
    ADD COLUMN definition      jsonb,
    ADD COLUMN file_definition jsonb,
    ADD COLUMN active          boolean NOT NULL DEFAULT true,
    ADD COLUMN changed_by      text NOT NULL DEFAULT 'company-file',
    ADD COLUMN changed_at      timestamptz NOT NULL DEFAULT now();
ALTER TABLE employees
    ADD COLUMN definition      jsonb,
    ADD COLUMN file_definition jsonb,
    ADD COLUMN active          boolean NOT NULL DEFAULT true,
    ADD COLUMN changed_by      text NOT NULL DEFAULT 'company-file',
    ADD COLUMN changed_at      timestamptz NOT NULL DEFAULT now();

-- Rows loaded before came from a company file (the sample): their definition is what the
-- columns hold. A catalogue item's transfer-price rule was not kept, only the price it gave:
-- it becomes a fixed price, so the next load records the file's rule as a change (the price
-- itself changes only if the file says so).
UPDATE departments SET definition = jsonb_build_object(
    'code', code, 'name', name, 'legal_entity', legal_entity, 'cost_centre', cost_centre,
    'monthly_budget', monthly_budget::text, 'approval_threshold', approval_threshold::text,
    'over_budget', over_budget, 'employee_shop', employee_shop,
    'employee_discount_pct', employee_discount_pct::text);
UPDATE catalogue SET definition = jsonb_build_object(
    'sku', sku, 'name', name, 'supplier', supplier, 'unit', unit,
    'standard_cost', standard_cost::text,
    'transfer_price_rule', jsonb_build_object('kind', 'fixed', 'price', transfer_price::text),
    'list_price', list_price::text, 'lead_time_days', lead_time_days,
    'bill_of_materials', components);
UPDATE employees SET definition = jsonb_build_object(
    'employee_id', employee_id, 'name', name, 'department', department,
    'yearly_allowance', yearly_allowance::text);
UPDATE departments SET file_definition = definition;
UPDATE catalogue SET file_definition = definition;
UPDATE employees SET file_definition = definition;

ALTER TABLE departments ALTER COLUMN definition SET NOT NULL;
ALTER TABLE catalogue ALTER COLUMN definition SET NOT NULL;
ALTER TABLE employees ALTER COLUMN definition SET NOT NULL;

-- Who changed which entity when: before and after are null where it did not exist or was
-- inactive (created, removed, brought back).
CREATE TABLE reference_changes (
    change_id  bigserial PRIMARY KEY,
    entity_key text NOT NULL,                -- "department:ASSEMBLY", "catalogue:FRAME-CITY"
    changed_by text NOT NULL,                -- an admin key id, or company-file
    changed_at timestamptz NOT NULL,
    before     jsonb,
    after      jsonb
);
CREATE INDEX reference_changes_entity ON reference_changes (entity_key, change_id);
