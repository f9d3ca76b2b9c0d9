package queue

// migrations bring a database from user_version i to i+1 (migrations[i]).
// Append only: a released migration is never edited. Each runs in one
// transaction with the version bump (PRAGMA user_version is stored in the
// database header, so it commits or rolls back with the rest).
var migrations = []string{
	// 1: the first schema.
	`
-- Small settings: the key check, the outbox cursor.
CREATE TABLE meta (
	name  TEXT PRIMARY KEY,
	value ANY NOT NULL
) STRICT;

-- One row per application, from intake to purge; never deleted. Nothing
-- personal: ids, states, reasons (fields and rules), counts, times (unix
-- nanoseconds, UTC).
CREATE TABLE applications (
	n           INTEGER PRIMARY KEY,   -- intake order: FIFO for preparation and claims
	id          TEXT NOT NULL UNIQUE,
	batch_id    TEXT NOT NULL,
	content_mac BLOB NOT NULL,         -- keyed fingerprint of the content (intake idempotency)
	state       TEXT NOT NULL CHECK (state IN ('validated', 'prepared', 'personalizing', 'verifying',
	                'issued', 'acknowledged', 'purged', 'rejected', 'cancelled', 'needs_attention')),
	reason      TEXT NOT NULL DEFAULT '',
	problems    TEXT,                  -- JSON [{"field","rule"}] of a rejection
	attempts    INTEGER NOT NULL DEFAULT 0,
	received_at INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL,
	last_seq    INTEGER NOT NULL,      -- the application's latest event (Ack)
	acked_at    INTEGER,
	purge_after INTEGER,
	purged_at   INTEGER
) STRICT;
CREATE INDEX applications_state ON applications (state, n);
CREATE INDEX applications_final ON applications (state, last_seq);

-- Personal data, sealed (AES-256-GCM, bound to "application:<id>:raw" /
-- ":image"), in their own tables so that purge and claim delete whole rows
-- (and, with secure_delete, zero their pages).
CREATE TABLE application_raw (
	application_id TEXT PRIMARY KEY REFERENCES applications (id),
	sealed         BLOB NOT NULL
) STRICT;
CREATE TABLE application_image (
	application_id TEXT PRIMARY KEY REFERENCES applications (id),
	sealed         BLOB NOT NULL,
	prepared_at    INTEGER NOT NULL
) STRICT;

-- Every physical card an application consumed.
CREATE TABLE cards (
	id               INTEGER PRIMARY KEY,
	serial           TEXT NOT NULL,
	application_id   TEXT NOT NULL REFERENCES applications (id),
	reader           TEXT NOT NULL,
	state            TEXT NOT NULL CHECK (state IN ('claimed', 'writing', 'locked', 'verified', 'spoiled', 'released')),
	reason           TEXT NOT NULL DEFAULT '',
	attempt          INTEGER NOT NULL,
	claimed_at       INTEGER NOT NULL,
	write_started_at INTEGER,
	finished_at      INTEGER,
	sod_sha256       TEXT,
	ds_cert          TEXT,
	apdus            INTEGER,
	duration_ns      INTEGER,
	destroyed_at     INTEGER,
	destroyed_by     TEXT
) STRICT;
-- At most one verified card per application, ever.
CREATE UNIQUE INDEX cards_one_verified ON cards (application_id) WHERE state = 'verified';
-- Never two cards of one application in the works at once.
CREATE UNIQUE INDEX cards_one_active ON cards (application_id) WHERE state IN ('claimed', 'writing', 'locked');
-- A reader holds one card at a time.
CREATE UNIQUE INDEX cards_reader_active ON cards (reader) WHERE state IN ('claimed', 'writing', 'locked');
-- A card that was written to (or is being) is never claimed again; a
-- released (still blank) card may be.
CREATE UNIQUE INDEX cards_serial_used ON cards (serial) WHERE state <> 'released';
CREATE INDEX cards_application ON cards (application_id);
CREATE INDEX cards_claimed_at ON cards (claimed_at);

-- The status feed central reads: seq 1, 2, 3... assigned by the single
-- writer inside its transaction, so a rolled-back change leaves no gap.
CREATE TABLE events (
	seq            INTEGER PRIMARY KEY,
	application_id TEXT NOT NULL,
	state          TEXT NOT NULL,
	reason         TEXT NOT NULL DEFAULT '',
	card_serial    TEXT NOT NULL DEFAULT '',
	attempt        INTEGER NOT NULL DEFAULT 0,
	at             INTEGER NOT NULL
) STRICT;
CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
	BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
	BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

-- The hash-chained audit log (see audit.go). The triggers stop mistakes;
-- the chain and the head anchor file detect the rest.
CREATE TABLE audit (
	seq     INTEGER PRIMARY KEY,
	at      TEXT NOT NULL,             -- RFC 3339 with nanoseconds, UTC: hashed as stored
	actor   TEXT NOT NULL,
	action  TEXT NOT NULL,
	subject TEXT NOT NULL,
	detail  TEXT NOT NULL,
	prev    TEXT NOT NULL,
	hash    TEXT NOT NULL
) STRICT;
CREATE INDEX audit_subject ON audit (subject);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
	BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
	BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
`,
}
