/* SPDX-License-Identifier: MIT
 * The SQLite backend's records side: the queries behind `kefu report` and /api/report (rows of
 * a period, handed to a sink; report.c makes the figures), `kefu purge` and `kefu export`.
 * Everything is keyed on the conversation's start time, so each query walks the
 * conversations_created index and, per conversation, the narrow partial index messages_bot
 * (schema 3, store_sqlite.c) rather than the wide message rows. */
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <string.h>

#include "kefu/log.h"
#include "kefu/mem.h"

/* Conversations of the period with their decided rows counted. The counts come from the
 * covering index; the case and ticket counts from their conv_id indexes. Grouping in the
 * order of conversations_created (created, id) needs no sort, and the index keeps a short
 * period from scanning every conversation. */
static const char q_conv[] =
    "SELECT x.*,"
    " (SELECT count(*) FROM cases k WHERE k.conv_id = x.id),"
    " (SELECT count(*) FROM cases k WHERE k.conv_id = x.id AND k.state != 'ended'),"
    " (SELECT count(*) FROM tickets t WHERE t.conv_id = x.id)"
    " FROM (SELECT c.id, c.created, coalesce(c.active, c.created),"
    "  sum(m.decision = 'answer'), sum(m.decision = 'clarify'), sum(m.decision = 'fallback'),"
    "  sum(m.decision = 'handoff'), sum(m.decision = 'reply'),"
    "  sum(m.decision = 'answer' AND m.confidence < ?3), sum(m.decision = 'chosen')"
    "  FROM conversations c INDEXED BY conversations_created"
    "  LEFT JOIN messages m INDEXED BY messages_bot ON m.conv_id = c.id AND m.decision IS NOT NULL"
    "  WHERE c.created >= ?1 AND c.created < ?2 GROUP BY c.created, c.id) x";

static const char q_cases[] =
    "SELECT c.created, k.reason, coalesce(k.agent_id, 0), coalesce(a.name, ''), k.queued,"
    " coalesce(k.assigned, 0), coalesce(k.first_response, 0), coalesce(k.ended, 0), k.end_kind,"
    " coalesce(s.csat, -1), coalesce(s.nps, -1), coalesce(s.ces, -1)"
    " FROM conversations c JOIN cases k ON k.conv_id = c.id"
    " LEFT JOIN agents a ON a.id = k.agent_id LEFT JOIN surveys s ON s.case_id = k.id"
    " WHERE c.created >= ?1 AND c.created < ?2 ORDER BY k.id";

static const char q_entries[] =
    "SELECT e, sum(a), sum(ch), sum(h), sum(nh) FROM ("
    " SELECT m.entry AS e, m.decision = 'answer' AS a, m.decision = 'chosen' AS ch, 0 AS h,"
    "  0 AS nh FROM conversations c JOIN messages m INDEXED BY messages_bot"
    "  ON m.conv_id = c.id AND m.decision IS NOT NULL"
    "  WHERE c.created >= ?1 AND c.created < ?2 AND m.decision IN ('answer', 'chosen')"
    "  AND m.entry IS NOT NULL"
    " UNION ALL"
    " SELECT f.entry, 0, 0, f.helpful != 0, f.helpful = 0 FROM conversations c"
    "  JOIN feedback f ON f.conv_id = c.id"
    "  WHERE c.created >= ?1 AND c.created < ?2 AND f.entry IS NOT NULL)"
    " GROUP BY e ORDER BY sum(a) + sum(ch) DESC, sum(h) + sum(nh) DESC, e";

/* The to-do condition, shared by the groups and their examples (?3: the low threshold). */
#define TODO_COND                                                                              \
    " AND m.norm IS NOT NULL AND m.norm != '' AND (m.decision IN ('fallback', 'clarify') OR"   \
    " (m.decision = 'answer' AND m.confidence < ?3))"

