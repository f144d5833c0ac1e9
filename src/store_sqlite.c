/* SPDX-License-Identifier: MIT
 * The embedded SQLite backend of the store interface (store.h). One connection, used only by
 * the event-loop thread; every statement is prepared once at open and reset after use.
 *
 * Durability. The database runs in WAL mode. A transaction is committed before the call
 * returns, and the server acknowledges a visitor's frame only after that return. In WAL mode a
 * committed transaction is in the WAL file when COMMIT returns, so it survives a crash or
 * `kill -9` of kefu at any `synchronous` level. synchronous=NORMAL (our default) skips the
 * fsync of each commit, so the last commits can be lost on power loss or a kernel crash;
 * `db_synchronous = full` fsyncs every commit and survives those too, at the price of one
 * fsync per message. NORMAL is the default because kefu's promise is "nothing acknowledged
 * is lost when kefu dies", and an operator who needs power-loss safety can say so.
 *
 * Session tokens are stored as they are, not hashed. They are 128 random bits, so a hash
 * would only protect them from someone who can already read this file, and this file holds
 * every transcript the token would unlock anyway; we have no SHA-256 in our dependencies and
 * a home-made or non-cryptographic hash would add nothing. Protect the database file (mode
 * 0600, backups included) as the secret holder it is. */
#include "kefu/store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <time.h>

#include "kefu/jobthread.h"
#include "kefu/log.h"
#include "kefu/mem.h"
#include "store_sqlite_int.h"

