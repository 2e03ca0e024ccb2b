-- The usersync store (SQLite), for applications that read it.
-- Made by usersync's migrations (Sources/UserSync/Store/UserStore.swift); a test checks that
-- this file lists exactly the tables and indexes they make. Times are ISO 8601 UTC text.
-- Open it in WAL mode (usersync does); write to `users` rows with source IS NULL only:
-- rows with a source belong to that source's sync.

-- One change recorded by a run: create, update (one row per changed field, with old and new
-- value), deactivate, reactivate, adopt, or skip (with the reason in new_value) of a user or a
-- group; add or remove of a membership (object_type 'membership', object_id the group, field
-- 'user' or 'group', new_value or old_value the member's id). record: the
-- DN (or CSV line, API id) of the record the change came from. object_id is 0 for a skipped
-- record that matched no user.
CREATE TABLE changes (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    object_type TEXT NOT NULL CHECK (object_type IN ('user', 'group', 'membership')),
    object_id INTEGER NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('create', 'update', 'deactivate', 'reactivate', 'adopt', 'skip', 'add', 'remove')),
    field TEXT,
    old_value TEXT,
    new_value TEXT,
    record TEXT
);

-- Membership through nesting: user_id is in group_id directly or through any chain of child
-- groups (active groups only). One indexed lookup answers "is U in G?". Kept by each run.
-- Derived from group_members and group_parents, so without foreign keys (a recomputation would
-- look up every row's user and group); the *_forgets_effective_membership triggers remove the
-- rows of a deleted user or group.
CREATE TABLE effective_group_members (
    group_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

-- usersync's own bookkeeping (added by v9): per group of a source, a 64-bit hash of the record
-- its row, nesting and memberships were last planned from (with the source's mapping and group
-- settings), and how many of its member values resolved to nothing (with one of them). A run
-- that reads every user and group exactly as before leaves the memberships as they are. An
-- update of the group's row deletes its line (the trigger below), and so does a run that
-- changes the source's users without planning its groups. The memberships of a source's groups
-- are the sync's, like its users' rows: a membership row written there by hand stays until a
-- run compares the groups in full (after any change to the source's users or groups).
CREATE TABLE group_fingerprints (
    group_id INTEGER PRIMARY KEY REFERENCES groups (id) ON DELETE CASCADE,
    fingerprint INTEGER NOT NULL,
    unresolved INTEGER NOT NULL DEFAULT 0,
    unresolved_sample TEXT
);

-- Direct membership: the user is a member of the group in the directory.
CREATE TABLE group_members (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

-- Nesting: group_id is a member (child) of parent_id. A group may have several parents; the
-- edges may form a cycle in a badly kept directory (runs report it).
CREATE TABLE group_parents (
    group_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    parent_id INTEGER NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, parent_id)
) WITHOUT ROWID;

-- The directory's groups, imported by a source (source and external_id NULL for groups made
-- by hand). Like users: identity is (source, external_id); a group missing from the directory is
-- deactivated, never deleted.
CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    source TEXT,
    external_id TEXT,
    name TEXT NOT NULL,
    dn TEXT,
    state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'deactivated')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    deactivated_at TEXT,
    -- Added by v7 (SQLite puts an added column before the constraints): the DN as member lists
    -- are matched against it (RFC 4514 normalised), for the group members a delta resolves
    -- against users and groups it did not read. Written for sources with groups.
    dn_norm TEXT,
    CHECK ((source IS NULL) = (external_id IS NULL))
);

