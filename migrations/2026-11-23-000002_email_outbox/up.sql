-- The email outbox: a mail is recorded in the same transaction as the state change that causes
-- it, sent after commit, and retried with backoff until SES accepts it. One row per mail; its
-- SES message id and delivery status stay with the job.

CREATE TABLE emails (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('client-booked', 'client-pending', 'client-confirmed', 'client-declined', 'owner-new-booking')),
    status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    -- Attempts started (a sender counts one when it leases the mail).
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- When a pending mail is next due: after its backoff, or after a sender's lease runs out.
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text CHECK (char_length(last_error) <= 2000),
    ses_message_id text CHECK (char_length(ses_message_id) <= 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz,
    -- One state change can never produce two mails, however often its request is retried.
    CONSTRAINT emails_job_kind_key UNIQUE (job_id, kind),
    CONSTRAINT emails_sent_has_message_id CHECK (status <> 'sent' OR (ses_message_id IS NOT NULL AND sent_at IS NOT NULL))
);
CREATE TRIGGER emails_updated_at BEFORE UPDATE ON emails
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
-- What senders look for: pending mails by due time. Small, as sent and failed mails leave it.
CREATE INDEX emails_due ON emails (next_attempt_at) WHERE status = 'pending';
CREATE INDEX emails_by_tenant ON emails (tenant_id);
