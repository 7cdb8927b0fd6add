-- Every table has a primary key, so `diesel print-schema` can describe it (schema.rs is
-- generated from the migrations and checked by scripts/test).
ALTER TABLE date_overrides ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
ALTER TABLE mail_recipient_turns ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY;
