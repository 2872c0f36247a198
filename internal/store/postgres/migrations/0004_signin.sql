-- Sign-in in the browser (OpenID Connect Core, RP-Initiated Logout):
-- what the consent page and logout need of a client, the email claim of
-- a user, the browser session a family was created in, and the tables
-- of authorization codes, browser sessions and remembered consent.
ALTER TABLE clients ADD COLUMN name text NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris text[] NOT NULL DEFAULT '{}';
-- NULL: the origins of the redirect URIs; '{}': no origin at all. The one
-- list column that may be NULL, since "unset" and "none" differ here.
ALTER TABLE clients ADD COLUMN allowed_origins text[];
ALTER TABLE clients ADD COLUMN skip_consent boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN email text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;
ALTER TABLE families ADD COLUMN session_id text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE families ADD COLUMN auth_time timestamptz;

-- Logout revokes the families of a session; partial, since most
-- families (refresh, device, password grants) have none.
CREATE INDEX families_session_idx ON families (session_id) WHERE session_id <> '';

-- One row per authorization code, keyed by the code's keyed hash; kept
-- after its use until it expires, so that a second redemption is seen.
CREATE TABLE auth_codes (
	hash            bytea PRIMARY KEY,
	client_id       text COLLATE "C" NOT NULL,
	redirect_uri    text NOT NULL DEFAULT '',
	scopes          text[] NOT NULL DEFAULT '{}',
	audiences       text[] NOT NULL DEFAULT '{}',
	nonce           text NOT NULL DEFAULT '',
	code_challenge  text NOT NULL DEFAULT '',
	dpop_jkt        text NOT NULL DEFAULT '',
	subject         text COLLATE "C" NOT NULL,
	session_id      text COLLATE "C" NOT NULL DEFAULT '',
	auth_time       timestamptz,
	created_at      timestamptz,
	expires_at      timestamptz,
	used_at         timestamptz,
	family_id       text COLLATE "C" NOT NULL DEFAULT '',
	access_token_id text NOT NULL DEFAULT ''
);

CREATE INDEX auth_codes_expires_idx ON auth_codes (expires_at);

-- Browser sessions: the cookie holds a random value, the row its keyed
-- hash; the id is public (the id_token's sid).
CREATE TABLE sessions (
	id                  text COLLATE "C" PRIMARY KEY,
	hash                bytea NOT NULL UNIQUE,
	subject             text COLLATE "C" NOT NULL,
	auth_time           timestamptz,
	created_at          timestamptz,
	last_seen_at        timestamptz,
	expires_at          timestamptz,
	absolute_expires_at timestamptz,
	ip                  text NOT NULL DEFAULT '',
	user_agent          text NOT NULL DEFAULT '',
	ended_at            timestamptz,
	end_reason          text NOT NULL DEFAULT ''
);

-- A user's sessions ("your devices", sign out everywhere).
CREATE INDEX sessions_subject_idx ON sessions (subject);
-- The janitor's sweep: ended, idle-expired or absolute-expired.
CREATE INDEX sessions_expires_idx ON sessions (expires_at);
CREATE INDEX sessions_absolute_expires_idx ON sessions (absolute_expires_at);
CREATE INDEX sessions_ended_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL;

-- What a user agreed a client may have.
CREATE TABLE consents (
	subject    text COLLATE "C" NOT NULL,
	client_id  text COLLATE "C" NOT NULL,
	scopes     text[] NOT NULL DEFAULT '{}',
	granted_at timestamptz,
	PRIMARY KEY (subject, client_id)
);

-- Deleting a client's consents.
CREATE INDEX consents_client_idx ON consents (client_id);
