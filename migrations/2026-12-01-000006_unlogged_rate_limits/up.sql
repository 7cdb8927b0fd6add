-- Rate-limit windows are counters of the last minutes: losing them in a crash only forgives a
-- few requests. Unlogged, a hit writes no WAL, so counting it on its own (before the tenant
-- guard, outside the booking's transaction) costs no durable commit. Not copied to replicas or
-- kept by point-in-time recovery — nothing there needs them.
ALTER TABLE rate_limit_windows SET UNLOGGED;
