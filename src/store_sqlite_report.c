/* SPDX-License-Identifier: MIT
 * The SQLite backend's records side: the queries behind `kefu report` and /api/report (rows of
 * a period, handed to a sink; report.c makes the figures), `kefu purge` and `kefu export`.
 *
 * A period is the conversations that started in [from, to) (conversations_created). Since
 * schema 4 the decided visitor messages are read from one covering partial index keyed by the
 * message's time, messages_time (store_sqlite.c): live traffic only ever appends to its end,
 * where the index it replaces, keyed by conversation, cost the writer a random page per
 * message. The price is on the reading side, which can no longer ask for "the messages of
 * conversation N" cheaply, so the report walks the period's conversations in chunks of
 * CHUNK_CONVS, in start order, and per chunk:
 *  - loads the chunk's conversations into a hash table by id;
 *  - scans messages_time once over [chunk start, next chunk start): every message of a
 *    conversation is stored at or after the conversation's start (the clock of the one
 *    writer only moves forward), and rows of conversations outside the chunk are skipped;
 *  - fetches by primary key the later rows of the chunk's conversations that were still
 *    active after it (conversations.active is the time of a conversation's latest row,
 *    so the others have none): a conversation may be resumed days later, and the scan must
 *    not run to the end of the index to find it;
 *  - counts each conversation's decisions, and groups the entries and the to-do texts in
 *    hash tables, keeping each to-do group's latest examples as primary keys, whose text is
 *    read only for the groups shown.
 * One pass over the index makes the conversation counts, the entries and the to-do list;
 * memory is bounded by a chunk plus the distinct entries and to-do texts of the period.
 * What is counted is written in SQL (ROW_COLS, TODO_COND) so that it keeps SQL's semantics
 * (NULLs, comparisons of stored values) exactly; C only adds and groups. */
#include "store_sqlite_int.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/log.h"
#include "kefu/mem.h"
#include "kefu/util.h"

/* Conversations per chunk: ~150 bytes each in memory. A chunk boundary costs one primary-key
 * lookup per conversation still active across it (those live at that moment, and those
 * resumed later). */
#define CHUNK_CONVS 65536

/* The period's conversations in start order, with their case and ticket counts (conv_id
 * indexes); active (4th column) unset when the conversation has no row. */
static const char q_conv[] =
    "SELECT c.id, c.created, coalesce(c.active, c.created), c.active,"
    " (SELECT count(*) FROM cases k WHERE k.conv_id = c.id),"
    " (SELECT count(*) FROM cases k WHERE k.conv_id = c.id AND k.state != 'ended'),"
    " (SELECT count(*) FROM tickets t WHERE t.conv_id = c.id)"
    " FROM conversations c INDEXED BY conversations_created"
    " WHERE c.created >= ?1 AND c.created < ?2 ORDER BY c.created, c.id";

static const char q_cases[] =
    "SELECT c.created, k.reason, coalesce(k.agent_id, 0), coalesce(a.name, ''), k.queued,"
    " coalesce(k.assigned, 0), coalesce(k.first_response, 0), coalesce(k.ended, 0), k.end_kind,"
    " coalesce(s.csat, -1), coalesce(s.nps, -1), coalesce(s.ces, -1)"
    " FROM conversations c JOIN cases k ON k.conv_id = c.id"
    " LEFT JOIN agents a ON a.id = k.agent_id LEFT JOIN surveys s ON s.case_id = k.id"
    " WHERE c.created >= ?1 AND c.created < ?2 ORDER BY k.id";

/* The to-do condition (?3: the low threshold). */
#define TODO_COND                                                                                  \
    " AND m.norm IS NOT NULL AND m.norm != '' AND (m.decision IN ('fallback', 'clarify') OR"       \
    " (m.decision = 'answer' AND m.confidence < ?3))"

/* What one decided row adds: its conversation, the decision as a number (D_*), whether it is
 * a low-confidence answer, its entry, its normalised text if it belongs to the to-do list
 * (NULL otherwise), and its key (created, conv_id, seq) for the examples. */
#define ROW_COLS                                                                                   \
    "SELECT m.conv_id, CASE m.decision WHEN 'answer' THEN 1 WHEN 'clarify' THEN 2 WHEN"            \
    " 'fallback' THEN 3 WHEN 'handoff' THEN 4 WHEN 'reply' THEN 5 WHEN 'chosen' THEN 6 ELSE 0"     \
    " END, m.decision = 'answer' AND m.confidence < ?3, m.entry,"                                  \
    " CASE WHEN 1" TODO_COND " THEN m.norm END, m.created, m.seq FROM messages m"
