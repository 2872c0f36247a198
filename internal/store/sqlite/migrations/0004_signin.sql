-- Sign-in in the browser (OpenID Connect Core, RP-Initiated Logout):
-- what the consent page and logout need of a client, the email claim of
-- a user, the browser session a family was created in, and the tables
-- of authorization codes, browser sessions and remembered consent.
ALTER TABLE clients ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '';
-- NULL: the origins of the redirect URIs; '': no origin at all.
ALTER TABLE clients ADD COLUMN allowed_origins TEXT;
ALTER TABLE clients ADD COLUMN skip_consent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN email TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0;
ALTER TABLE families ADD COLUMN session_id TEXT NOT NULL DEFAULT '';
ALTER TABLE families ADD COLUMN auth_time INTEGER;

-- Logout revokes the families of a session; most families have none.
CREATE INDEX families_session_idx ON families (session_id) WHERE session_id <> '';

-- One row per authorization code, keyed by the code's keyed hash; kept
-- after its use until it expires, so that a second redemption is seen.
CREATE TABLE auth_codes (
	hash            BLOB PRIMARY KEY,
	client_id       TEXT NOT NULL,
	redirect_uri    TEXT NOT NULL DEFAULT '',
	scopes          TEXT NOT NULL DEFAULT '',
	audiences       TEXT NOT NULL DEFAULT '',
	nonce           TEXT NOT NULL DEFAULT '',
	code_challenge  TEXT NOT NULL DEFAULT '',
	dpop_jkt        TEXT NOT NULL DEFAULT '',
	subject         TEXT NOT NULL,
	session_id      TEXT NOT NULL DEFAULT '',
	auth_time       INTEGER,
	created_at      INTEGER,
	expires_at      INTEGER,
	used_at         INTEGER,
	family_id       TEXT NOT NULL DEFAULT '',
	access_token_id TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE INDEX auth_codes_expires_idx ON auth_codes (expires_at);

-- Browser sessions: the cookie holds a random value, the row its keyed
-- hash; the id is public (the id_token's sid).
CREATE TABLE sessions (
	id                  TEXT PRIMARY KEY,
	hash                BLOB NOT NULL UNIQUE,
	subject             TEXT NOT NULL,
	auth_time           INTEGER,
	created_at          INTEGER,
	last_seen_at        INTEGER,
	expires_at          INTEGER,
	absolute_expires_at INTEGER,
	ip                  TEXT NOT NULL DEFAULT '',
	user_agent          TEXT NOT NULL DEFAULT '',
	ended_at            INTEGER,
	end_reason          TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;

CREATE INDEX sessions_subject_idx ON sessions (subject);
-- The janitor's sweep: ended, idle-expired or absolute-expired.
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_absolute_expires_idx ON sessions (absolute_expires_at);
CREATE INDEX sessions_ended_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL;

-- What a user agreed a client may have.
CREATE TABLE consents (
	subject    TEXT NOT NULL,
	client_id  TEXT NOT NULL,
	scopes     TEXT NOT NULL DEFAULT '',
	granted_at INTEGER,
	PRIMARY KEY (subject, client_id)
) WITHOUT ROWID;

-- Deleting a client's consents.
CREATE INDEX consents_client_idx ON consents (client_id);