static const char q_todo[] =
    "SELECT m.norm, count(*) AS n, sum(m.decision = 'fallback'), sum(m.decision = 'clarify'),"
    " sum(m.decision = 'answer'), max(m.created) AS last"
    " FROM conversations c JOIN messages m INDEXED BY messages_bot"
    " ON m.conv_id = c.id AND m.decision IS NOT NULL"
    " WHERE c.created >= ?1 AND c.created < ?2" TODO_COND
    " GROUP BY m.norm ORDER BY n DESC, last DESC, m.norm LIMIT ?4";

static const char q_examples[] =
    "SELECT m.text, m.conv_id, m.created FROM messages m INDEXED BY messages_norm"
    " JOIN conversations c ON c.id = m.conv_id"
    " WHERE m.norm = ?4 AND m.decision IS NOT NULL AND c.created >= ?1 AND c.created < ?2"
    TODO_COND " ORDER BY m.created DESC, m.conv_id DESC, m.seq DESC LIMIT ?5";

static const char q_tickets[] =
    "SELECT id, created, coalesce(closed, 0), status FROM tickets"
    " WHERE created < ?2 AND (created >= ?1 OR status != 'closed') ORDER BY id";

static int db_fail(sqlite3 *db, const char *what)
{
    kf_log(KF_LOG_ERR, "store: %s: %s", what, sqlite3_errmsg(db));
    return KF_EDB;
}

static int prepare(sqlite3 *db, const char *sql, const kf_report_query *q, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
        return db_fail(db, "prepare report query");
    /* Every report query takes the same first parameters; unused ones are ignored. */
    int n = sqlite3_bind_parameter_count(*st);
    if (n >= 1)
        sqlite3_bind_int64(*st, 1, q->from_ms);
    if (n >= 2)
        sqlite3_bind_int64(*st, 2, q->to_ms);
    if (n >= 3)
        sqlite3_bind_double(*st, 3, q->low_confidence);
    if (n >= 4 && sql == q_todo)
        sqlite3_bind_int64(*st, 4, (sqlite3_int64)q->todo_max);
    return KF_OK;
}

static const char *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static int scan_conv(sqlite3 *db, const kf_report_query *q, const kf_report_sink *k)
{
    sqlite3_stmt *st = NULL;
    int src = SQLITE_DONE, rc = prepare(db, q_conv, q, &st);
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        kf_rconv c = {.id = sqlite3_column_int64(st, 0),
                      .created_ms = sqlite3_column_int64(st, 1),
                      .active_ms = sqlite3_column_int64(st, 2),
                      .answers = sqlite3_column_int64(st, 3),
                      .clarifies = sqlite3_column_int64(st, 4),
                      .fallbacks = sqlite3_column_int64(st, 5),
                      .handoffs = sqlite3_column_int64(st, 6),
                      .replies = sqlite3_column_int64(st, 7),
                      .low_conf = sqlite3_column_int64(st, 8),
                      .chosen = sqlite3_column_int64(st, 9),
                      .cases = sqlite3_column_int64(st, 10),
                      .cases_open = sqlite3_column_int64(st, 11),
                      .tickets = sqlite3_column_int64(st, 12)};
        rc = k->conv(k->ud, &c);
    }
    if (!rc && src != SQLITE_DONE)
        rc = db_fail(db, "report conversations");
    sqlite3_finalize(st);
    return rc;
}

static int scan_cases(sqlite3 *db, const kf_report_query *q, const kf_report_sink *k)
{
    sqlite3_stmt *st = NULL;
    int src = SQLITE_DONE, rc = prepare(db, q_cases, q, &st);
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        kf_rcase c = {.conv_created_ms = sqlite3_column_int64(st, 0),
                      .reason = col_str(st, 1),
                      .agent = sqlite3_column_int64(st, 2),
                      .agent_name = col_str(st, 3),
                      .queued_ms = sqlite3_column_int64(st, 4),
                      .assigned_ms = sqlite3_column_int64(st, 5),
                      .first_response_ms = sqlite3_column_int64(st, 6),
                      .ended_ms = sqlite3_column_int64(st, 7),
                      .end = col_str(st, 8),
                      .csat = sqlite3_column_int(st, 9),
                      .nps = sqlite3_column_int(st, 10),
                      .ces = sqlite3_column_int(st, 11)};
        rc = k->kase(k->ud, &c);
    }
    if (!rc && src != SQLITE_DONE)
        rc = db_fail(db, "report cases");
    sqlite3_finalize(st);
    return rc;
}