enum { D_OTHER, D_ANSWER, D_CLARIFY, D_FALLBACK, D_HANDOFF, D_REPLY, D_CHOSEN };

/* A chunk's rows, from the time index. */
static const char q_rows[] = ROW_COLS " INDEXED BY messages_time"
                                      " WHERE m.decision IS NOT NULL AND m.created >= ?1"
                                      " AND m.created < ?2";

/* The rows of conversation ?4 from ?2 on, by primary key (the unary + keeps the planner off
 * the time index, which would scan to its end). */
static const char q_tail[] = ROW_COLS " WHERE m.conv_id = ?4 AND m.decision IS NOT NULL"
                                      " AND +m.created >= ?2";

/* Ratings count with the entry they rate, in the period of their conversation. */
static const char q_feedback[] =
    "SELECT f.entry, f.helpful != 0, f.helpful = 0 FROM conversations c"
    " JOIN feedback f ON f.conv_id = c.id"
    " WHERE c.created >= ?1 AND c.created < ?2 AND f.entry IS NOT NULL";

static const char q_text[] = "SELECT text FROM messages WHERE conv_id = ?1 AND seq = ?2";

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
    return KF_OK;
}

static const char *col_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

/* ---- grouping ---------------------------------------------------------------- */

typedef struct ex_key {
    int64_t created, conv, seq;
} ex_key;

/* One entry (answers, chosen, helpful, not_helpful) or one to-do group (count, fallbacks,
 * clarifies, low_conf, last_ms, examples), by its text. */
typedef struct grp {
    char *key;
    size_t len;
    uint64_t hash;
    int64_t answers, chosen, helpful, not_helpful;
    int64_t count, fallbacks, clarifies, low_conf, last_ms;
    size_t n_ex;
    ex_key ex[KF_REPORT_MAX_EXAMPLES]; /* latest first */
} grp;

/* Groups by text: open addressing over indexes (+1) into v. */
typedef struct gmap {
    grp *v;
    size_t n, cap;
    uint32_t *slot;
    size_t nslot; /* a power of two */
} gmap;

static int gmap_rehash(gmap *m, size_t nslot)
{
    uint32_t *slot = kf_calloc(nslot, sizeof(*slot));
    if (!slot)
        return KF_ENOMEM;
    for (size_t j = 0; j < m->n; j++) {
        size_t i = m->v[j].hash & (nslot - 1);
        while (slot[i])
            i = (i + 1) & (nslot - 1);
        slot[i] = (uint32_t)(j + 1);
    }
    kf_free(m->slot);
    m->slot = slot;
    m->nslot = nslot;
    return KF_OK;
}

/* The group of text s (n bytes), created empty if new; NULL when out of memory. The pointer
 * is valid until the next call. */
static grp *gmap_get(gmap *m, const char *s, size_t n)
{
    uint64_t h = kf_hash64(s, n);
    if ((m->n + 1) * 2 > m->nslot && gmap_rehash(m, m->nslot ? m->nslot * 2 : 1024))
        return NULL;
    size_t i = h & (m->nslot - 1);
    for (; m->slot[i]; i = (i + 1) & (m->nslot - 1)) {
        grp *g = &m->v[m->slot[i] - 1];
        if (g->hash == h && g->len == n && !memcmp(g->key, s, n))
            return g;
    }
    if (m->n == UINT32_MAX - 1)
        return NULL;
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        grp *v = kf_realloc(m->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        m->v = v;
        m->cap = cap;
    }
    grp *g = &m->v[m->n];
    memset(g, 0, sizeof(*g));
    if (!(g->key = kf_strndup(s, n)))
        return NULL;
    g->len = n;
    g->hash = h;
    m->slot[i] = (uint32_t)++m->n;
    return g;
}

static void gmap_cleanup(gmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        kf_free(m->v[i].key);
    kf_free(m->v);
    kf_free(m->slot);
    memset(m, 0, sizeof(*m));
}

