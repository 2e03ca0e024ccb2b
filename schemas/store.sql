-- The usersync store (SQLite), for applications that read it.
-- Made by usersync's migrations (Sources/UserSync/Store/UserStore.swift); a test checks that
-- this file lists exactly the tables and indexes they make. Times are ISO 8601 UTC text.
-- Open it in WAL mode (usersync does); write to `users` rows with source IS NULL only:
-- rows with a source belong to that source's sync.

-- One change recorded by a run: create, update (one row per changed field, with old and new
-- value), deactivate, reactivate, adopt, or skip (with the reason in new_value). record: the
-- DN (or CSV line, API id) of the record the change came from. object_id is 0 for a skipped
-- record that matched no user.
CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    object_type TEXT NOT NULL CHECK (object_type IN ('user', 'group', 'membership')),
    object_id INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'deactivate', 'reactivate', 'adopt', 'skip')),
    field TEXT,
    old_value TEXT,
    new_value TEXT,
    record TEXT
);

-- What the source sent in a run, kept for the last `keepRecords` runs of each source: gzip of
-- JSON lines ({"dn": …, "attributes": {name: [value, …]}}; binary values as {"base64": …}),
-- one chunk per page read.
CREATE TABLE run_records (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    chunk INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (run_id, chunk)
);

-- One sync run of one source, dry runs included. status: running (or killed while running),
-- applied, planned (a dry run), stopped (by the guard), failed (error says why).
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'applied', 'planned', 'stopped', 'failed')),
    dry_run INTEGER NOT NULL DEFAULT 0,
    entries_read INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    deactivated INTEGER NOT NULL DEFAULT 0,
    reactivated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    error TEXT
);

-- The application's users. source and external_id (the directory's stable id: objectGUID,
-- entryUUID, …) are both NULL for users made by hand or by the application; usersync never
-- touches those. A user missing from the directory is deactivated, never deleted, and the same
-- row comes back when the user does. attributes: a JSON object of the mapping's extra fields.
-- dn: where the source last saw the user (DN, CSV line or API id).
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    source TEXT,
    external_id TEXT,
    username TEXT NOT NULL UNIQUE,
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    display_name TEXT,
    manager TEXT,
    dn TEXT,
    attributes TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(attributes)),
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deactivated')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deactivated_at TEXT,
    CHECK ((source IS NULL) = (external_id IS NULL))
);

CREATE INDEX changes_object ON changes (object_type, object_id);
CREATE INDEX changes_run ON changes (run_id);
CREATE INDEX runs_source_started ON runs (source, started_at);
CREATE INDEX users_email ON users (email);
CREATE UNIQUE INDEX users_source_external_id ON users (source, external_id) WHERE source IS NOT NULL;