#define SCHEMA_VERSION 5

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS conversations("
    " id INTEGER PRIMARY KEY,"
    " token TEXT NOT NULL UNIQUE,"
    " created INTEGER NOT NULL,"
    " lang TEXT NOT NULL DEFAULT '',"
    " page TEXT,"
    " state TEXT NOT NULL DEFAULT 'bot',"
    " last_seq INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS messages("
    " conv_id INTEGER NOT NULL REFERENCES conversations(id),"
    " seq INTEGER NOT NULL,"
    " dir TEXT NOT NULL CHECK (dir IN ('in', 'out')),"
    " kind TEXT NOT NULL,"
    " client_id TEXT,"
    " text TEXT,"
    " entry TEXT,"
    " frame TEXT,"
    " reply_to INTEGER,"
    " created INTEGER NOT NULL,"
    " PRIMARY KEY (conv_id, seq)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS feedback("
    " id INTEGER PRIMARY KEY,"
    " conv_id INTEGER NOT NULL REFERENCES conversations(id),"
    " seq INTEGER NOT NULL,"
    " ref_seq INTEGER,"
    " entry TEXT,"
    " helpful INTEGER NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS events("
    " id INTEGER PRIMARY KEY,"
    " conv_id INTEGER,"
    " kind TEXT NOT NULL,"
    " detail TEXT,"
    " created INTEGER NOT NULL);";

/* Version 1 -> 2: handoff. Agents and their login tokens (stored as they are, for the reason
 * given at the top of this file: an agent token unlocks transcripts that this file holds
 * anyway), cases (the queue: one row per stay of a conversation with people), notes (apart
 * from messages, so that no replay can ever send one to a visitor), tickets and surveys; and
 * the bot's miss counter moves from the connection to the conversation. */
static const char migrate_2_sql[] =
    "ALTER TABLE conversations ADD COLUMN fallbacks INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE agents("
    " id INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL UNIQUE,"
    " display TEXT NOT NULL,"
    " pw_hash TEXT NOT NULL,"
    " max_chats INTEGER NOT NULL,"
    " disabled INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL);"
    "CREATE TABLE agent_logins("
    " token TEXT PRIMARY KEY,"
    " agent_id INTEGER NOT NULL REFERENCES agents(id),"
    " expires INTEGER NOT NULL,"
    " revoked INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE TABLE cases("
    " id INTEGER PRIMARY KEY,"
    " conv_id INTEGER NOT NULL REFERENCES conversations(id),"
    " reason TEXT NOT NULL,"
    " urgent INTEGER NOT NULL,"
    " state TEXT NOT NULL,"
    " agent_id INTEGER REFERENCES agents(id),"
    " queued INTEGER NOT NULL,"
    " assigned INTEGER,"
    " first_response INTEGER,"
    " ended INTEGER,"
    " flagged INTEGER NOT NULL DEFAULT 0,"
    " end_kind TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX cases_open ON cases(state) WHERE state != 'ended';"
    "CREATE INDEX cases_conv ON cases(conv_id);"
    "CREATE TABLE notes("
    " id INTEGER PRIMARY KEY,"
    " conv_id INTEGER NOT NULL REFERENCES conversations(id),"
    " agent_id INTEGER NOT NULL REFERENCES agents(id),"
    " text TEXT NOT NULL,"
    " created INTEGER NOT NULL);"
    "CREATE INDEX notes_conv ON notes(conv_id);"
    "CREATE TABLE tickets("
    " id INTEGER PRIMARY KEY,"
    " conv_id INTEGER REFERENCES conversations(id),"
    " name TEXT,"
    " contact TEXT NOT NULL,"
    " text TEXT NOT NULL,"
    " status TEXT NOT NULL DEFAULT 'open',"
    " agent_id INTEGER REFERENCES agents(id),"
    " created INTEGER NOT NULL);"
    "CREATE TABLE surveys("
    " id INTEGER PRIMARY KEY,"
    " conv_id INTEGER NOT NULL REFERENCES conversations(id),"
    " case_id INTEGER NOT NULL UNIQUE REFERENCES cases(id),"
    " csat INTEGER NOT NULL,"
    " nps INTEGER,"
    " ces INTEGER,"
    " comment TEXT,"
    " created INTEGER NOT NULL);"
    "UPDATE schema_version SET version = 2;";

/* Version 2 -> 3: records and analysis (issue 7; docs/metrics.md). Each visitor row the bot
 * decided on keeps the decision, its score and the normalised text (the editors' to-do list
 * groups by it); a conversation keeps the time of its last row (closed = idle since), and a
 * ticket the time it was closed. The indexes make a report cost what its period holds:
 * conversations by start time, then each conversation's decided rows from one narrow partial
 * index (messages_bot covers every column the report reads), never the wide message rows
 * (version 4 replaces messages_bot and messages_norm).
 * Rows stored before version 3 get their decision from the bot frame that followed them;
 * they have no normalised text, so they count in every rate but not in the to-do list. */
static const char migrate_3_sql[] =
    "ALTER TABLE conversations ADD COLUMN active INTEGER;"
    "ALTER TABLE messages ADD COLUMN decision TEXT;"
    "ALTER TABLE messages ADD COLUMN confidence REAL;"
    "ALTER TABLE messages ADD COLUMN norm TEXT;"
    "ALTER TABLE tickets ADD COLUMN closed INTEGER;"
    "UPDATE conversations SET active = (SELECT max(created) FROM messages m"
    " WHERE m.conv_id = conversations.id);"
    "UPDATE messages SET (decision, confidence) = (SELECT o.kind, CASE o.kind WHEN 'answer' THEN"
    " json_extract(o.frame, '$.confidence') END FROM messages o WHERE o.conv_id ="
    " messages.conv_id AND o.seq = messages.seq + 1 AND o.dir = 'out' AND o.kind IN ('answer',"
    " 'clarify', 'fallback', 'handoff', 'reply')) WHERE dir = 'in' AND kind = 'message';"
    "UPDATE messages SET decision = 'chosen' WHERE dir = 'in' AND kind = 'choose';"
    "CREATE INDEX conversations_created ON conversations(created);"
    "CREATE INDEX messages_bot ON messages(conv_id, decision, confidence, entry, norm, created)"
    " WHERE decision IS NOT NULL;"
    "CREATE INDEX messages_norm ON messages(norm, created) WHERE decision IS NOT NULL;"
    "CREATE INDEX feedback_conv ON feedback(conv_id);"
    "CREATE INDEX tickets_conv ON tickets(conv_id);"
    "CREATE INDEX tickets_created ON tickets(created);"
    "CREATE INDEX tickets_open ON tickets(status) WHERE status != 'closed';"
    "CREATE INDEX surveys_conv ON surveys(conv_id);"
    "CREATE INDEX events_conv ON events(conv_id) WHERE conv_id IS NOT NULL;"
    "CREATE INDEX events_created ON events(created);"
    "UPDATE schema_version SET version = 3;";

/* Version 3 -> 4: the report's rows cheap to write. messages_bot and messages_norm were keyed
 * by conversation and by text, so with many conversations under way each decided message
 * dirtied two random index pages (written to the WAL, then checkpointed). messages_time is
 * keyed by the message's time first, so live traffic only ever appends to its last page; it
 * covers every column the report reads, and its entries carry the primary key (conv_id, seq)
 * by which the few to-do examples shown are read. How a report reads it:
 * store_sqlite_report.c. */
static const char migrate_4_sql[] =
    "DROP INDEX messages_bot;"
    "DROP INDEX messages_norm;"
    "CREATE INDEX messages_time ON messages(created, decision, confidence, entry, norm)"
    " WHERE decision IS NOT NULL;"
    "UPDATE schema_version SET version = 4;";

/* Version 4 -> 5: no unique index on (conv_id, client_id). It refused a resent visitor frame,
 * but its entries are keyed by conversation, so with many conversations under way each
 * visitor frame dirtied one more random page (written to the WAL, then checkpointed: about
 * 40 % of the pages of an answer). Resends are recognised by the server instead
 * (ws_visitor.c: the connection's recent ids, and on a resumed connection the conversation's
 * latest rows through find_client_id). Version 1 (schema_sql) no longer creates it either:
 * schema_sql runs on every open, and would put it back. */
static const char migrate_5_sql[] = "DROP INDEX IF EXISTS messages_client_id;"
                                    "UPDATE schema_version SET version = 5;";

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_CONV_INSERT,
    ST_CONV_FIND,
    ST_CONV_UPDATE,
    ST_NEXT_SEQ,
    ST_LAST_SEQ,
    ST_MSG_INSERT,
    ST_FEEDBACK_INSERT,
    ST_FIND_CLIENT_ID,
    ST_GET_ROW,
    ST_REPLAY,
    ST_EVENT_INSERT,
    ST_CONV_GET,
    ST_CONV_FALLBACKS,
    ST_AGENT_INSERT,
    ST_AGENT_BY_NAME,
    ST_AGENT_BY_ID,
    ST_AGENT_SAVE,
    ST_AGENT_LIST,
    ST_LOGIN_INSERT,
    ST_LOGIN_FIND,
    ST_LOGIN_REVOKE,
    ST_CASE_INSERT,
    ST_CASE_SAVE,
    ST_CONV_STATE,
    ST_CASE_OPEN,
    ST_CASE_CONV,
    ST_HANDLE_TIMES,
    ST_NOTE_INSERT,
    ST_NOTE_LIST,
    ST_TICKET_INSERT,
    ST_TICKET_SAVE,
    ST_TICKET_ONE,
    ST_TICKET_OPEN,
    ST_SURVEY_INSERT,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_CONV_INSERT] = "INSERT INTO conversations(token, created, lang, page) VALUES (?1, ?2, "
                       "coalesce(?3, ''), ?4)",
    [ST_CONV_FIND] = "SELECT id, token, created, lang, state, last_seq, fallbacks FROM "
                     "conversations WHERE token "
                     "= ?1",
    [ST_CONV_UPDATE] = "UPDATE conversations SET lang = coalesce(?2, lang), page = coalesce(?3, "
                       "page), state = coalesce(?4, state) WHERE id = ?1",
    /* active never moves back, even if the clock does: a report finds the rows a conversation
     * got after its period by it (store_sqlite_report.c). */
    [ST_NEXT_SEQ] =
        "UPDATE conversations SET last_seq = last_seq + ?3, active = max(coalesce(active, ?2), ?2) "
        "WHERE id = ?1",
    [ST_LAST_SEQ] = "SELECT last_seq FROM conversations WHERE id = ?1",
    [ST_MSG_INSERT] = "INSERT INTO messages(conv_id, seq, dir, kind, client_id, text, entry, "
                      "frame, created, reply_to, decision, confidence, norm) VALUES (?1, ?2, ?3, "
                      "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    [ST_FEEDBACK_INSERT] = "INSERT INTO feedback(conv_id, seq, ref_seq, entry, helpful, created) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_FIND_CLIENT_ID] = "SELECT seq FROM messages WHERE conv_id = ?1 AND seq BETWEEN ?3 AND ?4"
                          " AND dir = 'in' AND client_id = ?2 LIMIT 1",
    [ST_GET_ROW] = "SELECT seq, dir, kind, client_id, text, entry, frame, created, reply_to FROM "
                   "messages WHERE conv_id = ?1 AND seq = ?2",
    [ST_REPLAY] = "SELECT seq, dir, kind, client_id, text, entry, frame, created, reply_to FROM "
                  "messages WHERE conv_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
    [ST_EVENT_INSERT] = "INSERT INTO events(conv_id, kind, detail, created) VALUES (nullif(?1, "
                        "0), ?2, ?3, ?4)",
    [ST_CONV_GET] = "SELECT id, token, created, lang, state, last_seq, fallbacks, page FROM "
                    "conversations WHERE id = ?1",
    [ST_CONV_FALLBACKS] = "UPDATE conversations SET fallbacks = ?2 WHERE id = ?1",
    [ST_AGENT_INSERT] = "INSERT INTO agents(name, display, pw_hash, max_chats, disabled, created) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_AGENT_BY_NAME] = "SELECT id, name, display, pw_hash, max_chats, disabled, created FROM "
                         "agents WHERE name = ?1",
    [ST_AGENT_BY_ID] = "SELECT id, name, display, pw_hash, max_chats, disabled, created FROM "
                       "agents WHERE id = ?1",
    [ST_AGENT_SAVE] = "UPDATE agents SET display = ?2, pw_hash = ?3, max_chats = ?4, disabled = "
                      "?5 WHERE id = ?1",
    [ST_AGENT_LIST] = "SELECT id, name, display, pw_hash, max_chats, disabled, created FROM "
                      "agents ORDER BY name",
    [ST_LOGIN_INSERT] = "INSERT INTO agent_logins(token, agent_id, expires) VALUES (?1, ?2, ?3)",
    [ST_LOGIN_FIND] = "SELECT agent_id, expires FROM agent_logins WHERE token = ?1 AND revoked = 0 "
                      "AND expires > ?2",
    [ST_LOGIN_REVOKE] = "UPDATE agent_logins SET revoked = 1 WHERE token = ?1",
    [ST_CASE_INSERT] = "INSERT INTO cases(conv_id, reason, urgent, state, agent_id, queued, "
                       "flagged) VALUES (?1, ?2, ?3, ?4, nullif(?5, 0), ?6, ?7)",
    [ST_CASE_SAVE] = "UPDATE cases SET state = ?2, agent_id = nullif(?3, 0), assigned = nullif(?4, "
                     "0), first_response = nullif(?5, 0), ended = nullif(?6, 0), flagged = ?7, "
                     "end_kind = ?8, reason = ?9, urgent = ?10 WHERE id = ?1",
    [ST_CONV_STATE] = "UPDATE conversations SET state = ?2 WHERE id = ?1",
    [ST_CASE_OPEN] = "SELECT id, conv_id, reason, urgent, state, agent_id, queued, assigned, "
                     "first_response, ended, flagged, end_kind FROM cases WHERE state != 'ended' "
                     "ORDER BY queued, id",
    [ST_CASE_CONV] = "SELECT id, conv_id, reason, urgent, state, agent_id, queued, assigned, "
                     "first_response, ended, flagged, end_kind FROM cases WHERE conv_id = ?1 "
                     "ORDER BY id",
    [ST_HANDLE_TIMES] = "SELECT ended - assigned FROM cases WHERE state = 'ended' AND assigned IS "
                        "NOT NULL AND ended IS NOT NULL ORDER BY ended DESC LIMIT ?1",
    [ST_NOTE_INSERT] =
        "INSERT INTO notes(conv_id, agent_id, text, created) VALUES (?1, ?2, ?3, ?4)",
    [ST_NOTE_LIST] = "SELECT n.id, n.conv_id, n.agent_id, a.name, n.text, n.created FROM notes n "
                     "JOIN agents a ON a.id = n.agent_id WHERE n.conv_id = ?1 ORDER BY n.id",
    [ST_TICKET_INSERT] = "INSERT INTO tickets(conv_id, name, contact, text, status, created) "
                         "VALUES (nullif(?1, 0), ?2, ?3, ?4, 'open', ?5)",
    [ST_TICKET_SAVE] = "UPDATE tickets SET status = ?2, agent_id = nullif(?3, 0), closed = CASE "
                       "WHEN ?2 = 'closed' THEN coalesce(closed, ?4) END WHERE id = ?1",
    [ST_TICKET_ONE] = "SELECT id, conv_id, name, contact, text, status, agent_id, created FROM "
                      "tickets WHERE id = ?1",
    [ST_TICKET_OPEN] = "SELECT id, conv_id, name, contact, text, status, agent_id, created FROM "
                       "tickets WHERE status != 'closed' ORDER BY id",
    [ST_SURVEY_INSERT] = "INSERT INTO surveys(conv_id, case_id, csat, nps, ces, comment, created) "
                         "VALUES (?1, ?2, ?3, nullif(?4, -1), nullif(?5, -1), ?6, ?7)",
};

