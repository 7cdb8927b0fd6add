DROP TABLE idempotency_keys;
DROP TABLE jobs;
DROP TABLE contacts;
DROP TABLE date_overrides;
DROP TABLE working_hours;
DROP TABLE services;
DROP TABLE tenants;
DROP FUNCTION set_updated_at();
