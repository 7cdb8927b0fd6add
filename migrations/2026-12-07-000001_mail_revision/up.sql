-- A client mail's invitation carries the SEQUENCE of the change that queued it, not of the job
-- as it is when the mail goes out: a move's mail held back (SES down, a recipient's turn) and
-- sent after a later cancellation must not outrank the cancellation in the client's calendar.
-- The job's revision when the mail was queued; NULL for mails queued before this column (and by
-- a previous release during a rolling deploy), which are rendered at the job's revision as before.
ALTER TABLE emails ADD COLUMN revision integer CHECK (revision >= 0);