static int scan_entries(sqlite3 *db, const kf_report_query *q, const kf_report_sink *k)
{
    sqlite3_stmt *st = NULL;
    int src = SQLITE_DONE, rc = prepare(db, q_entries, q, &st);
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        kf_rentry e = {.entry = col_str(st, 0),
                       .answers = sqlite3_column_int64(st, 1),
                       .chosen = sqlite3_column_int64(st, 2),
                       .helpful = sqlite3_column_int64(st, 3),
                       .not_helpful = sqlite3_column_int64(st, 4)};
        rc = k->entry(k->ud, &e);
    }
    if (!rc && src != SQLITE_DONE)
        rc = db_fail(db, "report entries");
    sqlite3_finalize(st);
    return rc;
}

static int scan_todo(sqlite3 *db, const kf_report_query *q, const kf_report_sink *k)
{
    sqlite3_stmt *st = NULL, *ex = NULL;
    char *texts[KF_REPORT_MAX_EXAMPLES] = {NULL};
    size_t want = q->todo_examples < KF_REPORT_MAX_EXAMPLES ? q->todo_examples
                                                           : KF_REPORT_MAX_EXAMPLES;
    int src = SQLITE_DONE, rc = prepare(db, q_todo, q, &st);
    if (!rc && want)
        rc = prepare(db, q_examples, q, &ex);
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        kf_rtodo t = {.norm = col_str(st, 0),
                      .count = sqlite3_column_int64(st, 1),
                      .fallbacks = sqlite3_column_int64(st, 2),
                      .clarifies = sqlite3_column_int64(st, 3),
                      .low_conf = sqlite3_column_int64(st, 4),
                      .last_ms = sqlite3_column_int64(st, 5)};
        if (ex) {
            sqlite3_bind_text(ex, 4, t.norm, -1, SQLITE_STATIC);
            sqlite3_bind_int64(ex, 5, (sqlite3_int64)want);
            while (t.n_examples < want && sqlite3_step(ex) == SQLITE_ROW) {
                /* Copied: the example statement's columns are overwritten by its next step. */
                char *c = kf_strdup(col_str(ex, 0));
                if (!c) {
                    rc = KF_ENOMEM;
                    break;
                }
                texts[t.n_examples] = c;
                t.ex_text[t.n_examples] = c;
                t.ex_conv[t.n_examples] = sqlite3_column_int64(ex, 1);
                t.ex_ms[t.n_examples] = sqlite3_column_int64(ex, 2);
                t.n_examples++;
            }
            sqlite3_reset(ex);
            if (rc)
                break;
        }
        rc = k->todo(k->ud, &t);
        for (size_t i = 0; i < KF_REPORT_MAX_EXAMPLES; i++) {
            kf_free(texts[i]);
            texts[i] = NULL;
        }
    }
    if (!rc && src != SQLITE_DONE)
        rc = db_fail(db, "report to-do list");
    for (size_t i = 0; i < KF_REPORT_MAX_EXAMPLES; i++)
        kf_free(texts[i]);
    sqlite3_finalize(st);
    sqlite3_finalize(ex);
    return rc;
}

static int scan_tickets(sqlite3 *db, const kf_report_query *q, const kf_report_sink *k)
{
    sqlite3_stmt *st = NULL;
    int src = SQLITE_DONE, rc = prepare(db, q_tickets, q, &st);
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        kf_rticket t = {.id = sqlite3_column_int64(st, 0),
                        .created_ms = sqlite3_column_int64(st, 1),
                        .closed_ms = sqlite3_column_int64(st, 2),
                        .status = col_str(st, 3)};
        rc = k->ticket(k->ud, &t);
    }
    if (!rc && src != SQLITE_DONE)
        rc = db_fail(db, "report tickets");
    sqlite3_finalize(st);
    return rc;
}

