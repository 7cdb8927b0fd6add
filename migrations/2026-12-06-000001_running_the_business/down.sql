DROP INDEX jobs_tenant_external_id_key;
ALTER TABLE jobs DROP COLUMN external_id;
ALTER TABLE contacts DROP COLUMN erased_at;
DROP TABLE tenant_changes;
