-- DPoP and private_key_jwt (RFC 9449, RFC 7523): a client may be required
-- to prove possession of a key, and may authenticate with a JWT signed by
-- a key of its registered JWKS (inline or by URL).
ALTER TABLE clients ADD COLUMN require_dpop INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks BLOB;
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