int kf_store_sqlite__report(sqlite3 *db, const kf_report_query *q, const kf_report_sink *k)
{
    int rc = KF_OK;
    /* One read transaction: every query sees the same snapshot, even while the server
     * writes (WAL readers do not block the writer). */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, "begin report");
    if (k->conv)
        rc = scan_conv(db, q, k);
    if (!rc && k->kase)
        rc = scan_cases(db, q, k);
    if (!rc && k->entry)
        rc = scan_entries(db, q, k);
    if (!rc && k->todo && q->todo_max)
        rc = scan_todo(db, q, k);
    if (!rc && k->ticket)
        rc = scan_tickets(db, q, k);
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

/* ---- purge ------------------------------------------------------------------- */

/* The temporary table lists what goes, so that every delete below names the same set even
 * if the server adds rows meanwhile (it cannot: we hold the write lock, but the set must not
 * depend on the order of the deletes either). Children first: foreign keys are on. */
static const char *const purge_sql[] = {
    "DELETE FROM surveys WHERE conv_id IN (SELECT id FROM temp.kf_purge)",
    "DELETE FROM notes WHERE conv_id IN (SELECT id FROM temp.kf_purge)",
    ("DELETE FROM tickets WHERE conv_id IN (SELECT id FROM temp.kf_purge)"
     " OR (conv_id IS NULL AND created < ?1)"),
    "DELETE FROM cases WHERE conv_id IN (SELECT id FROM temp.kf_purge)",
    "DELETE FROM feedback WHERE conv_id IN (SELECT id FROM temp.kf_purge)",
    "DELETE FROM messages WHERE conv_id IN (SELECT id FROM temp.kf_purge)",
    "DELETE FROM events WHERE conv_id IN (SELECT id FROM temp.kf_purge) OR created < ?1",
    "DELETE FROM conversations WHERE id IN (SELECT id FROM temp.kf_purge)",
};

