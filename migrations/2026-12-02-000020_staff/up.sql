-- Staff: the people (or rooms) who perform a tenant's services, each with a capacity, hours of
-- their own or the tenant's, and the services they perform. Every reference carries the tenant
-- (composite keys), so nothing of one tenant can ever point at another's.

CREATE TABLE staff (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slug text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    email text CHECK (char_length(email) BETWEEN 3 AND 254),
    capacity integer NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 1 AND 1000),
    active boolean NOT NULL DEFAULT true,
    -- A week of their own (staff_working_hours, possibly empty), or the tenant's hours.
    own_hours boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT staff_tenant_slug_key UNIQUE (tenant_id, slug),
    CONSTRAINT staff_tenant_id_key UNIQUE (tenant_id, id)
);
CREATE TRIGGER staff_updated_at BEFORE UPDATE ON staff
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- A person's own week, as working_hours is the tenant's (read only when staff.own_hours).
CREATE TABLE staff_working_hours (
    tenant_id uuid NOT NULL,
    staff_id uuid NOT NULL,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute smallint NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute smallint NOT NULL CHECK (end_minute <= 1440),
    PRIMARY KEY (staff_id, weekday, start_minute),
    CHECK (end_minute > start_minute),
    CONSTRAINT staff_working_hours_of_tenant FOREIGN KEY (tenant_id, staff_id)
        REFERENCES staff (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX staff_working_hours_by_tenant ON staff_working_hours (tenant_id);

-- A person's date overrides (replacing their week, or the tenant's hours, that date); a row
-- without times: they are off.
CREATE TABLE staff_date_overrides (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id uuid NOT NULL,
    staff_id uuid NOT NULL,
    on_date date NOT NULL,
    start_minute smallint CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute smallint CHECK (end_minute <= 1440),
    CHECK ((start_minute IS NULL) = (end_minute IS NULL)),
    CHECK (end_minute > start_minute),
    CONSTRAINT staff_date_overrides_of_tenant FOREIGN KEY (tenant_id, staff_id)
        REFERENCES staff (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX staff_date_overrides_key
    ON staff_date_overrides (staff_id, on_date, coalesce(start_minute, -1));
CREATE INDEX staff_date_overrides_by_tenant ON staff_date_overrides (tenant_id, on_date);

-- Who performs what. A service with a row here is booked through its staff.
CREATE TABLE staff_services (
    tenant_id uuid NOT NULL,
    staff_id uuid NOT NULL,
    service_id uuid NOT NULL,
    PRIMARY KEY (staff_id, service_id),
    CONSTRAINT staff_services_staff_of_tenant FOREIGN KEY (tenant_id, staff_id)
        REFERENCES staff (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT staff_services_service_of_tenant FOREIGN KEY (tenant_id, service_id)
        REFERENCES services (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX staff_services_by_service ON staff_services (service_id);
CREATE INDEX staff_services_by_tenant ON staff_services (tenant_id);

-- The person a job is assigned to (none for services without staff). MATCH SIMPLE: a job
-- without a person references nobody.
ALTER TABLE jobs ADD COLUMN staff_id uuid,
    ADD CONSTRAINT jobs_staff_of_tenant FOREIGN KEY (tenant_id, staff_id) REFERENCES staff (tenant_id, id);
-- A service without staff counts only jobs without a person against the tenant's capacity: the
-- hot index carries staff_id so that read stays index-only.
DROP INDEX jobs_active_by_start;
CREATE INDEX jobs_active_by_start ON jobs (tenant_id, starts_at) INCLUDE (ends_at, staff_id)
    WHERE status IN ('pending-confirmation', 'scheduled', 'in-progress');
-- A person's active jobs by start (their capacity), index-only with ends_at included.
CREATE INDEX jobs_active_by_staff ON jobs (staff_id, starts_at) INCLUDE (ends_at)
    WHERE staff_id IS NOT NULL AND status IN ('pending-confirmation', 'scheduled', 'in-progress');
-- Each person's latest booking ("any available" prefers the least recently booked).
CREATE INDEX jobs_by_staff_created ON jobs (staff_id, created_at) WHERE staff_id IS NOT NULL;
