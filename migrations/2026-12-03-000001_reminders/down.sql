DELETE FROM job_events WHERE action = 'reminded';
ALTER TABLE job_events DROP CONSTRAINT job_events_action_check;
ALTER TABLE job_events ADD CONSTRAINT job_events_action_check
    CHECK (action IN ('booked', 'entered', 'confirmed', 'declined', 'started', 'completed',
        'no-show', 'cancelled', 'rescheduled'));
DELETE FROM emails WHERE kind = 'client-reminder';
ALTER TABLE emails DROP CONSTRAINT emails_kind_check;
ALTER TABLE emails ADD CONSTRAINT emails_kind_check
    CHECK (kind IN ('client-booked', 'client-pending', 'client-confirmed', 'client-declined',
        'owner-new-booking', 'client-cancelled', 'client-rescheduled', 'owner-booking-cancelled',
        'owner-booking-rescheduled'));
DROP TABLE reminders;
ALTER TABLE tenants DROP COLUMN reminder_minutes_before;