int kf_store_sqlite__purge(sqlite3 *db, int64_t before_ms, kf_purge_counts *out)
{
    sqlite3_stmt *st = NULL;
    int64_t *counts[] = {&out->surveys,  &out->notes,    &out->tickets, &out->cases,
                         &out->feedback, &out->messages, &out->events,  &out->conversations};
    int rc = KF_EDB;

    memset(out, 0, sizeof(*out));
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, "begin purge");
    /* A conversation that a person still holds (or that waits in the queue) is kept whatever
     * its age: the running desk has it in memory. */
    if (sqlite3_exec(db, "DROP TABLE IF EXISTS temp.kf_purge;"
                         "CREATE TEMP TABLE kf_purge(id INTEGER PRIMARY KEY)",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO temp.kf_purge SELECT c.id FROM conversations c"
                           " WHERE c.created < ?1 AND coalesce(c.active, c.created) < ?1"
                           " AND NOT EXISTS (SELECT 1 FROM cases k WHERE k.conv_id = c.id"
                           " AND k.state != 'ended')",
                           -1, &st, NULL) != SQLITE_OK) {
        db_fail(db, "purge");
        goto fail;
    }
    sqlite3_bind_int64(st, 1, before_ms);
    if (sqlite3_step(st) != SQLITE_DONE) {
        db_fail(db, "purge");
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    for (size_t i = 0; i < sizeof(purge_sql) / sizeof(purge_sql[0]); i++) {
        if (sqlite3_prepare_v2(db, purge_sql[i], -1, &st, NULL) != SQLITE_OK) {
            db_fail(db, "purge");
            goto fail;
        }
        if (sqlite3_bind_parameter_count(st) >= 1)
            sqlite3_bind_int64(st, 1, before_ms);
        if (sqlite3_step(st) != SQLITE_DONE) {
            db_fail(db, "purge");
            goto fail;
        }
        *counts[i] = sqlite3_changes(db);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (sqlite3_exec(db, "DROP TABLE temp.kf_purge; COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        db_fail(db, "commit purge");
        goto fail;
    }
    return KF_OK;
fail:
    sqlite3_finalize(st);
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    memset(out, 0, sizeof(*out));
    return rc;
}

int kf_store_sqlite__vacuum(sqlite3 *db)
{
    if (sqlite3_exec(db, "VACUUM", NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(db, "vacuum");
    return KF_OK;
}

/* ---- export ------------------------------------------------------------------ */

/* One visitor's data as JSON, built by SQLite's JSON functions so that the store needs no
 * JSON library. The session token is left out: it is a credential, not the visitor's data.
 * Stored bot frames are embedded as JSON, not as strings. */
static const char q_export[] =
    "SELECT json_object("
    " 'conversation', json_object('id', c.id, 'created', c.created, 'lang', c.lang,"
    "  'page', c.page, 'state', c.state, 'last_active', c.active),"
    " 'messages', (SELECT json_group_array(json_object('seq', seq, 'dir', dir, 'kind', kind,"
    "  'client_id', client_id, 'text', text, 'entry', entry, 'frame', CASE WHEN"
    "  json_valid(frame) THEN json(frame) END, 'reply_to', reply_to, 'decision', decision,"
    "  'confidence', confidence, 'created', created))"
    "  FROM (SELECT * FROM messages WHERE conv_id = c.id ORDER BY seq)),"
    " 'feedback', (SELECT json_group_array(json_object('seq', seq, 'ref_seq', ref_seq,"
    "  'entry', entry, 'helpful', json(CASE helpful WHEN 0 THEN 'false' ELSE 'true' END),"
    "  'created', created)) FROM (SELECT * FROM feedback WHERE conv_id = c.id ORDER BY id)),"
    " 'cases', (SELECT json_group_array(json_object('id', k.id, 'reason', k.reason, 'urgent',"
    "  k.urgent, 'state', k.state, 'agent', a.name, 'queued', k.queued, 'assigned', k.assigned,"
    "  'first_response', k.first_response, 'ended', k.ended, 'end', k.end_kind))"
    "  FROM (SELECT * FROM cases WHERE conv_id = c.id ORDER BY id) k"
    "  LEFT JOIN agents a ON a.id = k.agent_id),"
    " 'surveys', (SELECT json_group_array(json_object('case', case_id, 'csat', csat, 'nps',"
    "  nps, 'ces', ces, 'comment', comment, 'created', created))"
    "  FROM (SELECT * FROM surveys WHERE conv_id = c.id ORDER BY id)),"
    " 'notes', (SELECT json_group_array(json_object('agent', a.name, 'text', n.text,"
    "  'created', n.created)) FROM (SELECT * FROM notes WHERE conv_id = c.id ORDER BY id) n"
    "  LEFT JOIN agents a ON a.id = n.agent_id),"
    " 'tickets', (SELECT json_group_array(json_object('id', id, 'name', name, 'contact',"
    "  contact, 'text', text, 'status', status, 'created', created, 'closed', closed))"
    "  FROM (SELECT * FROM tickets WHERE conv_id = c.id ORDER BY id)),"
    " 'events', (SELECT json_group_array(json_object('kind', kind, 'detail', detail,"
    "  'created', created)) FROM (SELECT * FROM events WHERE conv_id = c.id ORDER BY id)))"
    " FROM conversations c WHERE c.id = ?1";

int kf_store_sqlite__export(sqlite3 *db, int64_t id, char **json)
{
    sqlite3_stmt *st = NULL;
    int rc;
    *json = NULL;
    if (sqlite3_prepare_v2(db, q_export, -1, &st, NULL) != SQLITE_OK)
        return db_fail(db, "prepare export");
    sqlite3_bind_int64(st, 1, id);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *json = kf_strdup(col_str(st, 0));
        rc = *json ? KF_OK : KF_ENOMEM;
    } else {
        rc = rc == SQLITE_DONE ? KF_ENOTFOUND : db_fail(db, "export");
    }
    sqlite3_finalize(st);
    return rc;
}