/* The checkpointer: SQLite's automatic WAL checkpoint runs inside a commit, on the event
 * loop, and ends with a disk sync; measured under load it was 13 % of the server's time and
 * the whole p99 tail (docs/performance.md). So the serving connection never checkpoints
 * (wal_autocheckpoint=0) and a thread with its own connection runs PASSIVE checkpoints
 * (which never block a commit) every CKPT_MS, and now and then a short RESTART (below).
 * Durability is unchanged: a commit is in the WAL before it returns, whoever copies it into
 * the database file later. */
#define CKPT_MS 1000
/* 1 s, not 200 ms (sixth session): a page that many commits change (a conversation's last
 * leaf, the conversations' rows) is copied once per pass, however many times it changed, so
 * fewer passes copy and sync less. At 1,000 connections in a closed loop the checkpointer's
 * CPU fell by a third to a half (19-26 against 30-41 ticks in 3 s); throughput and tails
 * moved within the machine's noise (docs/performance.md). */
/* Under a steady load a commit lands while every passive checkpoint runs, so the WAL is never
 * all copied and SQLite never starts it over: it grew by over 100 MB a second. Past this many
 * frames (32 MB) the checkpointer copies again until a pass finds at most CKPT_TAIL new
 * frames, syncs the database file and the WAL (what a complete checkpoint would sync, here off
 * the commit path), and raises tail_due. The next connection to begin a write (store_begin)
 * then runs a passive checkpoint itself: no commit can land during it, so it copies the
 * whole rest of the WAL, and its own transaction starts the WAL over (SQLite restarts a WAL
 * that is all copied when a write begins). That costs the commit 0.7-4.8 ms, measured at 6,000
 * answers/s. The checkpointer's own RESTART, which held the write lock 3-23 ms while its
 * thread shared the two cores with the loop, and commits polled for the lock, is kept for a WAL
 * past four times this size (a load the copies cannot keep up with). */
#define CKPT_RESTART_FRAMES 8192
#define CKPT_TAIL 256

typedef struct ckpt {
    pthread_t th;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int stop, started;
    char *path;
    atomic_int tail_due; /* the next write copies the WAL's tail first (store_begin) */
} ckpt;

/* The writer's page cache: 32 MB, filled only as pages are read (SQLite's default is 2 MB).
 * Each conversation under way has its own last page of messages (the table is ordered by
 * conversation), so the pages a commit touches grow with the conversations: at 1,000 of them
 * 8 MB was too small and a quarter of the writer's time went into reading pages back from the
 * files (pread), which 32 MB all but ended (docs/performance.md). A group commit under load also
 * dirties a few thousand pages, and a smaller cache spills them to the WAL in the middle
 * of it. */
#define WRITER_CACHE_KB 32768

/* The writer (store.h, append_batch_start): group commits on a thread with its own
 * connection, so that the event loop matches the next messages while the last ones are
 * written. One job at a time (kefu/jobthread.h); the caller keeps the items untouched until
 * done. */
typedef struct writer {
    kf_jobthread *th;           /* NULL: no writer thread */
    struct sq *conn;            /* the writer's connection and statements */
    kf_store_batch_item *items; /* the job: set while the thread is idle */
    size_t n;
    int64_t now_ms;
} writer;

typedef struct sq {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    ckpt ck;
    writer wr;
    ckpt *ckp; /* the store's checkpointer (the writer's connection shares it), or NULL */
    int busy_ms; /* how long a write waits for another program's lock (kf_store_options) */
} sq;

/* The checkpointer's busy handler. A RESTART checkpoint holds the write lock while it waits
 * for readers to leave the WAL, and every commit on the loop is a reader for a moment while it
 * waits for that lock: SQLite's own busy timeout sleeps 1, 2, 5, 10, 15... ms between tries,
 * and the loop stood still 10 to 100 ms each time. Trying again every 100 us ends the wait as
 * soon as the readers are gone (at most about 2 s, then SQLITE_BUSY: tried again later). */
static int ckpt_busy(void *ud, int count)
{
    (void)ud;
    if (count >= 20000)
        return 0;
    usleep(100);
    return 1;
}

/* Syncs one of the connection's files (SQLITE_FCNTL_FILE_POINTER: the database,
 * SQLITE_FCNTL_JOURNAL_POINTER: the WAL) through its VFS. */
static int ckpt_sync(sqlite3 *db, int which)
{
    sqlite3_file *f = NULL;
    if (sqlite3_file_control(db, "main", which, &f) != SQLITE_OK || !f || !f->pMethods)
        return SQLITE_OK; /* not open (yet): nothing of it to sync */
    return f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
}

/* The tail's copy is left to the next write (CKPT_RESTART_FRAMES). What that copy would sync
 * is synced here first: the database file, which the passes above wrote without a sync (a
 * pass that leaves frames behind does not sync it; measured 5-20 ms at 6,000 answers/s), and
 * the WAL, once one more pass has copied what came meanwhile. */
static int ckpt_ready_tail(ckpt *c, sqlite3 *db)
{
    int rc = ckpt_sync(db, SQLITE_FCNTL_FILE_POINTER);
    if (rc == SQLITE_OK)
        rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = ckpt_sync(db, SQLITE_FCNTL_JOURNAL_POINTER);
    if (rc == SQLITE_OK)
        atomic_store(&c->tail_due, 1);
    return rc;
}

static void *ckpt_main(void *arg)
{
    ckpt *c = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                        kf_store_walbuf__vfs()) != SQLITE_OK) {
        kf_log(KF_LOG_WARN, "store: checkpointer cannot open the database: %s",
               db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_handler(db, ckpt_busy, NULL);
    /* A connection opens the WAL only when it first reads the database; until then its
     * checkpoints do nothing and return SQLITE_OK. One read, here, before the first. */
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) != SQLITE_OK)
        kf_log(KF_LOG_WARN, "store: checkpointer cannot read the database: %s", sqlite3_errmsg(db));
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += CKPT_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
        if (c->stop)
            break;
        pthread_mutex_unlock(&c->lock);
        int n_log = 0, n_done = 0;
        int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_done);
        if (rc == SQLITE_OK && n_log > CKPT_RESTART_FRAMES) {
            /* Copy again until one pass finds at most CKPT_TAIL new frames: the commits made
             * during a pass are what the next one copies, fewer each time. */
            int copied = n_done, i;
            for (i = 0; i < 8 && rc == SQLITE_OK && copied > CKPT_TAIL; i++) {
                int before = n_done;
                rc =
                    sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &n_log, &n_done);
                copied = n_done - before;
            }
            /* Caught up (a pass copied little and little is left: a reader that pins an old
             * snapshot makes a pass copy nothing, which is not catching up): the next write
             * copies the tail and starts the WAL over. Else, a load that writes faster than
             * the copies catch up, or a pinned snapshot: past four times the threshold, bound
             * the WAL anyway. (A WAL past four times the threshold that has caught up takes
             * the tail's way: with a pass a second, back-to-back single commits reach that
             * size between two passes.) */
            if (rc == SQLITE_OK && copied <= CKPT_TAIL && n_log - n_done <= CKPT_TAIL)
                rc = ckpt_ready_tail(c, db);
            else if (rc == SQLITE_OK && n_log > 4 * CKPT_RESTART_FRAMES)
                rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
        }
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            kf_log(KF_LOG_WARN, "store: checkpoint: %s", sqlite3_errmsg(db));
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    sqlite3_close(db);
    return NULL;
}

