-- The part of the control plane's schema that nap-agent's oauth module
-- touches, as its migrations create it: users (who created a client) and
-- oauth_clients. Loaded by tests/oauth/test-oauth.c into a fresh database.
CREATE TABLE users (
        id         text PRIMARY KEY,
        email      text NOT NULL UNIQUE,
        role       text NOT NULL DEFAULT 'user',
        created_at timestamptz DEFAULT now()
);

CREATE TABLE oauth_clients (
        id            text PRIMARY KEY,
        name          text NOT NULL,
        secret_hash   text,
        redirect_uris text[] NOT NULL,
        created_by    text NOT NULL REFERENCES users(id),
        created_at    timestamptz DEFAULT now(),
        description   text,
        homepage_url  text,
        updated_at    timestamptz DEFAULT now()
);
