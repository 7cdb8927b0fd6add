-- Addresses SES reported as unreachable for a tenant (a permanent bounce) or as not wanting its
-- mail (a complaint). Per tenant: a report comes back for one tenant's mail (found by its SES
-- message id), and lifting it is that tenant's decision alone.
CREATE TABLE suppressions (
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- SHA-256 of the lower-cased address, as mail_recipient_turns keys it: what every check
    -- matches on, so an erasure can clear `email` and the address stays suppressed.
    address_hash bytea NOT NULL CHECK (octet_length(address_hash) = 32),
    -- The lower-cased address, for the owner's list; NULL once the contact was erased.
    email text CHECK (email = lower(email) AND char_length(email) <= 320),
    reason text NOT NULL CHECK (reason IN ('bounce', 'complaint')),
    at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, address_hash)
);

-- A client mail not sent because its address is suppressed; the owner's notice that a job's
-- client cannot be reached (once per job: its event_id stays NULL, so the unique index on
-- (coalesce(event_id, job_id), kind) allows one per job).
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'suppressed'));
ALTER TABLE emails DROP CONSTRAINT emails_kind_check;
ALTER TABLE emails ADD CONSTRAINT emails_kind_check
    CHECK (kind IN ('client-booked', 'client-pending', 'client-confirmed', 'client-declined',
        'owner-new-booking', 'client-cancelled', 'client-rescheduled', 'owner-booking-cancelled',
        'owner-booking-rescheduled', 'client-reminder', 'owner-client-unreachable'));

-- SES reports name the mail by its message id.
CREATE INDEX emails_by_ses_message_id ON emails (ses_message_id) WHERE ses_message_id IS NOT NULL;
