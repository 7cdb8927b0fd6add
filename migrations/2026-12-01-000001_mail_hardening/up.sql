-- Mail hardening. Deleting a job cascades to its idempotency keys: without an index on job_id
-- every such delete scans the whole table.
CREATE INDEX idempotency_keys_by_job ON idempotency_keys (job_id);
