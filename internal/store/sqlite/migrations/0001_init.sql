-- Rotor's initial SQLite schema.
--
-- Conventions: times are INTEGER unix microseconds (NULL for a zero Go
-- time), durations INTEGER nanoseconds (NULL for nil), lists space-joined
-- TEXT, bytes BLOB (NULL for nil). No foreign keys: families outlive a
-- deleted client until the janitor collects them.

CREATE TABLE clients (
	id                      TEXT PRIMARY KEY,
	secret_hash             BLOB,
	secret_phc              TEXT NOT NULL DEFAULT '',
	public                  INTEGER NOT NULL DEFAULT 0,
	grant_types             TEXT NOT NULL DEFAULT '',
	scopes                  TEXT NOT NULL DEFAULT '',
	audiences               TEXT NOT NULL DEFAULT '',
	redirect_uris           TEXT NOT NULL DEFAULT '',
	reuse_grace_ns          INTEGER,
	access_token_ttl_ns     INTEGER,
	refresh_idle_ttl_ns     INTEGER,
	refresh_absolute_ttl_ns INTEGER,
	disabled                INTEGER NOT NULL DEFAULT 0,
	created_at              INTEGER,
	updated_at              INTEGER
) WITHOUT ROWID;

CREATE TABLE users (
	id                 TEXT PRIMARY KEY,
	username           TEXT NOT NULL UNIQUE,
	password_phc       TEXT NOT NULL DEFAULT '',
	disabled           INTEGER NOT NULL DEFAULT 0,
	tokens_valid_after INTEGER,
	created_at         INTEGER,
	updated_at         INTEGER
) WITHOUT ROWID;

-- One row per family, updated in place on every rotation.
CREATE TABLE families (
	id                  TEXT PRIMARY KEY,
	client_id           TEXT NOT NULL,
	subject             TEXT NOT NULL,
	scopes              TEXT NOT NULL DEFAULT '',
	dpop_jkt            TEXT NOT NULL DEFAULT '',
	generation          INTEGER NOT NULL DEFAULT 0,
	live_hash           BLOB,
	prev_hash           BLOB,
	rotated_at          INTEGER,
	grace_sealed        BLOB,
	grace_until         INTEGER,
	created_at          INTEGER,
	last_used_at        INTEGER,
	expires_at          INTEGER,
	absolute_expires_at INTEGER,
	last_ip             TEXT NOT NULL DEFAULT '',
	last_user_agent     TEXT NOT NULL DEFAULT '',
	revoked_at          INTEGER,
	revoke_reason       TEXT NOT NULL DEFAULT ''
);

CREATE INDEX families_subject_client_idx ON families (subject, client_id);
CREATE INDEX families_client_idx ON families (client_id);
CREATE INDEX families_absolute_expires_idx ON families (absolute_expires_at);
CREATE INDEX families_grace_idx ON families (grace_until) WHERE grace_sealed IS NOT NULL;

CREATE TABLE denylist (
	key        TEXT PRIMARY KEY,
	expires_at INTEGER
) WITHOUT ROWID;

CREATE INDEX denylist_expires_idx ON denylist (expires_at);

CREATE TABLE events (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	occurred_at INTEGER,
	type        TEXT NOT NULL DEFAULT '',
	client_id   TEXT NOT NULL DEFAULT '',
	subject     TEXT NOT NULL DEFAULT '',
	family_id   TEXT NOT NULL DEFAULT '',
	token_id    TEXT NOT NULL DEFAULT '',
	generation  INTEGER NOT NULL DEFAULT 0,
	ip          TEXT NOT NULL DEFAULT '',
	user_agent  TEXT NOT NULL DEFAULT '',
	reason      TEXT NOT NULL DEFAULT '',
	detail      TEXT NOT NULL DEFAULT ''
);

CREATE INDEX events_occurred_idx ON events (occurred_at);
CREATE INDEX events_family_idx ON events (family_id, id);
CREATE INDEX events_subject_idx ON events (subject, id);

CREATE TABLE signing_keys (
	id         TEXT PRIMARY KEY,
	algorithm  TEXT NOT NULL,
	sealed     BLOB,
	public_jwk BLOB,
	created_at INTEGER,
	active_at  INTEGER
) WITHOUT ROWID;
