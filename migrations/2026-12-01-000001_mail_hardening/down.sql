DROP TABLE mail_recipient_turns;
DROP INDEX idempotency_keys_by_job;
