-- The control plane's tokens of an oauth client, in the shape that matters
-- here (test-upstream.py): they reference oauth_clients(id) with ON DELETE
-- CASCADE, so deleting a client row would delete its users' tokens.
CREATE TABLE IF NOT EXISTS oauth_refresh_tokens (
        id text PRIMARY KEY,
        client_id text NOT NULL REFERENCES oauth_clients(id) ON DELETE CASCADE,
        user_id text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
);
