DROP INDEX emails_by_ses_message_id;
DELETE FROM emails WHERE kind = 'owner-client-unreachable';
UPDATE emails SET status = 'failed' WHERE status = 'suppressed';
ALTER TABLE emails DROP CONSTRAINT emails_kind_check;
ALTER TABLE emails ADD CONSTRAINT emails_kind_check
    CHECK (kind IN ('client-booked', 'client-pending', 'client-confirmed', 'client-declined',
        'owner-new-booking', 'client-cancelled', 'client-rescheduled', 'owner-booking-cancelled',
        'owner-booking-rescheduled', 'client-reminder'));
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check CHECK (status IN ('pending', 'sent', 'failed'));
DROP TABLE suppressions;
