ALTER TABLE jobs DROP COLUMN client_name, DROP COLUMN client_phone;
