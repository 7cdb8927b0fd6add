ALTER TABLE date_overrides DROP COLUMN id;
ALTER TABLE mail_recipient_turns DROP COLUMN id;
