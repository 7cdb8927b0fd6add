-- Fixed-window counters for the app's own rate limits (per client address and route), kept in
-- Postgres so every Lambda container sees the same count.
CREATE TABLE rate_limit_windows (
    bucket text NOT NULL CHECK (char_length(bucket) BETWEEN 1 AND 200),
    window_start timestamptz NOT NULL,
    hits integer NOT NULL DEFAULT 1 CHECK (hits > 0),
    PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_limit_windows_by_start ON rate_limit_windows (window_start);
