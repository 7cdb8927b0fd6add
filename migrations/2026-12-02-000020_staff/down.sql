DROP INDEX jobs_active_by_start;
ALTER TABLE jobs DROP COLUMN staff_id;
CREATE INDEX jobs_active_by_start ON jobs (tenant_id, starts_at) INCLUDE (ends_at)
    WHERE status IN ('pending-confirmation', 'scheduled', 'in-progress');
DROP TABLE staff_services;
DROP TABLE staff_date_overrides;
DROP TABLE staff_working_hours;
DROP TABLE staff;
