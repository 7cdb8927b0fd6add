-- Running the business through the API: a tenant-level audit list of catalog changes (who
-- changed the hours, when, what), erased contacts, and the external id of imported jobs.

-- One row per change of the tenant's setup (settings, hours, overrides, services), written in
-- the change's own transaction. `what` names the change; `detail` holds its before and after.
CREATE TABLE tenant_changes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- Newest first, even for changes recorded at the same instant.
    position bigint GENERATED ALWAYS AS IDENTITY,
    at timestamptz NOT NULL,
    actor text NOT NULL CHECK ((actor = 'system' OR actor LIKE 'owner:%') AND char_length(actor) <= 200),
    what text NOT NULL CHECK (what IN ('tenant', 'working-hours', 'date-override', 'service-created',
        'service', 'staff-created', 'staff', 'staff-working-hours', 'staff-date-override',
        'contact-erased', 'import')),
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX tenant_changes_by_tenant ON tenant_changes (tenant_id, position DESC);

-- An erased contact keeps its row (its jobs still count) with nothing personal in it; its
-- address is replaced by a unique placeholder, so the person can book again as a new contact.
ALTER TABLE contacts ADD COLUMN erased_at timestamptz;

-- A job moved in from another system keeps that system's id: a re-run of the import finds it.
ALTER TABLE jobs ADD COLUMN external_id text CHECK (char_length(external_id) BETWEEN 1 AND 200);
CREATE UNIQUE INDEX jobs_tenant_external_id_key ON jobs (tenant_id, external_id)
    WHERE external_id IS NOT NULL;
