-- The owner's day: every change of a job is recorded in its history (job_events), in the same
-- transaction as the change; the status `no-show`; who cancelled and why; a revision that the
-- calendar invitation's SEQUENCE follows; one mail per change (not per job and kind), so a job
-- moved many times gets a mail for each move; and the index the owner's calendar reads.

-- The status list, everywhere it is spelled out (the domain's JobStatus::ALL is tested against
-- every one of these checks).
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('pending-confirmation', 'scheduled', 'in-progress', 'completed', 'cancelled', 'no-show'));

ALTER TABLE jobs
    ADD COLUMN cancel_reason text CHECK (char_length(cancel_reason) BETWEEN 1 AND 1000),
    ADD COLUMN cancelled_by text CHECK (cancelled_by IN ('client', 'owner')),
    -- Counts the job's changes: the SEQUENCE of its calendar invitation never falls behind it.
    ADD COLUMN revision integer NOT NULL DEFAULT 0 CHECK (revision >= 0),
    ADD CONSTRAINT jobs_cancellation_only_when_cancelled
        CHECK ((cancel_reason IS NULL AND cancelled_by IS NULL) OR status = 'cancelled'),
    -- Lets job_events reference (tenant, job): history can never name another tenant's job.
    ADD CONSTRAINT jobs_tenant_id_key UNIQUE (tenant_id, id);

-- The owner's calendar: a tenant's jobs of every status in (start, id) order, the keyset its
-- pages follow.
CREATE INDEX jobs_by_tenant_start ON jobs (tenant_id, starts_at, id);

CREATE TABLE job_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    job_id uuid NOT NULL,
    -- Oldest first, even for events recorded at the same instant.
    position bigint GENERATED ALWAYS AS IDENTITY,
    at timestamptz NOT NULL,
    -- `client`, `system`, or `owner:<subject>` (the token's subject).
    actor text NOT NULL CHECK ((actor IN ('client', 'system') OR actor LIKE 'owner:%')
        AND char_length(actor) <= 200),
    action text NOT NULL CHECK (action IN ('booked', 'entered', 'confirmed', 'declined', 'started',
        'completed', 'no-show', 'cancelled', 'rescheduled')),
    from_status text CHECK (from_status IN ('pending-confirmation', 'scheduled', 'in-progress', 'completed', 'cancelled', 'no-show')),
    to_status text CHECK (to_status IN ('pending-confirmation', 'scheduled', 'in-progress', 'completed', 'cancelled', 'no-show')),
    from_start timestamptz,
    to_start timestamptz,
    from_end timestamptz,
    to_end timestamptz,
    reason text CHECK (char_length(reason) BETWEEN 1 AND 1000),
    CONSTRAINT job_events_job_of_tenant FOREIGN KEY (tenant_id, job_id)
        REFERENCES jobs (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX job_events_by_job ON job_events (job_id, position);

-- One event per existing job: its booking (public) or its entry (by hand), at its creation.
-- (Earlier confirmations and declines were not recorded as events; their mails stay with it.)
-- A job's first event has the job's own id (so does every later booking's, see
-- repository/src/events.rs), which is what a mail without an event belongs to.
INSERT INTO job_events (id, tenant_id, job_id, at, actor, action, to_status, to_start, to_end)
SELECT id, tenant_id, id, created_at,
       CASE WHEN source = 'public' THEN 'client'
            WHEN changed_by LIKE 'owner:%' THEN changed_by
            ELSE 'system' END,
       CASE WHEN source = 'public' THEN 'booked' ELSE 'entered' END,
       -- The status it landed in: a hand-entered job is scheduled at once; a booking's client
       -- mail says which (no job has moved yet, so its times are the ones it was booked for).
       CASE WHEN source = 'hand-entered' THEN 'scheduled'
            WHEN EXISTS (SELECT 1 FROM emails WHERE emails.job_id = jobs.id AND kind = 'client-pending')
                THEN 'pending-confirmation'
            WHEN EXISTS (SELECT 1 FROM emails WHERE emails.job_id = jobs.id AND kind = 'client-booked')
                THEN 'scheduled'
            ELSE status END,
       starts_at, ends_at
FROM jobs;

-- Mails belong to the change that caused them: one of each kind per change, never two however
-- often the change's request is retried. A mail without an event belongs to the job's first
-- event (the booking), whose id is the job's.
ALTER TABLE emails ADD COLUMN event_id uuid REFERENCES job_events (id) ON DELETE CASCADE;
ALTER TABLE emails DROP CONSTRAINT emails_job_kind_key;
CREATE UNIQUE INDEX emails_change_kind_key ON emails ((coalesce(event_id, job_id)), kind);
CREATE INDEX emails_by_job ON emails (job_id);
ALTER TABLE emails DROP CONSTRAINT emails_kind_check;
ALTER TABLE emails ADD CONSTRAINT emails_kind_check
    CHECK (kind IN ('client-booked', 'client-pending', 'client-confirmed', 'client-declined',
        'owner-new-booking', 'client-cancelled', 'client-rescheduled'));
