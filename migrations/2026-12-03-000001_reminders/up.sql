-- Reminders: the tenant's offsets before a start (`reminderMinutesBefore`: 0–3 distinct values
-- of 15–10080 minutes; distinct is the domain's check, a CHECK cannot compare elements), and the
-- due reminders of scheduled jobs. A job's change writes its reminders in its own transaction
-- (armed when it lands scheduled, replaced when it moves, removed when it leaves `scheduled`);
-- the relay takes the due ones through `reminders_due` and turns each into a mail in the
-- transaction that marks it taken, so each is mailed once.

ALTER TABLE tenants
    ADD COLUMN reminder_minutes_before integer[] NOT NULL DEFAULT '{1440}'
        CHECK (cardinality(reminder_minutes_before) <= 3
            AND array_position(reminder_minutes_before, NULL) IS NULL
            AND 15 <= ALL (reminder_minutes_before)
            AND 10080 >= ALL (reminder_minutes_before));

CREATE TABLE reminders (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL,
    job_id uuid NOT NULL,
    offset_minutes integer NOT NULL CHECK (offset_minutes BETWEEN 15 AND 10080),
    -- The job's start less the offset, when it was armed.
    due_at timestamptz NOT NULL,
    -- When the relay took it (mailed, or dropped because the job was no longer remindable);
    -- a taken reminder stays as the record that it was.
    taken_at timestamptz,
    CONSTRAINT reminders_job_of_tenant FOREIGN KEY (tenant_id, job_id)
        REFERENCES jobs (tenant_id, id) ON DELETE CASCADE,
    -- Also the index a change's replacement of a job's reminders reads.
    CONSTRAINT reminders_job_offset_due_key UNIQUE (job_id, offset_minutes, due_at)
);
-- What the relay reads: reminders not yet taken, by due time. Small, as taken ones leave it.
CREATE INDEX reminders_due ON reminders (due_at) WHERE taken_at IS NULL;
CREATE INDEX reminders_by_tenant ON reminders (tenant_id);

-- Existing scheduled jobs get their reminders as a booking made now would (default offset).
INSERT INTO reminders (tenant_id, job_id, offset_minutes, due_at)
SELECT jobs.tenant_id, jobs.id, offsets.minutes, jobs.starts_at - make_interval(mins => offsets.minutes)
FROM jobs
JOIN tenants ON tenants.id = jobs.tenant_id
CROSS JOIN LATERAL unnest(tenants.reminder_minutes_before) AS offsets(minutes)
WHERE jobs.status = 'scheduled'
  AND jobs.starts_at - make_interval(mins => offsets.minutes) > now();

-- A reminder is a mail of its own, recorded in the job's history (by `system`).
ALTER TABLE emails DROP CONSTRAINT emails_kind_check;
ALTER TABLE emails ADD CONSTRAINT emails_kind_check
    CHECK (kind IN ('client-booked', 'client-pending', 'client-confirmed', 'client-declined',
        'owner-new-booking', 'client-cancelled', 'client-rescheduled', 'owner-booking-cancelled',
        'owner-booking-rescheduled', 'client-reminder'));
ALTER TABLE job_events DROP CONSTRAINT job_events_action_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_action_check
    CHECK (action IN ('booked', 'entered', 'confirmed', 'declined', 'started', 'completed',
        'no-show', 'cancelled', 'rescheduled', 'reminded'));