static void ckpt_start(ckpt *c, const char *path)
{
    if (!(c->path = kf_strdup(path)))
        return;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->started = pthread_create(&c->th, NULL, ckpt_main, c) == 0;
    if (!c->started) {
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
    }
}

static void ckpt_stop(ckpt *c)
{
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stop = 1;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->th, NULL);
        pthread_mutex_destroy(&c->lock);
        pthread_cond_destroy(&c->cond);
        c->started = 0;
    }
    kf_free(c->path);
    c->path = NULL;
}

static void writer_stop(writer *w);

static void sq_close(void *be)
{
    sq *s = be;
    if (!s)
        return;
    writer_stop(&s->wr);
    ckpt_stop(&s->ck);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(s->st[i]);
    /* the last connection to close checkpoints what is left in the WAL */
    sqlite3_close(s->db);
    kf_free(s);
}

static int fail_db(sq *s, const char *what)
{
    kf_log(KF_LOG_ERR, "store: %s: %s", what, sqlite3_errmsg(s->db));
    return KF_EDB;
}

static int run(sq *s, int which);

static atomic_long tail_copies; /* kf_store_sqlite__tail_copies() */

long kf_store_sqlite__tail_copies(void)
{
    return atomic_load(&tail_copies);
}

/* BEGIN IMMEDIATE, first copying the WAL's tail when the checkpointer asks for it
 * (CKPT_RESTART_FRAMES): then this transaction writes the WAL from its start. A failed copy
 * costs only the restart: the checkpointer asks again. The copy ends with two disk syncs
 * (the WAL's new frames, then the database file), measured at 2 to over 100 ms on a busy
 * disk, so with a writer thread only that thread copies (tail set): the event loop never
 * waits for the disk, and sends the next batch to the writer whatever its size
 * (append_batch_due). */
static int store_begin_tail(sq *s, int tail)
{
    if (tail && s->ckp && atomic_exchange(&s->ckp->tail_due, 0)) {
        int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        if (rc == SQLITE_OK)
            tail_copies++;
        else if (rc != SQLITE_BUSY) /* BUSY: the checkpointer is copying now */
            kf_log(KF_LOG_WARN, "store: checkpoint: %s", sqlite3_errmsg(s->db));
    }
    return run(s, ST_BEGIN);
}

/* A write on the caller's thread: it copies the tail only when there is no writer thread. */
static int store_begin(sq *s)
{
    return store_begin_tail(s, !s->wr.th);
}

/* Runs a statement that returns no rows; resets it. */
static int run(sq *s, int which)
{
    sqlite3_stmt *st = s->st[which];
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? KF_OK : fail_db(s, stmt_sql[which]);
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void copy_str(char *dst, size_t n, const unsigned char *src)
{
    snprintf(dst, n, "%s", src ? (const char *)src : "");
}

static int sq_conv_find(void *be, const char *token, kf_conv *out)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_CONV_FIND];
    int rc;

    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_column_int64(st, 0);
        copy_str(out->token, sizeof(out->token), sqlite3_column_text(st, 1));
        out->created_ms = sqlite3_column_int64(st, 2);
        copy_str(out->lang, sizeof(out->lang), sqlite3_column_text(st, 3));
        copy_str(out->state, sizeof(out->state), sqlite3_column_text(st, 4));
        out->last_seq = sqlite3_column_int64(st, 5);
        out->fallbacks = sqlite3_column_int(st, 6);
        rc = KF_OK;
    } else if (rc == SQLITE_DONE) {
        rc = KF_ENOTFOUND;
    } else {
        rc = fail_db(s, "find conversation");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_conv_create(void *be, const char *token, const char *lang, const char *page,
                          int64_t now_ms, kf_conv *out)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_CONV_INSERT];

    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    bind_text(st, 3, lang);
    bind_text(st, 4, page);
    int rc = run(s, ST_CONV_INSERT);
    if (rc)
        return rc;
    memset(out, 0, sizeof(*out));
    out->id = sqlite3_last_insert_rowid(s->db);
    snprintf(out->token, sizeof(out->token), "%s", token);
    out->created_ms = now_ms;
    snprintf(out->lang, sizeof(out->lang), "%s", lang ? lang : "");
    snprintf(out->state, sizeof(out->state), "bot");
    return KF_OK;
}

static int sq_conv_update(void *be, int64_t id, const char *lang, const char *page,
                          const char *state)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_CONV_UPDATE];
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, lang);
    bind_text(st, 3, page);
    bind_text(st, 4, state);
    return run(s, ST_CONV_UPDATE);
}

/* Numbers n rows of a conversation: seqs[0..n-1] get the next n numbers, with one update of
 * the conversation (the last number given and the time of its latest row), then a read of
 * the number. Not one UPDATE ... RETURNING: SQLite runs a RETURNING statement to its end on
 * the first step and hands the rows over from a table of its own; on 150,000 answers in
 * batches of 500 the store took 29-32 us per answer with it and 14-19 without. */
static int next_seqs(sq *s, int64_t conv, int64_t now_ms, size_t n, int64_t *seqs)
{
    sqlite3_stmt *st = s->st[ST_NEXT_SEQ];
    int64_t last = 0;
    sqlite3_bind_int64(st, 1, conv);
    sqlite3_bind_int64(st, 2, now_ms);
    sqlite3_bind_int64(st, 3, (int64_t)n);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return fail_db(s, "next seq");
    if (sqlite3_changes(s->db) != 1)
        return KF_ENOTFOUND;
    st = s->st[ST_LAST_SEQ];
    sqlite3_bind_int64(st, 1, conv);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        last = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return fail_db(s, "next seq");
    for (size_t i = 0; i < n; i++)
        seqs[i] = last - (int64_t)(n - 1 - i);
    return KF_OK;
}

/* Stores one row as number seq (next_seqs); prev is the number of the row before it in the
 * same append (0 for the first). */
static int append_one(sq *s, int64_t conv, const kf_store_row *r, int64_t now_ms, int64_t prev,
                      int64_t seq)
{
    sqlite3_stmt *st;
    int rc;

    st = s->st[ST_MSG_INSERT];
    sqlite3_bind_int64(st, 1, conv);
    sqlite3_bind_int64(st, 2, seq);
    sqlite3_bind_text(st, 3, r->dir == KF_DIR_IN ? "in" : "out", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->kind ? r->kind : "message", -1, SQLITE_STATIC);
    bind_text(st, 5, r->client_id);
    bind_text(st, 6, r->text);
    bind_text(st, 7, r->entry);
    bind_text(st, 8, r->frame);
    sqlite3_bind_int64(st, 9, now_ms);
    int64_t reply_to =
        r->dir == KF_DIR_OUT ? (r->ref_seq == KF_STORE_REF_PREV ? prev : r->ref_seq) : 0;
    if (reply_to > 0)
        sqlite3_bind_int64(st, 10, reply_to);
    else
        sqlite3_bind_null(st, 10);
    if (r->dir == KF_DIR_IN && r->decision) {
        bind_text(st, 11, r->decision);
        if (strcmp(r->decision, "chosen"))
            sqlite3_bind_double(st, 12, r->confidence);
        bind_text(st, 13, r->norm);
    }
    st = s->st[ST_MSG_INSERT];
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return fail_db(s, stmt_sql[ST_MSG_INSERT]);
    if (r->dir == KF_DIR_IN && r->kind && strcmp(r->kind, "feedback") == 0) {
        st = s->st[ST_FEEDBACK_INSERT];
        sqlite3_bind_int64(st, 1, conv);
        sqlite3_bind_int64(st, 2, seq);
        if (r->ref_seq > 0)
            sqlite3_bind_int64(st, 3, r->ref_seq);
        else
            sqlite3_bind_null(st, 3);
        bind_text(st, 4, r->entry);
        sqlite3_bind_int(st, 5, r->helpful > 0);
        sqlite3_bind_int64(st, 6, now_ms);
        if ((rc = run(s, ST_FEEDBACK_INSERT)))
            return rc;
    }
    return KF_OK;
}

