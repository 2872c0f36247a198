-- DPoP and private_key_jwt (RFC 9449, RFC 7523): a client may be required
-- to prove possession of a key, and may authenticate with a JWT signed by
-- a key of its registered JWKS (inline or by URL).
ALTER TABLE clients ADD COLUMN require_dpop boolean NOT NULL DEFAULT false;
ALTER TABLE clients ADD COLUMN auth_method text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks bytea;
ALTER TABLE clients ADD COLUMN jwks_uri text NOT NULL DEFAULT '';
