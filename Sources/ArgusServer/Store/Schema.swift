import GRDB

/// The schema's history, oldest first. Never edit a shipped migration; add a new one.
enum Schema {
    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1 users, tokens, batches, jobs, events") { db in
            try db.execute(
                sql: """
                    CREATE TABLE users(
                      id INTEGER PRIMARY KEY,
                      name TEXT NOT NULL UNIQUE,
                      is_admin INTEGER NOT NULL DEFAULT 0,
                      created_us INTEGER NOT NULL);
                    CREATE TABLE tokens(
                      id INTEGER PRIMARY KEY,
                      user_id INTEGER NOT NULL REFERENCES users(id),
                      scope TEXT NOT NULL,
                      token_hash TEXT NOT NULL UNIQUE,
                      prefix TEXT NOT NULL,
                      created_us INTEGER NOT NULL,
                      revoked_us INTEGER);
                    CREATE TABLE batches(
                      id TEXT PRIMARY KEY,
                      owner_id INTEGER NOT NULL REFERENCES users(id),
                      project TEXT,
                      status TEXT NOT NULL,
                      experiment_type TEXT,
                      host TEXT, user TEXT, git_sha TEXT, command TEXT, cwd TEXT,
                      n_total INTEGER,
                      n_done INTEGER NOT NULL DEFAULT 0,
                      n_failed INTEGER NOT NULL DEFAULT 0,
                      start_us INTEGER, end_us INTEGER,
                      last_activity_us INTEGER,
                      last_received_us INTEGER NOT NULL,
                      failure_reason TEXT,
                      stop_requested INTEGER NOT NULL DEFAULT 0,
                      stop_requested_us INTEGER,
                      stop_requested_by TEXT,
                      source_batch_id TEXT,
                      created_us INTEGER NOT NULL);
                    CREATE INDEX batches_created ON batches(created_us);
                    CREATE TABLE jobs(
                      batch_id TEXT NOT NULL REFERENCES batches(id),
                      id TEXT NOT NULL,
                      model TEXT, dataset TEXT,
                      status TEXT NOT NULL,
                      start_us INTEGER, end_us INTEGER,
                      elapsed_s REAL,
                      metrics TEXT,
                      failure_reason TEXT,
                      is_idle_flagged INTEGER NOT NULL DEFAULT 0,
                      idle_since_us INTEGER,
                      last_activity_us INTEGER,
                      latest_epoch INTEGER,
                      train_loss REAL, val_loss REAL,
                      gpu_util_pct REAL,
                      gpu_mem_peak_mb REAL,
                      created_us INTEGER NOT NULL,
                      PRIMARY KEY(batch_id, id)) WITHOUT ROWID;
                    -- AUTOINCREMENT: ids are SSE ids, so they must never be reused after deletes.
                    -- Replay walks the rowid range after the client's id, so no (batch_id, id) index is kept.
                    CREATE TABLE events(
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      event_id TEXT NOT NULL UNIQUE,
                      batch_id TEXT NOT NULL,
                      job_id TEXT,
                      event_type TEXT NOT NULL,
                      ts_us INTEGER NOT NULL,
                      received_us INTEGER NOT NULL,
                      hidden INTEGER NOT NULL DEFAULT 0,
                      body TEXT NOT NULL);
                    CREATE INDEX events_batch_type ON events(batch_id, event_type, id);
                    CREATE INDEX events_job ON events(batch_id, job_id, event_type, id);
                    """)
        }
        m.registerMigration("v2 share links") { db in
            try db.execute(
                sql: """
                    CREATE TABLE shares(
                      id INTEGER PRIMARY KEY,
                      batch_id TEXT NOT NULL REFERENCES batches(id),
                      token_hash TEXT NOT NULL UNIQUE,
                      created_by TEXT NOT NULL,
                      created_us INTEGER NOT NULL,
                      expires_us INTEGER,
                      revoked_us INTEGER);
                    CREATE INDEX shares_batch ON shares(batch_id);
                    """)
        }
        m.registerMigration("v3 agents and their command queue") { db in
            try db.execute(
                sql: """
                    CREATE TABLE agents(
                      id INTEGER PRIMARY KEY,
                      hostname TEXT NOT NULL,
                      token_hash TEXT NOT NULL UNIQUE,
                      user_id INTEGER NOT NULL REFERENCES users(id),
                      version TEXT,
                      capabilities TEXT,
                      created_us INTEGER NOT NULL,
                      last_seen_us INTEGER NOT NULL);
                    CREATE INDEX agents_host ON agents(hostname, last_seen_us);
                    CREATE TABLE agent_commands(
                      id INTEGER PRIMARY KEY,
                      agent_id INTEGER NOT NULL REFERENCES agents(id),
                      batch_id TEXT NOT NULL,
                      kind TEXT NOT NULL,
                      command TEXT,
                      cwd TEXT,
                      target_pid INTEGER,
                      status TEXT NOT NULL DEFAULT 'pending',
                      pid INTEGER,
                      exit_code INTEGER,
                      error TEXT,
                      linked_batch_id TEXT,
                      created_us INTEGER NOT NULL,
                      acked_us INTEGER);
                    CREATE INDEX agent_commands_queue ON agent_commands(agent_id, status, id);
                    """)
        }
        m.registerMigration("v4 guardrails: idle state, stall and retention indexes") { db in
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN gpu_newest_us INTEGER;
                    ALTER TABLE jobs ADD COLUMN gpu_last_busy_us INTEGER;
                    ALTER TABLE jobs ADD COLUMN gpu_quiet_since_us INTEGER;
                    -- Retention deletes one class at a time, oldest first; timestamps mostly grow, so inserts
                    -- append at the right edge of each type's range.
                    CREATE INDEX events_type_ts ON events(event_type, ts_us);
                    -- The stall detector: running batches by how long ago they were last heard from.
                    CREATE INDEX batches_status ON batches(status, last_received_us);
                    """)
        }
        m.registerMigration("v5 event_id is unique per batch, not across every user") { db in
            // One user's event id must neither drop nor reveal another user's event: the dedupe key becomes
            // (batch_id, event_id). SQLite cannot drop a column's UNIQUE, so the table is rebuilt; ids are kept,
            // and so is the AUTOINCREMENT high-water mark (SSE ids are never reused, even after retention deletes).
            let seq = try Int64.fetchOne(db, sql: "SELECT seq FROM sqlite_sequence WHERE name = 'events'") ?? 0
            try db.execute(
                sql: """
                    CREATE TABLE events_v5(
                      id INTEGER PRIMARY KEY AUTOINCREMENT,
                      event_id TEXT NOT NULL,
                      batch_id TEXT NOT NULL,
                      job_id TEXT,
                      event_type TEXT NOT NULL,
                      ts_us INTEGER NOT NULL,
                      received_us INTEGER NOT NULL,
                      hidden INTEGER NOT NULL DEFAULT 0,
                      body TEXT NOT NULL,
                      UNIQUE(batch_id, event_id));
                    INSERT INTO events_v5(id, event_id, batch_id, job_id, event_type, ts_us, received_us, hidden, body)
                      SELECT id, event_id, batch_id, job_id, event_type, ts_us, received_us, hidden, body FROM events ORDER BY id;
                    DROP TABLE events;
                    ALTER TABLE events_v5 RENAME TO events;
                    CREATE INDEX events_batch_type ON events(batch_id, event_type, id);
                    CREATE INDEX events_job ON events(batch_id, job_id, event_type, id);
                    CREATE INDEX events_type_ts ON events(event_type, ts_us);
                    """)
            if seq > 0 {
                try db.execute(sql: "DELETE FROM sqlite_sequence WHERE name = 'events'")
                let kept = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM events") ?? 0
                try db.execute(sql: "INSERT INTO sqlite_sequence(name, seq) VALUES ('events', ?)", arguments: [max(seq, kept)])
            }
        }
        m.registerMigration("v6 GPU memory peak per device") { db in
            // JSON [{index, mem_peak_mb, mem_total_mb}]; gpu_mem_peak_mb becomes the most-loaded GPU's peak.
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN gpu_mem_peaks TEXT")
        }
        m.registerMigration("v7-sessions: web sign-in") { db in
            // A browser's session: a cookie secret (stored hashed) standing for the API token it was exchanged for.
            // Revoking the token ends its sessions; signing out revokes the session alone.
            try db.execute(
                sql: """
                    CREATE TABLE sessions(
                      id INTEGER PRIMARY KEY,
                      token_id INTEGER NOT NULL REFERENCES tokens(id),
                      secret_hash TEXT NOT NULL UNIQUE,
                      created_us INTEGER NOT NULL,
                      expires_us INTEGER NOT NULL,
                      revoked_us INTEGER);
                    CREATE INDEX sessions_token ON sessions(token_id);
                    """)
        }
        m.registerMigration("v8 agents answer to the token that registered them") { db in
            // Revoking that token (or the agent itself) stops the agent. Agents registered before this have no
            // token_id: only `argus-server agent revoke` stops them.
            try db.execute(
                sql: """
                    ALTER TABLE agents ADD COLUMN token_id INTEGER REFERENCES tokens(id);
                    ALTER TABLE agents ADD COLUMN revoked_us INTEGER;
                    """)
        }
        m.registerMigration("v9 jobs keep their best val loss, total epochs and loss spark") { db in
            // JobFigures; backfilled from the stored events so an upgraded database shows what a fresh one does.
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN best_val_loss REAL;
                    ALTER TABLE jobs ADD COLUMN best_val_epoch INTEGER;
                    ALTER TABLE jobs ADD COLUMN total_epochs INTEGER;
                    ALTER TABLE jobs ADD COLUMN loss_spark TEXT;
                    """)
            try JobFigures.backfill(SQLiteConnection(db))
        }
        m.registerMigration("v10 a batch's agent commands, newest first") { db in
            // The view's actions ask for a batch's latest rerun and stop (`ArgusStore.agentAssignment`).
            try db.execute(sql: "CREATE INDEX agent_commands_batch ON agent_commands(batch_id, kind, id)")
        }
        m.registerMigration("v11 a job's latest epoch keeps its time") { db in
            // `JobRecord.apply`: the latest epoch is the newest by its time (null on older rows: the highest then).
            try db.execute(sql: "ALTER TABLE jobs ADD COLUMN latest_epoch_us INTEGER")
        }
        m.registerMigration("v12 a share link keeps the token that minted it") { db in
            // `TokenStore.revokeToken`: revoking a token (a leaked one) also revokes the links it minted, directly or
            // through a web session it signed in. Null on links minted before this was kept.
            try db.execute(sql: "ALTER TABLE shares ADD COLUMN token_id INTEGER REFERENCES tokens(id)")
        }
        m.registerMigration("v13 an agent says where a rerun without a recorded directory runs") { db in
            // Its user's home, sent with each heartbeat by `argus-agent run` (`RerunDirectory.phrase`). Null until then.
            try db.execute(sql: "ALTER TABLE agents ADD COLUMN home TEXT")
        }
        m.registerMigration("v14 one argus-agent run process serves an agent at a time") { db in
            // A random id each `argus-agent run` makes at its start (`AgentStore.touchAgent`): a second process with
            // the same agent's state file (a copy, a home shared between hosts) would run every command again.
            try db.execute(sql: "ALTER TABLE agents ADD COLUMN instance TEXT")
        }
        m.registerMigration("v15 log lines in the order they were written") { db in
            try db.execute(sql: LogOrderIndexes.statements.joined(separator: ";\n"))
        }
        m.registerMigration("v16 a stopped batch keeps why the server ended it") { db in
            // batch_stopped's reason (the agent's signal, or the stall detector's silence), for whoever opens it later.
            try db.execute(sql: "ALTER TABLE batches ADD COLUMN end_reason TEXT")
        }
        m.registerMigration("v17 a started rerun's processes, as its agent lists them") { db in
            // ` 123 456 ` (`AgentStore.noteRunProcesses`): a run whose script reports another command than the one
            // rerun is still known by its pid (`ArgusStore.linkRerun`).
            try db.execute(sql: "ALTER TABLE agent_commands ADD COLUMN run_pids TEXT")
        }
        return m
    }
}

/// The log pane reads a job's newest lines by timestamp and pages back from a line's (ts, id)
/// (`ArgusStore.logLines`; a whole batch's are its jobs' merged). Lines spilled through an outage arrive late with
/// older timestamps, so arrival order (the id indexes) is not the order to read them in. A partial index: only log
/// lines pay for it (`bench/log-index.sh`: about 13 % more of SQLite's CPU per log line). The same statement on SQLite
/// and PostgreSQL.
enum LogOrderIndexes {
    static let statements = [
        "CREATE INDEX events_log_job_ts ON events(batch_id, job_id, ts_us, id) WHERE event_type = 'log_line'"
    ]
}
