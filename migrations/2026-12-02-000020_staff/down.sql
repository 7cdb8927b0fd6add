ALTER TABLE jobs DROP COLUMN staff_id;
DROP TABLE staff_services;
DROP TABLE staff_date_overrides;
DROP TABLE staff_working_hours;
DROP TABLE staff;