-- One request a push sent (seq: its order in the push), for `usersync targets show`: the object
-- (object_type 'target' with object_id 0 for the target's own requests, as the
-- ServiceProviderConfig), the method and path, the HTTP status (0 when no answer came), the
-- outcome (created, updated, adopted, deactivated, reactivated, deleted, found, failed, …) and the
-- error. Kept for the last 10 pushes of each target.
CREATE TABLE push_requests (
    push_id INTEGER NOT NULL REFERENCES pushes (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    object_type TEXT NOT NULL CHECK (object_type IN ('user', 'group', 'target')),
    object_id INTEGER NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    milliseconds INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (push_id, seq)
);

-- One push to a target (`usersync push`, or after a sync or a scheduled run: run_id, the run
-- whose apply it followed, listed by `usersync runs show`): running (or killed while running),
-- applied (every object pushed), partial (some objects failed; they are tried again next time),
-- planned (a dry run), stopped (by the target's maxDeletions guard), failed (nothing could be
-- pushed: the target unreachable, its credentials refused, its configuration unreadable).
CREATE TABLE pushes (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    run_id INTEGER,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'applied', 'partial', 'planned', 'stopped', 'failed')),
    dry_run INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    deactivated INTEGER NOT NULL DEFAULT 0,
    reactivated INTEGER NOT NULL DEFAULT 0,
    deleted INTEGER NOT NULL DEFAULT 0,
    adopted INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    quarantined INTEGER NOT NULL DEFAULT 0,
    groups_created INTEGER NOT NULL DEFAULT 0,
    groups_updated INTEGER NOT NULL DEFAULT 0,
    groups_deleted INTEGER NOT NULL DEFAULT 0,
    members_added INTEGER NOT NULL DEFAULT 0,
    members_removed INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    error TEXT
);

