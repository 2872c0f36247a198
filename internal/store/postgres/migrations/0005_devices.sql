-- Devices and sessions: verifier-bound refresh (a client's opt-in and
-- the keyed hash of the PKCE code_verifier kept with each family) and
-- the device authorization requests of RFC 8628.
ALTER TABLE clients ADD COLUMN refresh_requires_verifier boolean NOT NULL DEFAULT false;
-- NULL for a family that is not bound to a verifier.
ALTER TABLE families ADD COLUMN verifier_hash bytea;

-- One row per device authorization request, keyed by the keyed hash of
-- its device_code; the user code is kept only as a keyed hash too. Kept
-- after its use until it expires, so that a second poll is seen.
CREATE TABLE device_codes (
	hash            bytea PRIMARY KEY,
	user_code_hash  bytea NOT NULL UNIQUE,
	client_id       text COLLATE "C" NOT NULL,
	scopes          text[] NOT NULL DEFAULT '{}',
	audiences       text[] NOT NULL DEFAULT '{}',
	created_at      timestamptz,
	expires_at      timestamptz,
	interval_ns     bigint NOT NULL DEFAULT 0,
	last_polled_at  timestamptz,
	status          text NOT NULL DEFAULT 'pending',
	subject         text COLLATE "C" NOT NULL DEFAULT '',
	session_id      text COLLATE "C" NOT NULL DEFAULT '',
	auth_time       timestamptz,
	ip              text NOT NULL DEFAULT '',
	user_agent      text NOT NULL DEFAULT '',
	used_at         timestamptz,
	family_id       text COLLATE "C" NOT NULL DEFAULT '',
	access_token_id text NOT NULL DEFAULT ''
);

-- A client's pending requests are counted before a new one is made.
CREATE INDEX device_codes_client_idx ON device_codes (client_id, expires_at);
-- The janitor's sweep.
CREATE INDEX device_codes_expires_idx ON device_codes (expires_at);
