-- The booking core: tenants and their settings, services, working hours, date overrides,
-- contacts, jobs and idempotency keys. Constraints make bad states impossible; the partial
-- index on active jobs serves both hot queries (availability and the capacity check).

CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW IS DISTINCT FROM OLD THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END;
$$;

CREATE TABLE tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    time_zone text NOT NULL CHECK (char_length(time_zone) BETWEEN 1 AND 64),
    notification_email text NOT NULL CHECK (char_length(notification_email) BETWEEN 3 AND 254),
    require_confirmation boolean NOT NULL DEFAULT false,
    allow_same_day boolean NOT NULL DEFAULT true,
    min_notice_minutes integer NOT NULL DEFAULT 60 CHECK (min_notice_minutes BETWEEN 0 AND 525600),
    max_advance_days integer NOT NULL DEFAULT 60 CHECK (max_advance_days BETWEEN 0 AND 730),
    max_bookings_per_slot integer NOT NULL DEFAULT 1 CHECK (max_bookings_per_slot BETWEEN 1 AND 1000),
    slot_interval_minutes integer NOT NULL DEFAULT 30 CHECK (slot_interval_minutes BETWEEN 5 AND 1440),
    buffer_before_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_before_minutes BETWEEN 0 AND 720),
    buffer_after_minutes integer NOT NULL DEFAULT 0 CHECK (buffer_after_minutes BETWEEN 0 AND 720),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER tenants_updated_at BEFORE UPDATE ON tenants
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE services (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slug text NOT NULL CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    duration_minutes integer NOT NULL CHECK (duration_minutes BETWEEN 5 AND 1440),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT services_tenant_slug_key UNIQUE (tenant_id, slug),
    -- Lets jobs reference (tenant, service) so a job can never point at another tenant's service.
    CONSTRAINT services_tenant_id_key UNIQUE (tenant_id, id)
);
CREATE TRIGGER services_updated_at BEFORE UPDATE ON services
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Weekly hours in the tenant's wall time, minutes after local midnight; ISO weekday (1 = Monday).
CREATE TABLE working_hours (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    weekday smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    start_minute smallint NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute smallint NOT NULL CHECK (end_minute <= 1440),
    PRIMARY KEY (tenant_id, weekday, start_minute),
    CHECK (end_minute > start_minute)
);

-- A date override replaces that date's weekly hours. A row without times closes the date.
CREATE TABLE date_overrides (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    on_date date NOT NULL,
    start_minute smallint CHECK (start_minute BETWEEN 0 AND 1439),
    end_minute smallint CHECK (end_minute <= 1440),
    CHECK ((start_minute IS NULL) = (end_minute IS NULL)),
    CHECK (end_minute > start_minute)
);
CREATE UNIQUE INDEX date_overrides_key ON date_overrides (tenant_id, on_date, coalesce(start_minute, -1));

CREATE TABLE contacts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
    email_key text GENERATED ALWAYS AS (lower(email)) STORED,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    phone text CHECK (char_length(phone) <= 40),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contacts_tenant_email_key UNIQUE (tenant_id, email_key),
    CONSTRAINT contacts_tenant_id_key UNIQUE (tenant_id, id)
);
CREATE TRIGGER contacts_updated_at BEFORE UPDATE ON contacts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    service_id uuid NOT NULL,
    contact_id uuid NOT NULL,
    title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    starts_at timestamptz NOT NULL,
    ends_at timestamptz NOT NULL,
    status text NOT NULL CHECK (status IN ('pending-confirmation', 'scheduled', 'in-progress', 'completed', 'cancelled')),
    decline_reason text CHECK (char_length(decline_reason) BETWEEN 1 AND 1000),
    notes text CHECK (char_length(notes) <= 2000),
    source text NOT NULL CHECK (source IN ('public', 'admin')),
    -- Who or what made the last change: 'public-booking', 'owner:<subject>', ...
    changed_by text NOT NULL CHECK (char_length(changed_by) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT jobs_end_after_start CHECK (ends_at > starts_at),
    -- Jobs are bounded (a service lasts at most a day), which keeps overlap lookups on the index.
    CONSTRAINT jobs_at_most_a_day CHECK (ends_at - starts_at <= interval '1 day'),
    CONSTRAINT jobs_decline_reason_only_when_cancelled CHECK (decline_reason IS NULL OR status = 'cancelled'),
    CONSTRAINT jobs_service_of_tenant FOREIGN KEY (tenant_id, service_id) REFERENCES services (tenant_id, id),
    CONSTRAINT jobs_contact_of_tenant FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);
CREATE TRIGGER jobs_updated_at BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
-- The hot path: a tenant's active jobs by start time (index-only with ends_at included).
CREATE INDEX jobs_active_by_start ON jobs (tenant_id, starts_at) INCLUDE (ends_at)
    WHERE status IN ('pending-confirmation', 'scheduled', 'in-progress');
CREATE INDEX jobs_by_contact ON jobs (contact_id);

-- Idempotency-Key records (Stripe-like): the first request with a key claims it; a repeat with
-- the same body replays the stored outcome; the same key with another body is refused.
CREATE TABLE idempotency_keys (
    scope text NOT NULL,
    key text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash bytea NOT NULL,
    -- Set in the booking's own transaction, so a committed booking is never lost to a retry.
    job_id uuid REFERENCES jobs (id) ON DELETE CASCADE,
    response_status smallint,
    response_body text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);
