DROP TABLE tenant_members;
