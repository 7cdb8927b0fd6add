DROP INDEX idempotency_keys_by_job;
