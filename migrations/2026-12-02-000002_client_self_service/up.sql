-- Client self-service: a job's manage-link version (the token is a MAC of the job id and this
-- version, never stored; a reschedule bumps it, so every earlier link dies) and the tenant's
-- limits on what a client may change by that link.
ALTER TABLE jobs
    ADD COLUMN manage_version integer NOT NULL DEFAULT 1 CHECK (manage_version >= 1);

ALTER TABLE tenants
    ADD COLUMN change_notice_minutes integer NOT NULL DEFAULT 1440
        CHECK (change_notice_minutes BETWEEN 0 AND 525600),
    ADD COLUMN client_can_cancel boolean NOT NULL DEFAULT true,
    ADD COLUMN client_can_reschedule boolean NOT NULL DEFAULT true;

-- The mails a client's own change sends the owner.
ALTER TABLE emails DROP CONSTRAINT emails_kind_check;
ALTER TABLE emails ADD CONSTRAINT emails_kind_check
    CHECK (kind IN ('client-booked', 'client-pending', 'client-confirmed', 'client-declined',
        'owner-new-booking', 'client-cancelled', 'client-rescheduled', 'owner-booking-cancelled',
        'owner-booking-rescheduled'));
