-- Who may act for which tenant. Owner tokens verified by the API Gateway authorizer name a user
-- (issuer and subject), never their tenant: a claimed tenant could be written by the user
-- themselves. Only the operator's tool (scripts/tenant member add) writes this table.
CREATE TABLE tenant_members (
    issuer text NOT NULL CHECK (char_length(issuer) BETWEEN 1 AND 500),
    subject text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 500),
    tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- One tenant per user: the lookup on every owner request is this primary key.
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX tenant_members_by_tenant ON tenant_members (tenant_id);
