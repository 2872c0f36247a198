-- Who made a change (cli, admin:<key id>, user:<id>), and the clients
-- that may introspect any access token (resource servers).
ALTER TABLE events ADD COLUMN actor TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN introspect INTEGER NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN occurrences INTEGER NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN tokens_valid_after INTEGER;
