ALTER TABLE tenants
    DROP COLUMN change_notice_minutes,
    DROP COLUMN client_can_cancel,
    DROP COLUMN client_can_reschedule;
ALTER TABLE jobs DROP COLUMN manage_version;
DELETE FROM emails WHERE kind IN ('owner-booking-cancelled', 'owner-booking-rescheduled');
ALTER TABLE emails DROP CONSTRAINT emails_kind_check;
ALTER TABLE emails ADD CONSTRAINT emails_kind_check
    CHECK (kind IN ('client-booked', 'client-pending', 'client-confirmed', 'client-declined',
        'owner-new-booking', 'client-cancelled', 'client-rescheduled'));