static int writer_wait(writer *w);

/* The connection that stores messages: the writer's, when there is one, used here after its
 * thread's job is done (the connection is the thread's until then). In WAL mode SQLite drops
 * a connection's whole page cache when it begins a transaction and finds that another
 * connection has committed since, so commits alternating between the loop's connection and
 * the writer's (small batches here, large ones there) made each read its pages back from the
 * files. */
static sq *msg_conn(sq *s)
{
    if (!s->wr.th)
        return s;
    writer_wait(&s->wr);
    return s->wr.conn;
}

/* Begins a write of messages on msg_conn's connection (*out); the WAL's tail is copied only
 * when there is no writer thread (store_begin_tail). */
static int msg_begin(void *be, sq **out)
{
    sq *s = *out = msg_conn(be);
    return store_begin_tail(s, s == be);
}

/* n rows of one conversation inside the open transaction (seqs: their numbers). */
static int append_rows(sq *s, int64_t conv, const kf_store_row *rows, size_t n, int64_t now_ms,
                       int64_t *seqs)
{
    int rc = n ? next_seqs(s, conv, now_ms, n, seqs) : KF_OK;
    for (size_t i = 0; i < n && !rc; i++)
        rc = append_one(s, conv, &rows[i], now_ms, i ? seqs[i - 1] : 0, seqs[i]);
    return rc;
}

static int sq_append(void *be, int64_t conv, const kf_store_row *rows, size_t n, int64_t now_ms,
                     int64_t *seqs)
{
    sq *s;
    int rc = msg_begin(be, &s);
    if (rc)
        return rc;
    if ((rc = append_rows(s, conv, rows, n, now_ms, seqs)) || (rc = run(s, ST_COMMIT)))
        goto fail;
    return KF_OK;
fail:
    run(s, ST_ROLLBACK);
    return rc;
}

static int sq_find_client_id(void *be, int64_t conv, const char *client_id, int64_t from,
                             int64_t to, int64_t *seq)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_FIND_CLIENT_ID];
    sqlite3_bind_int64(st, 1, conv);
    sqlite3_bind_text(st, 2, client_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, from);
    sqlite3_bind_int64(st, 4, to);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        rc = KF_OK;
    } else {
        rc = rc == SQLITE_DONE ? KF_ENOTFOUND : fail_db(s, "find client id");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static void read_row(sqlite3_stmt *st, kf_store_row *r)
{
    memset(r, 0, sizeof(*r));
    r->seq = sqlite3_column_int64(st, 0);
    const char *dir = (const char *)sqlite3_column_text(st, 1);
    r->dir = dir && strcmp(dir, "out") == 0 ? KF_DIR_OUT : KF_DIR_IN;
    r->kind = (const char *)sqlite3_column_text(st, 2);
    r->client_id = (const char *)sqlite3_column_text(st, 3);
    r->text = (const char *)sqlite3_column_text(st, 4);
    r->entry = (const char *)sqlite3_column_text(st, 5);
    r->frame = (const char *)sqlite3_column_text(st, 6);
    r->created_ms = sqlite3_column_int64(st, 7);
    r->ref_seq = sqlite3_column_int64(st, 8);
    r->helpful = -1;
}

static int rows_to_cb(sq *s, int which, size_t max, kf_store_row_cb cb, void *ud)
{
    sqlite3_stmt *st = s->st[which];
    int rc, n = 0;
    while ((size_t)n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        kf_store_row r;
        read_row(st, &r);
        n++;
        int stop = cb(ud, &r);
        if (stop) {
            rc = stop;
            goto out;
        }
    }
    if ((size_t)n < max && rc != SQLITE_DONE)
        rc = fail_db(s, "read rows");
    else
        rc = n;
out:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

static int sq_get_row(void *be, int64_t conv, int64_t seq, kf_store_row_cb cb, void *ud)
{
    sq *s = be;
    sqlite3_bind_int64(s->st[ST_GET_ROW], 1, conv);
    sqlite3_bind_int64(s->st[ST_GET_ROW], 2, seq);
    int rc = rows_to_cb(s, ST_GET_ROW, 1, cb, ud);
    return rc == 0 ? KF_ENOTFOUND : rc == 1 ? KF_OK : rc;
}

static int sq_replay(void *be, int64_t conv, int64_t after, size_t max, kf_store_row_cb cb,
                     void *ud)
{
    sq *s = be;
    sqlite3_bind_int64(s->st[ST_REPLAY], 1, conv);
    sqlite3_bind_int64(s->st[ST_REPLAY], 2, after);
    sqlite3_bind_int64(s->st[ST_REPLAY], 3, (sqlite3_int64)max);
    return rows_to_cb(s, ST_REPLAY, max, cb, ud);
}

static int sq_event_add(void *be, int64_t conv, const char *kind, const char *detail,
                        int64_t now_ms)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_EVENT_INSERT];
    sqlite3_bind_int64(st, 1, conv);
    sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
    bind_text(st, 3, detail);
    sqlite3_bind_int64(st, 4, now_ms);
    return run(s, ST_EVENT_INSERT);
}

/* ---- handoff ------------------------------------------------------------------ */

static void reset(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

static int64_t col_i64(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, i);
}

static int sq_conv_get(void *be, int64_t id, kf_conv *out)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_CONV_GET];
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        memset(out, 0, sizeof(*out));
        out->id = sqlite3_column_int64(st, 0);
        copy_str(out->token, sizeof(out->token), sqlite3_column_text(st, 1));
        out->created_ms = sqlite3_column_int64(st, 2);
        copy_str(out->lang, sizeof(out->lang), sqlite3_column_text(st, 3));
        copy_str(out->state, sizeof(out->state), sqlite3_column_text(st, 4));
        out->last_seq = sqlite3_column_int64(st, 5);
        out->fallbacks = sqlite3_column_int(st, 6);
        copy_str(out->page, sizeof(out->page), sqlite3_column_text(st, 7));
        rc = KF_OK;
    } else {
        rc = rc == SQLITE_DONE ? KF_ENOTFOUND : fail_db(s, "get conversation");
    }
    reset(st);
    return rc;
}

static int sq_conv_set_fallbacks(void *be, int64_t id, int n)
{
    sq *s = be;
    sqlite3_bind_int64(s->st[ST_CONV_FALLBACKS], 1, id);
    sqlite3_bind_int(s->st[ST_CONV_FALLBACKS], 2, n);
    return run(s, ST_CONV_FALLBACKS);
}

/* One batch item inside the open transaction. A failure may leave part of it written: the
 * caller rolls the transaction back. */
static int batch_one(sq *s, kf_store_batch_item *it, int64_t now_ms)
{
    int rc = append_rows(s, it->conv, it->rows, it->n, now_ms, it->seqs);
    if (!rc && it->lang)
        rc = sq_conv_update(s, it->conv, it->lang, NULL, NULL);
    if (!rc && it->fallbacks >= 0)
        rc = sq_conv_set_fallbacks(s, it->conv, it->fallbacks);
    return rc;
}

/* Group commit (store.h): one BEGIN IMMEDIATE ... COMMIT around every item. When an item
 * fails (a full disk, an I/O error) or the COMMIT does, the whole transaction is rolled back
 * and each item is stored alone, in its own transaction, so that every item ends exactly as
 * a lone append() would. (No savepoint per item: since version 5 what fails one item and
 * not the others is rare, a conversation deleted meanwhile (kefu purge), and a savepoint
 * journals each page it changes that the transaction had already changed; in a large group
 * commit that journal outgrew memory and went to a temporary file, hundreds of page writes
 * a second under load.) */
