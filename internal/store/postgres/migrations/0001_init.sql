-- Rotor's initial PostgreSQL schema.
--
-- Conventions: a zero Go time is NULL, a nil duration is NULL (durations are
-- BIGINT nanoseconds), lists are text[] (never NULL), absent bytes are NULL.
-- No foreign keys: families outlive deleted clients until the janitor
-- collects them, and a families table keyed only by id partitions cleanly
-- across a distributed engine. Identifiers collate as "C": byte order, the
-- same on every server whatever its locale, and the order Go sorts in.

CREATE TABLE clients (
	id                      text COLLATE "C" PRIMARY KEY,
	secret_hash             bytea,
	secret_phc              text NOT NULL DEFAULT '',
	public                  boolean NOT NULL DEFAULT false,
	grant_types             text[] NOT NULL DEFAULT '{}',
	scopes                  text[] NOT NULL DEFAULT '{}',
	audiences               text[] NOT NULL DEFAULT '{}',
	redirect_uris           text[] NOT NULL DEFAULT '{}',
	reuse_grace_ns          bigint,
	access_token_ttl_ns     bigint,
	refresh_idle_ttl_ns     bigint,
	refresh_absolute_ttl_ns bigint,
	disabled                boolean NOT NULL DEFAULT false,
	created_at              timestamptz,
	updated_at              timestamptz
);

CREATE TABLE users (
	id                 text COLLATE "C" PRIMARY KEY,
	username           text COLLATE "C" NOT NULL UNIQUE,
	password_phc       text NOT NULL DEFAULT '',
	disabled           boolean NOT NULL DEFAULT false,
	tokens_valid_after timestamptz,
	created_at         timestamptz,
	updated_at         timestamptz
);

-- One row per family, updated in place on every rotation. Every hot-path
-- statement is keyed by id, so the table can be hash-partitioned on it.
CREATE TABLE families (
	id                  text COLLATE "C" PRIMARY KEY,
	client_id           text COLLATE "C" NOT NULL,
	subject             text COLLATE "C" NOT NULL,
	scopes              text[] NOT NULL DEFAULT '{}',
	dpop_jkt            text NOT NULL DEFAULT '',
	generation          bigint NOT NULL DEFAULT 0,
	live_hash           bytea,
	prev_hash           bytea,
	rotated_at          timestamptz,
	grace_sealed        bytea,
	grace_until         timestamptz,
	created_at          timestamptz,
	last_used_at        timestamptz,
	expires_at          timestamptz,
	absolute_expires_at timestamptz,
	last_ip             text NOT NULL DEFAULT '',
	last_user_agent     text NOT NULL DEFAULT '',
	revoked_at          timestamptz,
	revoke_reason       text NOT NULL DEFAULT ''
);

-- "Your devices", the per (user, client) cap, and revoke --user.
CREATE INDEX families_subject_client_idx ON families (subject, client_id);
-- revoke --client.
CREATE INDEX families_client_idx ON families (client_id);
-- The janitor's expiry sweep.
CREATE INDEX families_absolute_expires_idx ON families (absolute_expires_at);
-- The janitor's grace wipe; partial so it holds only the few families
-- inside a grace period.
CREATE INDEX families_grace_idx ON families (grace_until) WHERE grace_sealed IS NOT NULL;

CREATE TABLE denylist (
	key        text COLLATE "C" PRIMARY KEY,
	expires_at timestamptz
);

CREATE INDEX denylist_expires_idx ON denylist (expires_at);

CREATE TABLE events (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	occurred_at timestamptz,
	type        text NOT NULL DEFAULT '',
	client_id   text NOT NULL DEFAULT '',
	subject     text NOT NULL DEFAULT '',
	family_id   text NOT NULL DEFAULT '',
	token_id    text NOT NULL DEFAULT '',
	generation  bigint NOT NULL DEFAULT 0,
	ip          text NOT NULL DEFAULT '',
	user_agent  text NOT NULL DEFAULT '',
	reason      text NOT NULL DEFAULT '',
	detail      text NOT NULL DEFAULT ''
);

-- Retention sweep, and the audit queries an operator runs most.
CREATE INDEX events_occurred_idx ON events (occurred_at);
CREATE INDEX events_family_idx ON events (family_id, id);
CREATE INDEX events_subject_idx ON events (subject, id);

CREATE TABLE signing_keys (
	id         text COLLATE "C" PRIMARY KEY,
	algorithm  text NOT NULL,
	sealed     bytea,
	public_jwk bytea,
	created_at timestamptz,
	active_at  timestamptz
);
