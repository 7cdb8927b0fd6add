-- Calendar feeds: a secret ICS URL per tenant (or per staff member) that calendar apps
-- subscribe to. Only the SHA-256 of the token is kept: the token is 256 random bits, so a plain
-- hash cannot be reversed by guessing, and a database reader cannot hand the URL out.
CREATE TABLE calendar_feeds (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    -- The staff member whose jobs the feed shows (NULL: the whole tenant). No foreign key yet:
    -- the staff tables land with the staff branch, which adds it.
    staff_id uuid,
    token_hash bytea NOT NULL UNIQUE CHECK (octet_length(token_hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calendar_feeds_by_tenant ON calendar_feeds (tenant_id);
