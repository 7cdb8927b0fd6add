-- One name for a job an owner enters by hand, in the code, the API and the data.
ALTER TABLE jobs DROP CONSTRAINT jobs_source_check;
-- A backfill is no change of the job: its updated_at stays.
ALTER TABLE jobs DISABLE TRIGGER jobs_updated_at;
UPDATE jobs SET source = 'hand-entered' WHERE source = 'admin';
ALTER TABLE jobs ENABLE TRIGGER jobs_updated_at;
ALTER TABLE jobs ADD CONSTRAINT jobs_source_check CHECK (source IN ('public', 'hand-entered'));