/* tail: this thread may copy the WAL's tail (store_begin_tail). */
static void append_batch(sq *s, kf_store_batch_item *items, size_t n, int64_t now_ms, int tail)
{
    int whole = store_begin_tail(s, tail) == KF_OK;
    for (size_t i = 0; whole && i < n; i++)
        if ((items[i].rc = batch_one(s, &items[i], now_ms)))
            whole = 0;
    if (whole && run(s, ST_COMMIT) == KF_OK)
        return;
    if (!sqlite3_get_autocommit(s->db))
        run(s, ST_ROLLBACK);
    kf_log(KF_LOG_WARN, "store: group commit of %zu items failed; storing them one by one", n);
    for (size_t i = 0; i < n; i++) {
        kf_store_batch_item *it = &items[i];
        int rc = store_begin_tail(s, tail);
        if (!rc)
            rc = batch_one(s, it, now_ms);
        if (!rc)
            rc = run(s, ST_COMMIT);
        if (rc && !sqlite3_get_autocommit(s->db))
            run(s, ST_ROLLBACK);
        it->rc = rc;
    }
}

static void sq_append_batch(void *be, kf_store_batch_item *items, size_t n, int64_t now_ms)
{
    sq *s = msg_conn(be);
    append_batch(s, items, n, now_ms, s == be);
}

static void writer_run(void *arg) /* on the writer's thread */
{
    writer *w = arg;
    append_batch(w->conn, w->items, w->n, w->now_ms, 1);
}

static int sq_batch_due(void *be)
{
    sq *s = be;
    return s->wr.th && s->ckp && atomic_load(&s->ckp->tail_due);
}

static int sq_batch_start(void *be, kf_store_batch_item *items, size_t n, int64_t now_ms,
                          void (*done)(void *ud), void *ud)
{
    writer *w = &((sq *)be)->wr;
    if (!w->th)
        return KF_EINVAL;     /* no writer (":memory:", or the thread could not start) */
    kf_jobthread_wait(w->th); /* the job's fields are the thread's until then */
    w->items = items;
    w->n = n;
    w->now_ms = now_ms;
    kf_jobthread_submit(w->th, w, done, ud);
    return KF_OK;
}

/* Waits for the writer's job to finish; 1 if there was one. */
static int writer_wait(writer *w)
{
    return w->th ? kf_jobthread_wait(w->th) : 0;
}

static void sq_batch_wait(void *be)
{
    writer_wait(&((sq *)be)->wr);
}

/* The serving connection's busy handler: when our own writer holds the write lock, wait for
 * it to finish rather than sleep and poll; another process (a CLI command) is waited for
 * in 1 ms steps, up to busy_ms (about 5 s by default). */
static int main_busy(void *ud, int count)
{
    sq *s = ud;
    if (count >= s->busy_ms)
        return 0;
    if (!writer_wait(&s->wr))
        usleep(1000);
    return 1;
}

static void writer_stop(writer *w)
{
    kf_jobthread_stop(w->th); /* the last job first */
    w->th = NULL;
    sq_close(w->conn);
    w->conn = NULL;
}

static void read_agent(sqlite3_stmt *st, kf_agent_rec *a)
{
    memset(a, 0, sizeof(*a));
    a->id = sqlite3_column_int64(st, 0);
    copy_str(a->name, sizeof(a->name), sqlite3_column_text(st, 1));
    copy_str(a->display, sizeof(a->display), sqlite3_column_text(st, 2));
    copy_str(a->pw_hash, sizeof(a->pw_hash), sqlite3_column_text(st, 3));
    a->max_chats = sqlite3_column_int(st, 4);
    a->disabled = sqlite3_column_int(st, 5);
    a->created_ms = sqlite3_column_int64(st, 6);
}

static int sq_agent_add(void *be, kf_agent_rec *a, int64_t now_ms)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_AGENT_INSERT];
    sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->display, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->pw_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, a->max_chats);
    sqlite3_bind_int(st, 5, a->disabled);
    sqlite3_bind_int64(st, 6, now_ms);
    int rc = sqlite3_step(st);
    reset(st);
    if (rc == SQLITE_CONSTRAINT)
        return KF_EINVAL;
    if (rc != SQLITE_DONE)
        return fail_db(s, "add agent");
    a->id = sqlite3_last_insert_rowid(s->db);
    a->created_ms = now_ms;
    return KF_OK;
}

static int sq_agent_get(void *be, const char *name, int64_t id, kf_agent_rec *out)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[name ? ST_AGENT_BY_NAME : ST_AGENT_BY_ID];
    if (name)
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        read_agent(st, out);
        rc = KF_OK;
    } else {
        rc = rc == SQLITE_DONE ? KF_ENOTFOUND : fail_db(s, "get agent");
    }
    reset(st);
    return rc;
}

static int sq_agent_save(void *be, const kf_agent_rec *a)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_AGENT_SAVE];
    sqlite3_bind_int64(st, 1, a->id);
    sqlite3_bind_text(st, 2, a->display, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->pw_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, a->max_chats);
    sqlite3_bind_int(st, 5, a->disabled);
    return run(s, ST_AGENT_SAVE);
}

static int sq_agent_list(void *be, kf_store_agent_cb cb, void *ud)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_AGENT_LIST];
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kf_agent_rec a;
        read_agent(st, &a);
        n++;
        int stop = cb(ud, &a);
        if (stop) {
            reset(st);
            return stop;
        }
    }
    reset(st);
    return rc == SQLITE_DONE ? n : fail_db(s, "list agents");
}

static int sq_login_add(void *be, const char *token, int64_t agent, int64_t expires_ms)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_LOGIN_INSERT];
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, agent);
    sqlite3_bind_int64(st, 3, expires_ms);
    return run(s, ST_LOGIN_INSERT);
}

static int sq_login_find(void *be, const char *token, int64_t now_ms, int64_t *agent,
                         int64_t *expires_ms)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_LOGIN_FIND];
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *agent = sqlite3_column_int64(st, 0);
        *expires_ms = sqlite3_column_int64(st, 1);
        rc = KF_OK;
    } else {
        rc = rc == SQLITE_DONE ? KF_ENOTFOUND : fail_db(s, "find login");
    }
    reset(st);
    return rc;
}

static int sq_login_revoke(void *be, const char *token)
{
    sq *s = be;
    sqlite3_bind_text(s->st[ST_LOGIN_REVOKE], 1, token, -1, SQLITE_STATIC);
    return run(s, ST_LOGIN_REVOKE);
}

static int set_conv_state(sq *s, int64_t conv, const char *state)
{
    sqlite3_bind_int64(s->st[ST_CONV_STATE], 1, conv);
    sqlite3_bind_text(s->st[ST_CONV_STATE], 2, state, -1, SQLITE_STATIC);
    return run(s, ST_CONV_STATE);
}

static int sq_case_open(void *be, kf_hcase *c)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_CASE_INSERT];
    int rc = store_begin(s);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, c->conv);
    sqlite3_bind_text(st, 2, c->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, c->urgent);
    sqlite3_bind_text(st, 4, c->state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, c->agent);
    sqlite3_bind_int64(st, 6, c->queued_ms);
    sqlite3_bind_int(st, 7, c->flagged);
    if ((rc = run(s, ST_CASE_INSERT)))
        goto fail;
    c->id = sqlite3_last_insert_rowid(s->db);
    if ((rc = set_conv_state(s, c->conv, "queued")) || (rc = run(s, ST_COMMIT)))
        goto fail;
    return KF_OK;
fail:
    run(s, ST_ROLLBACK);
    return rc;
}

