-- Devices and sessions: verifier-bound refresh (a client's opt-in and
-- the keyed hash of the PKCE code_verifier kept with each family) and
-- the device authorization requests of RFC 8628.
ALTER TABLE clients ADD COLUMN refresh_requires_verifier INTEGER NOT NULL DEFAULT 0;
-- NULL for a family that is not bound to a verifier.
ALTER TABLE families ADD COLUMN verifier_hash BLOB;

-- One row per device authorization request, keyed by the keyed hash of
-- its device_code; the user code is kept only as a keyed hash too. Kept
-- after its use until it expires, so that a second poll is seen.
CREATE TABLE device_codes (
	hash            BLOB PRIMARY KEY,
	user_code_hash  BLOB NOT NULL UNIQUE,
	client_id       TEXT NOT NULL,
	scopes          TEXT NOT NULL DEFAULT '',
	audiences       TEXT NOT NULL DEFAULT '',
	created_at      INTEGER,
	expires_at      INTEGER,
	interval_ns     INTEGER NOT NULL DEFAULT 0,
	last_polled_at  INTEGER,
	status          TEXT NOT NULL DEFAULT 'pending',
	subject         TEXT NOT NULL DEFAULT '',
	session_id      TEXT NOT NULL DEFAULT '',
	auth_time       INTEGER,
	ip              TEXT NOT NULL DEFAULT '',
	user_agent      TEXT NOT NULL DEFAULT '',
	used_at         INTEGER,
	family_id       TEXT NOT NULL DEFAULT '',
	access_token_id TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

-- A client's pending requests are counted before a new one is made.
CREATE INDEX device_codes_client_idx ON device_codes (client_id, expires_at);
-- The janitor's sweep.
CREATE INDEX device_codes_expires_idx ON device_codes (expires_at);
