-- The credential vault: every secret sealed with its own data key (XChaCha20-Poly1305), the data
-- key wrapped with a master key named by its id, so that rotating the master key rewraps keys
-- and never touches the secrets.

CREATE TABLE vault_secrets (
    name        TEXT    PRIMARY KEY,
    key_id      TEXT    NOT NULL,
    wrapped_key BLOB    NOT NULL,
    sealed      BLOB    NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
);

-- The salt a passphrase master key is derived with (Argon2id), made once per store.
CREATE TABLE vault_meta (
    name  TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