static int sq_case_save(void *be, const kf_hcase *c, const char *conv_state)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_CASE_SAVE];
    int rc = store_begin(s);
    if (rc)
        return rc;
    sqlite3_bind_int64(st, 1, c->id);
    sqlite3_bind_text(st, 2, c->state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, c->agent);
    sqlite3_bind_int64(st, 4, c->assigned_ms);
    sqlite3_bind_int64(st, 5, c->first_response_ms);
    sqlite3_bind_int64(st, 6, c->ended_ms);
    sqlite3_bind_int(st, 7, c->flagged);
    sqlite3_bind_text(st, 8, c->end, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, c->reason, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 10, c->urgent);
    if ((rc = run(s, ST_CASE_SAVE)) || (rc = set_conv_state(s, c->conv, conv_state)) ||
        (rc = run(s, ST_COMMIT)))
        goto fail;
    return KF_OK;
fail:
    run(s, ST_ROLLBACK);
    return rc;
}

static int cases_to_cb(sq *s, int which, kf_store_case_cb cb, void *ud)
{
    sqlite3_stmt *st = s->st[which];
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kf_hcase c;
        memset(&c, 0, sizeof(c));
        c.id = sqlite3_column_int64(st, 0);
        c.conv = sqlite3_column_int64(st, 1);
        copy_str(c.reason, sizeof(c.reason), sqlite3_column_text(st, 2));
        c.urgent = sqlite3_column_int(st, 3);
        copy_str(c.state, sizeof(c.state), sqlite3_column_text(st, 4));
        c.agent = col_i64(st, 5);
        c.queued_ms = col_i64(st, 6);
        c.assigned_ms = col_i64(st, 7);
        c.first_response_ms = col_i64(st, 8);
        c.ended_ms = col_i64(st, 9);
        c.flagged = sqlite3_column_int(st, 10);
        copy_str(c.end, sizeof(c.end), sqlite3_column_text(st, 11));
        n++;
        int stop = cb(ud, &c);
        if (stop) {
            reset(st);
            return stop;
        }
    }
    reset(st);
    return rc == SQLITE_DONE ? n : fail_db(s, "list cases");
}

static int sq_case_list_open(void *be, kf_store_case_cb cb, void *ud)
{
    return cases_to_cb(be, ST_CASE_OPEN, cb, ud);
}

static int sq_case_list_conv(void *be, int64_t conv, kf_store_case_cb cb, void *ud)
{
    sq *s = be;
    sqlite3_bind_int64(s->st[ST_CASE_CONV], 1, conv);
    return cases_to_cb(s, ST_CASE_CONV, cb, ud);
}

static int sq_handle_times(void *be, int64_t *out, size_t max)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_HANDLE_TIMES];
    sqlite3_bind_int64(st, 1, (sqlite3_int64)max);
    int rc, n = 0;
    while ((size_t)n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
        out[n++] = sqlite3_column_int64(st, 0);
    reset(st);
    return n;
}

static int sq_note_add(void *be, int64_t conv, int64_t agent, const char *text, int64_t now_ms)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_NOTE_INSERT];
    sqlite3_bind_int64(st, 1, conv);
    sqlite3_bind_int64(st, 2, agent);
    sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now_ms);
    return run(s, ST_NOTE_INSERT);
}

static int sq_note_list(void *be, int64_t conv, kf_store_note_cb cb, void *ud)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_NOTE_LIST];
    sqlite3_bind_int64(st, 1, conv);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kf_note nt = {.id = sqlite3_column_int64(st, 0),
                      .conv = sqlite3_column_int64(st, 1),
                      .agent = sqlite3_column_int64(st, 2),
                      .agent_name = (const char *)sqlite3_column_text(st, 3),
                      .text = (const char *)sqlite3_column_text(st, 4),
                      .created_ms = sqlite3_column_int64(st, 5)};
        n++;
        int stop = cb(ud, &nt);
        if (stop) {
            reset(st);
            return stop;
        }
    }
    reset(st);
    return rc == SQLITE_DONE ? n : fail_db(s, "list notes");
}

static int sq_ticket_add(void *be, kf_ticket *t, kf_store_row *rows, size_t n, int64_t now_ms,
                         int64_t *seqs, kf_store_fill_cb fill, void *ud)
{
    sq *s; /* with the conversation's rows, as sq_append */
    int rc = msg_begin(be, &s);
    t->id = 0;
    if (rc)
        return rc;
    sqlite3_stmt *st = s->st[ST_TICKET_INSERT];
    sqlite3_bind_int64(st, 1, t->conv);
    bind_text(st, 2, t->name);
    sqlite3_bind_text(st, 3, t->contact, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, t->text, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, t->created_ms);
    if ((rc = run(s, ST_TICKET_INSERT)))
        goto fail;
    int64_t id = sqlite3_last_insert_rowid(s->db);
    if ((fill && (rc = fill(ud, id, rows))) ||
        (rc = append_rows(s, t->conv, rows, n, now_ms, seqs)) || (rc = run(s, ST_COMMIT)))
        goto fail;
    t->id = id;
    snprintf(t->status, sizeof(t->status), "open");
    return KF_OK;
fail:
    run(s, ST_ROLLBACK);
    return rc;
}

static int sq_ticket_save(void *be, const kf_ticket *t)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[ST_TICKET_SAVE];
    sqlite3_bind_int64(st, 1, t->id);
    sqlite3_bind_text(st, 2, t->status, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, t->agent);
    sqlite3_bind_int64(st, 4, kf_store_now_ms());
    return run(s, ST_TICKET_SAVE);
}

static int sq_ticket_list(void *be, int64_t id, kf_store_ticket_cb cb, void *ud)
{
    sq *s = be;
    sqlite3_stmt *st = s->st[id ? ST_TICKET_ONE : ST_TICKET_OPEN];
    if (id)
        sqlite3_bind_int64(st, 1, id);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kf_ticket t = {.id = sqlite3_column_int64(st, 0),
                       .conv = col_i64(st, 1),
                       .name = (const char *)sqlite3_column_text(st, 2),
                       .contact = (const char *)sqlite3_column_text(st, 3),
                       .text = (const char *)sqlite3_column_text(st, 4),
                       .agent = col_i64(st, 6),
                       .created_ms = sqlite3_column_int64(st, 7)};
        copy_str(t.status, sizeof(t.status), sqlite3_column_text(st, 5));
        n++;
        int stop = cb(ud, &t);
        if (stop) {
            reset(st);
            return stop;
        }
    }
    reset(st);
    return rc == SQLITE_DONE ? n : fail_db(s, "list tickets");
}

static int sq_survey_add(void *be, const kf_survey *sv, const kf_store_row *rows, size_t n,
                         int64_t now_ms, int64_t *seqs)
{
    sq *s; /* with the conversation's rows, as sq_append */
    int rc = msg_begin(be, &s);
    if (rc)
        return rc;
    sqlite3_stmt *st = s->st[ST_SURVEY_INSERT];
    sqlite3_bind_int64(st, 1, sv->conv);
    sqlite3_bind_int64(st, 2, sv->case_id);
    sqlite3_bind_int(st, 3, sv->csat);
    sqlite3_bind_int(st, 4, sv->nps);
    sqlite3_bind_int(st, 5, sv->ces);
    bind_text(st, 6, sv->comment);
    sqlite3_bind_int64(st, 7, now_ms);
    int step = sqlite3_step(st);
    reset(st);
    if ((step & 0xff) == SQLITE_CONSTRAINT)
        rc = KF_EINVAL; /* this case has its answer already */
    else if (step != SQLITE_DONE)
        rc = fail_db(s, "add survey");
    else if (!(rc = append_rows(s, sv->conv, rows, n, now_ms, seqs)))
        rc = run(s, ST_COMMIT);
    if (rc)
        run(s, ST_ROLLBACK);
    return rc;
}

/* ---- records: the queries live in store_sqlite_report.c ------------------------- */

static int sq_report_scan(void *be, const kf_report_query *q, const kf_report_sink *k)
{
    return kf_store_sqlite__report(((sq *)be)->db, q, k);
}

static int sq_purge(void *be, int64_t before_ms, kf_purge_counts *out)
{
    return kf_store_sqlite__purge(((sq *)be)->db, before_ms, out);
}