-- What the source sent in a run, kept for the last `keepRecords` runs of each source, one chunk
-- per page read: gzip of the records one after another, each (format 2) as its locator kind
-- (0 DN, 1 CSV row, 2 REST resource, 3 CSV group path), the locator (a text; a row's file, then
-- its line), and its attributes: per attribute its name, the number of values and the values
-- (every text and value preceded by its length in bytes, every number an unsigned LEB128
-- varint). Format 1 chunks (before v4) hold the locator's text alone. Values are the bytes the
-- source sent. `usersync runs show ID --records --json` prints them as JSON. raw_hash (v10): a
-- 64-bit hash of the chunk's bytes before compression, so that the next run copies a page it
-- receives again exactly rather than compress it again (NULL in chunks kept before v10).
CREATE TABLE run_records (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    chunk INTEGER NOT NULL,
    entries INTEGER NOT NULL,
    data BLOB NOT NULL,
    format INTEGER NOT NULL DEFAULT 1,
    raw_hash INTEGER,
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
    groups_read INTEGER NOT NULL DEFAULT 0,
    groups_created INTEGER NOT NULL DEFAULT 0,
    groups_updated INTEGER NOT NULL DEFAULT 0,
    groups_deactivated INTEGER NOT NULL DEFAULT 0,
    groups_reactivated INTEGER NOT NULL DEFAULT 0,
    groups_unchanged INTEGER NOT NULL DEFAULT 0,
    memberships_added INTEGER NOT NULL DEFAULT 0,
    memberships_removed INTEGER NOT NULL DEFAULT 0,
    error TEXT
    -- Added by v6 (ALTER TABLE, hence SQLite's spelling): how a run of a source read
    -- incrementally read it: read_mode 'full' or 'delta', read_method 'syncrepl', 'dirsync' or
    -- 'usn', read_reason why a full read was chosen. NULL for other sources and older runs.
    , read_mode TEXT, read_method TEXT, read_reason TEXT);

-- usersync's own bookkeeping: per source read incrementally, where its last read ended (a
-- DirSync or syncrepl cookie, or a USN with the domain controller it belongs to), the settings
-- it was taken with and when the last full read was applied. Written in the same transaction as
-- the changes it covers.
CREATE TABLE source_watermarks (
    source TEXT PRIMARY KEY,
    method TEXT NOT NULL CHECK (method IN ('dirsync', 'usn', 'syncrepl')),
    cookie BLOB,
    usn INTEGER,
    server TEXT,
    invocation_id TEXT,
    settings_hash TEXT NOT NULL,
    last_full_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- usersync's own bookkeeping: per synced user, a 64-bit hash of its stable id and of the record
-- its row was last written from (with the mapping and options of that run). A record that is
-- exactly the same next time skips the mapping and the comparison. Any update or delete of the
-- user's row deletes its line (the triggers below), so a row changed by someone else is
-- compared in full again by the next run.
CREATE TABLE sync_fingerprints (
    user_id INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    id_hash INTEGER NOT NULL,
    fingerprint INTEGER NOT NULL
);

-- Per target, the group memberships last sent to it (member_type 'user' or, with nested
-- groups, 'group'): the base of the next push's member PATCHes.
CREATE TABLE target_members (
    target TEXT NOT NULL,
    group_id INTEGER NOT NULL,
    member_type TEXT NOT NULL CHECK (member_type IN ('user', 'group')),
    member_id INTEGER NOT NULL,
    PRIMARY KEY (target, group_id, member_type, member_id)
) WITHOUT ROWID;

-- Per target, each user and group usersync pushed (or tried to): its SCIM id there (remote_id;
-- NULL until a create's answer was kept, so the next push looks it up before creating), the
-- attributes last sent (a JSON object of SCIM path to value: the base of the next PATCH), its
-- state there (pending: not there yet), and how many pushes in a row failed on it; one that
-- failed quarantineAfter pushes in a row is quarantined (left alone until --retry-quarantined).
CREATE TABLE target_objects (
    target TEXT NOT NULL,
    object_type TEXT NOT NULL CHECK (object_type IN ('user', 'group')),
    object_id INTEGER NOT NULL,
    remote_id TEXT,
    sent TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL CHECK (state IN ('pending', 'active', 'deactivated', 'deleted')),
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    quarantined_at TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (target, object_type, object_id)
) WITHOUT ROWID;

-- Per target, how far the store has been pushed: the runs up to `position` (a run id). The
-- changes of later runs are the outbox of the next push.
CREATE TABLE targets (
    name TEXT PRIMARY KEY,
    position INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL
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
    -- Added by v7: the DN normalised, as for groups.
    dn_norm TEXT,
    CHECK ((source IS NULL) = (external_id IS NULL))
);

-- Added by v8: the membership changes by the user they are about (a user's history).
CREATE INDEX changes_member_user ON changes ((CAST(coalesce(new_value, old_value) AS BIGINT))) WHERE object_type = 'membership' AND field = 'user';
CREATE INDEX changes_object ON changes (object_type, object_id);
CREATE INDEX changes_run_kind ON changes (run_id, object_type, action);
CREATE INDEX effective_group_members_user ON effective_group_members (user_id);
CREATE INDEX group_members_user ON group_members (user_id);
CREATE INDEX group_parents_parent ON group_parents (parent_id);
CREATE TRIGGER groups_delete_forgets_effective_membership AFTER DELETE ON groups
BEGIN
    DELETE FROM effective_group_members WHERE group_id = OLD.id;
END;
CREATE INDEX groups_name ON groups (name);
CREATE UNIQUE INDEX groups_source_external_id ON groups (source, external_id) WHERE source IS NOT NULL;
CREATE TRIGGER groups_update_forgets_fingerprint AFTER UPDATE ON groups
BEGIN
    DELETE FROM group_fingerprints WHERE group_id = OLD.id;
END;
CREATE INDEX pushes_target ON pushes (target, id);
CREATE INDEX runs_source_started ON runs (source, started_at);
CREATE TRIGGER users_delete_forgets_effective_membership AFTER DELETE ON users
BEGIN
    DELETE FROM effective_group_members WHERE user_id = OLD.id;
END;
CREATE TRIGGER users_delete_forgets_fingerprint AFTER DELETE ON users
BEGIN
    DELETE FROM sync_fingerprints WHERE user_id = OLD.id;
END;
CREATE INDEX users_email ON users (email);
CREATE UNIQUE INDEX users_source_external_id ON users (source, external_id) WHERE source IS NOT NULL;
CREATE INDEX users_source_state ON users (source, state);
CREATE TRIGGER users_update_forgets_fingerprint AFTER UPDATE ON users
BEGIN
    DELETE FROM sync_fingerprints WHERE user_id = OLD.id;
END;
