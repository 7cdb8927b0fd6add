ALTER TABLE jobs DROP CONSTRAINT jobs_source_check;
UPDATE jobs SET source = 'admin' WHERE source = 'hand-entered';
ALTER TABLE jobs ADD CONSTRAINT jobs_source_check CHECK (source IN ('public', 'admin'));
