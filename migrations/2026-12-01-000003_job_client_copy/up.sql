-- A job keeps the client's name and phone as they were given for it. Contacts are matched by
-- email, which anybody can type: a public booking must never rewrite what another booking (or
-- the contact) shows.
ALTER TABLE jobs
    ADD COLUMN client_name text CHECK (char_length(client_name) BETWEEN 1 AND 200),
    ADD COLUMN client_phone text CHECK (char_length(client_phone) <= 40);
-- A backfill is no change of the job: its updated_at stays.
ALTER TABLE jobs DISABLE TRIGGER jobs_updated_at;
UPDATE jobs SET client_name = contacts.name, client_phone = contacts.phone
FROM contacts WHERE contacts.id = jobs.contact_id;
ALTER TABLE jobs ENABLE TRIGGER jobs_updated_at;
ALTER TABLE jobs ALTER COLUMN client_name SET NOT NULL;
