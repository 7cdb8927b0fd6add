ALTER TABLE emails DROP COLUMN revision;