/* SQLite's BINARY collation, as GROUP BY and ORDER BY used it. */
static int key_cmp(const grp *a, const grp *b)
{
    int c = memcmp(a->key, b->key, a->len < b->len ? a->len : b->len);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Entries: most answered and chosen first, then most rated, then by name. */
static int entry_cmp(const void *pa, const void *pb)
{
    const grp *a = pa, *b = pb;
    int64_t x = a->answers + a->chosen, y = b->answers + b->chosen;
    if (x != y)
        return x > y ? -1 : 1;
    x = a->helpful + a->not_helpful;
    y = b->helpful + b->not_helpful;
    if (x != y)
        return x > y ? -1 : 1;
    return key_cmp(a, b);
}

/* To-do groups: most frequent first, then most recent, then by text. */
static int todo_cmp(const void *pa, const void *pb)
{
    const grp *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    if (a->last_ms != b->last_ms)
        return a->last_ms > b->last_ms ? -1 : 1;
    return key_cmp(a, b);
}

static int ex_later(const ex_key *a, const ex_key *b)
{
    if (a->created != b->created)
        return a->created > b->created;
    if (a->conv != b->conv)
        return a->conv > b->conv;
    return a->seq > b->seq;
}

/* Keeps the want latest examples of g, latest first. */
static void add_example(grp *g, const ex_key *e, size_t want)
{
    size_t i = g->n_ex < want ? g->n_ex : want;
    if (!want || (i == want && !ex_later(e, &g->ex[want - 1])))
        return;
    if (i == want)
        i--;
    while (i > 0 && ex_later(e, &g->ex[i - 1])) {
        g->ex[i] = g->ex[i - 1];
        i--;
    }
    g->ex[i] = *e;
    if (g->n_ex < want)
        g->n_ex++;
}

/* ---- the period's rows ----------------------------------------------------------- */

typedef struct rep {
    sqlite3 *db;
    const kf_report_query *q;
    const kf_report_sink *k;
    size_t want; /* examples per to-do group */
    /* the chunk: its conversations in start order, and a table of their indexes (+1) by id */
    kf_rconv *conv;
    int64_t *active; /* INT64_MIN: no row */
    size_t n, cap;
    uint32_t *slot;
    size_t nslot;
    gmap entries, todo;
    sqlite3_stmt *st_conv, *st_rows, *st_tail;
} rep;

static size_t conv_hash(int64_t id, size_t nslot)
{
    return (size_t)(((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 32) & (nslot - 1);
}

static kf_rconv *conv_find(const rep *r, int64_t id)
{
    for (size_t i = conv_hash(id, r->nslot); r->slot[i]; i = (i + 1) & (r->nslot - 1))
        if (r->conv[r->slot[i] - 1].id == id)
            return &r->conv[r->slot[i] - 1];
    return NULL;
}

/* Adds one row of ROW_COLS to its conversation (if in the chunk), its entry and its group. */
static int add_row(rep *r, sqlite3_stmt *st)
{
    kf_rconv *c = conv_find(r, sqlite3_column_int64(st, 0));
    if (!c)
        return KF_OK;
    int d = sqlite3_column_int(st, 1), low = sqlite3_column_int(st, 2);
    c->answers += d == D_ANSWER;
    c->clarifies += d == D_CLARIFY;
    c->fallbacks += d == D_FALLBACK;
    c->handoffs += d == D_HANDOFF;
    c->replies += d == D_REPLY;
    c->chosen += d == D_CHOSEN;
    c->low_conf += low;
    if (r->k->entry && (d == D_ANSWER || d == D_CHOSEN) &&
        sqlite3_column_type(st, 3) != SQLITE_NULL) {
        const char *e = (const char *)sqlite3_column_text(st, 3);
        grp *g = e ? gmap_get(&r->entries, e, (size_t)sqlite3_column_bytes(st, 3)) : NULL;
        if (!g)
            return KF_ENOMEM;
        g->answers += d == D_ANSWER;
        g->chosen += d == D_CHOSEN;
    }
    if (r->k->todo && r->q->todo_max && sqlite3_column_type(st, 4) != SQLITE_NULL) {
        const char *t = (const char *)sqlite3_column_text(st, 4);
        grp *g = t ? gmap_get(&r->todo, t, (size_t)sqlite3_column_bytes(st, 4)) : NULL;
        if (!g)
            return KF_ENOMEM;
        ex_key e = {sqlite3_column_int64(st, 5), c->id, sqlite3_column_int64(st, 6)};
        g->count++;
        g->fallbacks += d == D_FALLBACK;
        g->clarifies += d == D_CLARIFY;
        g->low_conf += d == D_ANSWER;
        if (g->count == 1 || e.created > g->last_ms)
            g->last_ms = e.created;
        add_example(g, &e, r->want);
    }
    return KF_OK;
}

static int step_rows(rep *r, sqlite3_stmt *st)
{
    int src, rc = KF_OK;
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW)
        rc = add_row(r, st);
    if (!rc && src != SQLITE_DONE)
        rc = db_fail(r->db, "report messages");
    sqlite3_reset(st);
    return rc;
}

/* Reads the next chunk of conversations: at least one row is pending in st_conv (*more).
 * A chunk never splits conversations that started in the same millisecond, so that the time
 * range [first start, next chunk's first start) holds the chunk exactly. */
static int load_chunk(rep *r, int *more)
{
    int src = SQLITE_ROW;
    r->n = 0;
    while (src == SQLITE_ROW) {
        sqlite3_stmt *st = r->st_conv;
        int64_t created = sqlite3_column_int64(st, 1);
        if (r->n >= CHUNK_CONVS && created != r->conv[r->n - 1].created_ms)
            break;
        if (r->n == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 1024;
            kf_rconv *v = kf_realloc(r->conv, cap * sizeof(*v));
            if (v)
                r->conv = v;
            int64_t *a = v ? kf_realloc(r->active, cap * sizeof(*a)) : NULL;
            if (!a)
                return KF_ENOMEM;
            r->active = a;
            r->cap = cap;
        }
        kf_rconv *c = &r->conv[r->n];
        memset(c, 0, sizeof(*c));
        c->id = sqlite3_column_int64(st, 0);
        c->created_ms = created;
        c->active_ms = sqlite3_column_int64(st, 2);
        r->active[r->n] =
            sqlite3_column_type(st, 3) == SQLITE_NULL ? INT64_MIN : sqlite3_column_int64(st, 3);
        c->cases = sqlite3_column_int64(st, 4);
        c->cases_open = sqlite3_column_int64(st, 5);
        c->tickets = sqlite3_column_int64(st, 6);
        r->n++;
        src = sqlite3_step(st);
    }
    if (src != SQLITE_ROW && src != SQLITE_DONE)
        return db_fail(r->db, "report conversations");
    *more = src == SQLITE_ROW;
    size_t nslot = 1024;
    while (nslot < r->n * 2)
        nslot *= 2;
    if (nslot != r->nslot) {
        kf_free(r->slot);
        if (!(r->slot = kf_malloc(nslot * sizeof(*r->slot))))
            return KF_ENOMEM;
        r->nslot = nslot;
    }
    memset(r->slot, 0, nslot * sizeof(*r->slot));
    for (size_t j = 0; j < r->n; j++) {
        size_t i = conv_hash(r->conv[j].id, nslot);
        while (r->slot[i])
            i = (i + 1) & (nslot - 1);
        r->slot[i] = (uint32_t)(j + 1);
    }
    return KF_OK;
}

/* Counts the rows of the chunk [from, to) and hands its conversations to the sink. */
static int scan_chunk(rep *r, int64_t from, int64_t to)
{
    int rc;
    sqlite3_bind_int64(r->st_rows, 1, from);
    sqlite3_bind_int64(r->st_rows, 2, to);
    if ((rc = step_rows(r, r->st_rows)))
        return rc;
    sqlite3_bind_int64(r->st_tail, 2, to);
    for (size_t j = 0; !rc && j < r->n; j++)
        if (r->active[j] != INT64_MIN && r->active[j] >= to) {
            sqlite3_bind_int64(r->st_tail, 4, r->conv[j].id);
            rc = step_rows(r, r->st_tail);
        }
    for (size_t j = 0; !rc && r->k->conv && j < r->n; j++)
        rc = r->k->conv(r->k->ud, &r->conv[j]);
    return rc;
}

static int scan_feedback(rep *r)
{
    sqlite3_stmt *st = NULL;
    int src = SQLITE_DONE, rc = prepare(r->db, q_feedback, r->q, &st);
    while (!rc && (src = sqlite3_step(st)) == SQLITE_ROW) {
        const char *e = (const char *)sqlite3_column_text(st, 0);
        grp *g = e ? gmap_get(&r->entries, e, (size_t)sqlite3_column_bytes(st, 0)) : NULL;
        if (!g) {
            rc = KF_ENOMEM;
            break;
        }
        g->helpful += sqlite3_column_int(st, 1);
        g->not_helpful += sqlite3_column_int(st, 2);
    }
    if (!rc && src != SQLITE_DONE)
        rc = db_fail(r->db, "report feedback");
    sqlite3_finalize(st);
    return rc;
}

static int send_entries(rep *r)
{
    int rc = KF_OK;
    if (r->entries.n)
        qsort(r->entries.v, r->entries.n, sizeof(grp), entry_cmp);
    for (size_t i = 0; !rc && i < r->entries.n; i++) {
        const grp *g = &r->entries.v[i];
        kf_rentry e = {.entry = g->key,
                       .answers = g->answers,
                       .chosen = g->chosen,
                       .helpful = g->helpful,
                       .not_helpful = g->not_helpful};
        rc = r->k->entry(r->k->ud, &e);
    }
    return rc;
}

static int send_todo(rep *r)
{
    sqlite3_stmt *st = NULL;
    char *texts[KF_REPORT_MAX_EXAMPLES] = {NULL};
    size_t n = r->todo.n < r->q->todo_max ? r->todo.n : r->q->todo_max;
    int rc = KF_OK;
    if (r->todo.n)
        qsort(r->todo.v, r->todo.n, sizeof(grp), todo_cmp);
    if (n && r->want && sqlite3_prepare_v2(r->db, q_text, -1, &st, NULL) != SQLITE_OK)
        return db_fail(r->db, "prepare report query");
    for (size_t i = 0; !rc && i < n; i++) {
        const grp *g = &r->todo.v[i];
        kf_rtodo t = {.norm = g->key,
                      .count = g->count,
                      .fallbacks = g->fallbacks,
                      .clarifies = g->clarifies,
                      .low_conf = g->low_conf,
                      .last_ms = g->last_ms};
        for (size_t j = 0; j < g->n_ex; j++) {
            sqlite3_bind_int64(st, 1, g->ex[j].conv);
            sqlite3_bind_int64(st, 2, g->ex[j].seq);
            int src = sqlite3_step(st);
            /* Copied: the statement's column is overwritten by its next step. */
            texts[j] = src == SQLITE_ROW ? kf_strdup(col_str(st, 0)) : NULL;
            sqlite3_reset(st);
            if (src != SQLITE_ROW) {
                rc = db_fail(r->db, "report to-do examples");
                break;
            }
            if (!texts[j]) {
                rc = KF_ENOMEM;
                break;
            }
            t.ex_text[j] = texts[j];
            t.ex_conv[j] = g->ex[j].conv;
            t.ex_ms[j] = g->ex[j].created;
            t.n_examples = j + 1;
        }
        if (!rc)
            rc = r->k->todo(r->k->ud, &t);
        for (size_t j = 0; j < KF_REPORT_MAX_EXAMPLES; j++) {
            kf_free(texts[j]);
            texts[j] = NULL;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* The conversations, entries and to-do list: one pass over the period's decided rows. */
static int scan_messages(sqlite3 *db, const kf_report_query *q, const kf_report_sink *k)
{
    rep r;
    int more = 0, src, rc;
    memset(&r, 0, sizeof(r));
    r.db = db;
    r.q = q;
    r.k = k;
    r.want = q->todo_examples < KF_REPORT_MAX_EXAMPLES ? q->todo_examples : KF_REPORT_MAX_EXAMPLES;
    if ((rc = prepare(db, q_conv, q, &r.st_conv)) || (rc = prepare(db, q_rows, q, &r.st_rows)) ||
        (rc = prepare(db, q_tail, q, &r.st_tail)))
        goto out;
    src = sqlite3_step(r.st_conv);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = db_fail(db, "report conversations");
        goto out;
    }
    more = src == SQLITE_ROW;
    while (!rc && more) {
        int64_t from = sqlite3_column_int64(r.st_conv, 1);
        if ((rc = load_chunk(&r, &more)))
            break;
        rc = scan_chunk(&r, from, more ? sqlite3_column_int64(r.st_conv, 1) : q->to_ms);
    }
    if (!rc && k->entry && !(rc = scan_feedback(&r)))
        rc = send_entries(&r);
    if (!rc && k->todo && q->todo_max)
        rc = send_todo(&r);
out:
    sqlite3_finalize(r.st_conv);
    sqlite3_finalize(r.st_rows);
    sqlite3_finalize(r.st_tail);
    kf_free(r.conv);
    kf_free(r.active);
    kf_free(r.slot);
    gmap_cleanup(&r.entries);
    gmap_cleanup(&r.todo);
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
    if (k->conv || k->entry || (k->todo && q->todo_max))
        rc = scan_messages(db, q, k);
    if (!rc && k->kase)
        rc = scan_cases(db, q, k);
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