static int sq_vacuum(void *be)
{
    return kf_store_sqlite__vacuum(((sq *)be)->db);
}

static int sq_export_conv(void *be, int64_t id, char **json)
{
    return kf_store_sqlite__export(((sq *)be)->db, id, json);
}

static const kf_store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sq_close,
    .conv_create = sq_conv_create,
    .conv_find = sq_conv_find,
    .conv_update = sq_conv_update,
    .append = sq_append,
    .append_batch = sq_append_batch,
    .append_batch_start = sq_batch_start,
    .append_batch_wait = sq_batch_wait,
    .append_batch_due = sq_batch_due,
    .find_client_id = sq_find_client_id,
    .get_row = sq_get_row,
    .replay = sq_replay,
    .event_add = sq_event_add,
    .conv_get = sq_conv_get,
    .conv_set_fallbacks = sq_conv_set_fallbacks,
    .agent_add = sq_agent_add,
    .agent_get = sq_agent_get,
    .agent_save = sq_agent_save,
    .agent_list = sq_agent_list,
    .login_add = sq_login_add,
    .login_find = sq_login_find,
    .login_revoke = sq_login_revoke,
    .case_open = sq_case_open,
    .case_save = sq_case_save,
    .case_list_open = sq_case_list_open,
    .case_list_conv = sq_case_list_conv,
    .handle_times = sq_handle_times,
    .note_add = sq_note_add,
    .note_list = sq_note_list,
    .ticket_add = sq_ticket_add,
    .ticket_save = sq_ticket_save,
    .ticket_list = sq_ticket_list,
    .survey_add = sq_survey_add,
    .report_scan = sq_report_scan,
    .purge = sq_purge,
    .vacuum = sq_vacuum,
    .export_conv = sq_export_conv,
};

static int exec(sq *s, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return KF_EDB;
    }
    return KF_OK;
}

static int check_version(sq *s, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = KF_EDB;
    if (sqlite3_prepare_v2(s->db, "SELECT max(version) FROM schema_version", -1, &st, NULL)) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(s->db));
        return KF_EDB;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        snprintf(err, errlen, "%s", sqlite3_errmsg(s->db));
        goto out;
    }
    int v = sqlite3_column_type(st, 0) == SQLITE_NULL ? 0 : sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    st = NULL;
    /* A new file gets schema 1 (schema_sql) and then every migration, the same path an old
     * file takes, so there is one definition of each version. */
    int fresh = v == 0;
    if (v == 0) {
        if (exec(s, "INSERT INTO schema_version(version) VALUES (1)", err, errlen))
            goto out;
        v = 1;
    }
    /* migrations[v] takes a version-v file to v + 1 */
    static const char *const migrations[SCHEMA_VERSION] = {
        [1] = migrate_2_sql, [2] = migrate_3_sql, [3] = migrate_4_sql, [4] = migrate_5_sql};
    for (; v >= 1 && v < SCHEMA_VERSION; v++) {
        if (exec(s, migrations[v], err, errlen))
            goto out;
        if (!fresh)
            kf_log(KF_LOG_INFO, "store: database schema upgraded from version %d to %d", v, v + 1);
    }
    if (v != SCHEMA_VERSION) {
        snprintf(err, errlen, "database schema version %d, this kefu knows %d", v, SCHEMA_VERSION);
    } else {
        rc = KF_OK;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

/* Opens one connection with kefu's settings; the statements are prepared by prepare(). */
static sq *conn_open(const char *path, const kf_store_options *opt, int cache_kb, char *err,
                     size_t errlen)
{
    char pragmas[256];
    sq *s = kf_calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* The database holds transcripts and session tokens: owner-only by default. */
    mode_t old = umask(077);
    int rc = sqlite3_open_v2(path, &s->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                             kf_store_walbuf__vfs());
    umask(old);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, s->db ? sqlite3_errmsg(s->db) : "cannot open");
        sq_close(s);
        return NULL;
    }
    s->busy_ms = opt && opt->busy_ms > 0 ? opt->busy_ms : 5000;
    sqlite3_busy_handler(s->db, main_busy, s);
    /* cache_spill=OFF: what store_walbuf.c asks of a writing connection */
    snprintf(pragmas, sizeof(pragmas),
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON; "
             "PRAGMA wal_autocheckpoint=0; PRAGMA cache_spill=OFF; PRAGMA cache_size=-%d;",
             opt && opt->sync_full ? "FULL" : "NORMAL", cache_kb);
    if (exec(s, pragmas, err, errlen)) {
        sq_close(s);
        return NULL;
    }
    return s;
}

static int prepare(sq *s, char *err, size_t errlen)
{
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "%s: %s", stmt_sql[i], sqlite3_errmsg(s->db));
            return KF_EDB;
        }
    return KF_OK;
}

/* The writer's connection and thread. Without them (":memory:", or a failure, logged),
 * append_batch_start says no and the server stores on its own thread. */
static void writer_start(sq *s, const char *path, const kf_store_options *opt)
{
    char err[256];
    writer *w = &s->wr;
    if (!strcmp(path, ":memory:"))
        return;
    /* The writer's page cache (WRITER_CACHE_KB). The serving connection keeps the default:
     * 10,000 idle visitors must fit in 100 MB. */
    if (!(w->conn = conn_open(path, opt, WRITER_CACHE_KB, err, sizeof(err))) ||
        prepare(w->conn, err, sizeof(err))) {
        kf_log(KF_LOG_WARN, "store: no writer thread (%s): group commits run on the loop", err);
        sq_close(w->conn);
        w->conn = NULL;
        return;
    }
    w->conn->ckp = s->ckp;
    if (!(w->th = kf_jobthread_start(writer_run)))
        writer_stop(w); /* closes the connection */
}

/* Names the file in err, and says so when its directory cannot be written: SQLite says only
 * "unable to open database file" when it cannot create the WAL beside a database on a
 * read-only file system. */
static void open_error(const char *path, char *err, size_t errlen)
{
    char msg[512], dir[PATH_MAX];
    if (!errlen || !strcmp(path, ":memory:"))
        return;
    size_t n = strlen(path);
    const char *m = err;
    if (!strncmp(err, path, n) && !strncmp(err + n, ": ", 2))
        m = err + n + 2; /* named already (conn_open) */
    snprintf(msg, sizeof(msg), "%s", m);
    const char *slash = strrchr(path, '/');
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) + (slash == path) : 1,
             slash ? path : ".");
    if (access(dir, W_OK) != 0)
        snprintf(err, errlen, "%s: %s (the directory %s cannot be written: %s)", path, msg, dir,
                 strerror(errno));
    else
        snprintf(err, errlen, "%s: %s", path, msg);
}

kf_store *kf_store_open_sqlite(const char *path, const kf_store_options *opt, char *err,
                               size_t errlen)
{
    kf_store *st = kf_calloc(1, sizeof(*st));
    sq *s = st ? conn_open(path, opt, 2000, err, errlen) : NULL;
    if (!st)
        snprintf(err, errlen, "out of memory");
    if (!s)
        goto fail;
    if (exec(s, "BEGIN", err, errlen))
        goto fail;
    /* The DROP again on every open: a kefu older than version 5 started on this file creates
     * the index (its schema_sql) before it refuses the version, and nothing would remove it;
     * with it, a client id sent twice would fail its insert. */
    if (exec(s, schema_sql, err, errlen) || check_version(s, err, errlen) ||
        exec(s, "DROP INDEX IF EXISTS messages_client_id", err, errlen)) {
        exec(s, "ROLLBACK", err + strlen(err), 0);
        goto fail;
    }
    if (exec(s, "COMMIT", err, errlen) || prepare(s, err, errlen))
        goto fail;
    if (strcmp(path, ":memory:") != 0)
        ckpt_start(&s->ck, path);
    if (s->ck.started)
        s->ckp = &s->ck;
    if (opt && opt->writer)
        writer_start(s, path, opt);
    st->ops = &sqlite_ops;
    st->be = s;
    return st;
fail:
    open_error(path, err, errlen);
    sq_close(s);
    kf_free(st);
    return NULL;
}
