-- Mail hardening. Deleting a job cascades to its idempotency keys: without an index on job_id
-- every such delete scans the whole table.
CREATE INDEX idempotency_keys_by_job ON idempotency_keys (job_id);

-- The turns of public-booking mails to each client address (across tenants): a booking's client
-- mail is due at the earliest time leaving fewer than 5 turns of its address in the hour before,
-- so the booking form cannot make a business mail anyone more often. Keyed by a hash of the
-- lowercased address: no address in clear. Turns over an hour old are pruned by the relay.
CREATE TABLE mail_recipient_turns (
    recipient bytea NOT NULL,
    due_at timestamptz NOT NULL
);
CREATE INDEX mail_recipient_turns_by_recipient ON mail_recipient_turns (recipient, due_at);
CREATE INDEX mail_recipient_turns_by_due ON mail_recipient_turns (due_at);
