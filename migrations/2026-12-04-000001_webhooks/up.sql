-- Webhooks: a tenant's endpoints and the events each wants; one event row per job change that
-- some endpoint wants (its payload, the job as the change left it), and one delivery per
-- endpoint × event. All three are written by the change's own history statement
-- (repository/src/events.rs), so a change and its deliveries commit together or not at all.
-- No secret is stored: an endpoint's signing secret is derived from its id under
-- WEBHOOK_SIGNING_SECRET (domain/src/webhook.rs).

CREATE TABLE webhooks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url text NOT NULL CHECK (char_length(url) BETWEEN 1 AND 2000),
    -- The domain's WebhookEvent::ALL (tested against this list).
    events text[] NOT NULL CHECK (cardinality(events) >= 1 AND events <@ ARRAY['booking.created',
        'booking.confirmed', 'booking.declined', 'booking.cancelled', 'booking.rescheduled',
        'booking.completed', 'booking.no_show']::text[]),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_by_tenant ON webhooks (tenant_id, created_at);

CREATE TABLE webhook_events (
    -- The job change's history id (job_events.id): the `webhook-id` of every delivery and retry.
    id uuid PRIMARY KEY,
    tenant_id uuid NOT NULL,
    job_id uuid NOT NULL,
    type text NOT NULL CHECK (type IN ('booking.created', 'booking.confirmed', 'booking.declined',
        'booking.cancelled', 'booking.rescheduled', 'booking.completed', 'booking.no_show')),
    at timestamptz NOT NULL,
    -- The job as the change left it: the jobs row (to_jsonb, column names as keys) with
    -- `client_email` and `time_zone`. Personal data: the only stored copy of a webhook's
    -- payload, which an erasure rewrites here.
    job jsonb NOT NULL,
    CONSTRAINT webhook_events_job_of_tenant FOREIGN KEY (tenant_id, job_id)
        REFERENCES jobs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX webhook_events_by_job ON webhook_events (job_id);

CREATE TABLE webhook_deliveries (
    webhook_id uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id uuid NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    last_status_code integer CHECK (last_status_code BETWEEN 100 AND 599),
    -- A short excerpt of the last response body or the last error (never the whole body).
    last_response text CHECK (char_length(last_response) <= 200),
    delivered_at timestamptz,
    PRIMARY KEY (webhook_id, event_id)
);
-- What the relay claims: pending deliveries in due order.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_by_event ON webhook_deliveries (event_id);
