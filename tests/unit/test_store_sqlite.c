/* SPDX-License-Identifier: MIT
 * store_sqlite: conversations, numbered rows, replay order, dedupe, feedback, reopen. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../../src/store_sqlite_int.h"
#include "kefu/store.h"
#include "tmpdb.h"

static char path[64];

static int setup(void **state)
{
    (void)state;
    tmpdb_path(path, sizeof(path), "store");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tmpdb_remove(path);
    return 0;
}

static void tokens(void **state)
{
    (void)state;
    char a[KF_TOKEN_HEX + 1], b[KF_TOKEN_HEX + 1];
    assert_int_equal(kf_store_token_new(a), KF_OK);
    assert_int_equal(kf_store_token_new(b), KF_OK);
    assert_int_equal(strlen(a), 32);
    assert_true(kf_store_token_valid(a));
    assert_string_not_equal(a, b);
    assert_false(kf_store_token_valid("abc"));
    assert_false(kf_store_token_valid("ABCDEF0123456789abcdef0123456789"));
    assert_false(kf_store_token_valid("abcdef0123456789abcdef01234567890"));
}

typedef struct seen {
    int n;
    int64_t seq[16];
    char kind[16][16];
    int64_t reply_to[16];
} seen;

static int collect(void *ud, const kf_store_row *r)
{
    seen *s = ud;
    s->seq[s->n] = r->seq;
    snprintf(s->kind[s->n], sizeof(s->kind[0]), "%s", r->kind);
    s->reply_to[s->n] = r->ref_seq;
    s->n++;
    return 0;
}

static void conversation(void **state)
{
    (void)state;
    char err[256];
    kf_conv c, c2;
    int64_t seqs[2];
    kf_store *st = kf_store_open_sqlite(path, NULL, err, sizeof(err));
    assert_non_null(st);
    assert_int_equal(kf_store_conv_create(st, "t1", "zh", "/p", 1000, &c), KF_OK);
    assert_int_equal(kf_store_conv_find(st, "nope", &c2), KF_ENOTFOUND);
    kf_store_row rows[2] = {
        {.dir = KF_DIR_IN, .kind = "message", .client_id = "m1", .text = "退货", .helpful = -1},
        {.dir = KF_DIR_OUT,
         .kind = "answer",
         .client_id = "m9", /* an outbound row's id is not a visitor's */
         .frame = "{\"type\":\"answer\"}",
         .ref_seq = KF_STORE_REF_PREV,
         .helpful = -1},
    };
    assert_int_equal(kf_store_append(st, c.id, rows, 2, 2000, seqs), KF_OK);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 2);
    /* a client id is found within a range of seqs, on inbound rows only */
    int64_t dup = 0;
    assert_int_equal(kf_store_find_client_id(st, c.id, "m1", 1, 2, &dup), KF_OK);
    assert_int_equal(dup, 1);
    assert_int_equal(kf_store_find_client_id(st, c.id, "m1", 2, 9, &dup), KF_ENOTFOUND);
    assert_int_equal(kf_store_find_client_id(st, c.id, "m2", 1, 9, &dup), KF_ENOTFOUND);
    assert_int_equal(kf_store_find_client_id(st, c.id, "m9", 1, 9, &dup), KF_ENOTFOUND);
    kf_store_row fb = {
        .dir = KF_DIR_IN, .kind = "feedback", .entry = "e", .helpful = 1, .ref_seq = 2};
    assert_int_equal(kf_store_append(st, c.id, &fb, 1, 4000, seqs), KF_OK);
    assert_int_equal(seqs[0], 3);
    assert_int_equal(kf_store_event_add(st, c.id, "start", NULL, 5000), KF_OK);
    kf_store_close(st);

    st = kf_store_open_sqlite(path, NULL, err, sizeof(err)); /* reopen: all there */
    assert_non_null(st);
    assert_int_equal(kf_store_conv_find(st, "t1", &c2), KF_OK);
    assert_int_equal(c2.id, c.id);
    assert_int_equal(c2.last_seq, 3);
    assert_string_equal(c2.lang, "zh");
    seen s = {0};
    assert_int_equal(kf_store_replay(st, c.id, 0, 10, collect, &s), 3);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.seq[0], 1);
    assert_string_equal(s.kind[1], "answer");
    assert_int_equal(s.reply_to[1], 1);
    seen s2 = {0};
    assert_int_equal(kf_store_replay(st, c.id, 1, 1, collect, &s2), 1);
    assert_int_equal(s2.seq[0], 2);
    seen s3 = {0};
    assert_int_equal(kf_store_get_row(st, c.id, 2, collect, &s3), KF_OK);
    assert_int_equal(kf_store_get_row(st, c.id, 99, collect, &s3), KF_ENOTFOUND);
    assert_int_equal(kf_store_conv_update(st, c.id, "en", NULL, "closed"), KF_OK);
    assert_int_equal(kf_store_conv_find(st, "t1", &c2), KF_OK);
    assert_string_equal(c2.lang, "en");
    assert_string_equal(c2.state, "closed");
    kf_store_close(st);
}

static long file_size(const char *suffix)
{
    char p[96];
    struct stat sb;
    snprintf(p, sizeof(p), "%s%s", path, suffix);
    return stat(p, &sb) ? -1 : (long)sb.st_size;
}

/* A visitor's question: what the tests that fill the WAL store, again and again. */
static const kf_store_row card = {
    .dir = KF_DIR_IN, .kind = "message", .text = "where is my card", .helpful = -1};

/* The store at path, with one conversation in it (*c). */
static kf_store *open_with_conv_opt(kf_conv *c, const kf_store_options *opt)
{
    char err[256];
    kf_store *st = kf_store_open_sqlite(path, opt, err, sizeof(err));
    assert_non_null(st);
    assert_int_equal(kf_store_conv_create(st, "t1", "zh", "/p", 1000, c), KF_OK);
    return st;
}

static kf_store *open_with_conv(kf_conv *c)
{
    return open_with_conv_opt(c, NULL);
}

/* The WAL is copied into the database file while the server runs, not only at its end: the
 * checkpointer's connection must have the WAL open (a connection that never read the
 * database has none, and its checkpoint then does nothing and says OK). Without it the WAL
 * grew by over 100 MB a second under load and the database file stayed empty. */
static void checkpointed_while_open(void **state)
{
    (void)state;
    kf_conv c;
    kf_store *st = open_with_conv(&c);
    long db0 = file_size("");
    char text[200];
    memset(text, 'x', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    for (int i = 0; i < 200; i++) {
        int64_t seq;
        kf_store_row r = {.dir = KF_DIR_IN, .kind = "message", .text = text, .helpful = -1};
        assert_int_equal(kf_store_append(st, c.id, &r, 1, 2000 + i, &seq), KF_OK);
    }
    long db1 = db0;
    for (int i = 0; i < 250 && db1 <= db0 + 8192; i++) { /* checkpoints run every 1 s */
        usleep(20000);
        db1 = file_size("");
    }
    assert_true(db1 > db0 + 8192); /* 200 rows of 200 bytes: pages in the database file */
    kf_store_close(st);
}

/* The WAL header's salts (bytes 16-23), which SQLite changes when it starts the WAL over. */
static uint64_t wal_salts(void)
{
    char p[96];
    uint64_t salts = 0;
    snprintf(p, sizeof(p), "%s-wal", path);
    FILE *f = fopen(p, "rb");
    if (f) {
        if (fseek(f, 16, SEEK_SET) != 0 || fread(&salts, sizeof(salts), 1, f) != 1)
            salts = 0;
        fclose(f);
    }
    return salts;
}

/* The tests below wait for the checkpointer, which looks once a second: they are bounded by
 * time, not by a count of commits (800,000 commits were not always enough on a fast machine:
 * appends went faster than the checkpointer's passes came). */
#define CKPT_WAIT_MS 60000

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under a steady stream of commits a passive checkpoint never copies the whole WAL (a commit
 * lands while it runs), and SQLite only starts over a WAL that is all copied. Past its
 * threshold (8,192 frames) the checkpointer leaves the last copy to the next write, which
 * then writes the WAL from its start: the write that copied the tail changed the salts. */
static void wal_starts_over_under_load(void **state)
{
    (void)state;
    kf_conv c;
    kf_store *st = open_with_conv(&c);
    const kf_store_row *r = &card;
    long t0 = kf_store_sqlite__tail_copies();
    int copied = 0;
    int64_t end = mono_ms() + CKPT_WAIT_MS;
    for (int i = 0; mono_ms() < end && !copied; i++) { /* commits back to back */
        int64_t seq;
        uint64_t before = wal_salts();
        assert_int_equal(kf_store_append(st, c.id, r, 1, 2000 + i, &seq), KF_OK);
        if (kf_store_sqlite__tail_copies() > t0) {
            copied = 1;
            assert_true(wal_salts() != before);
        }
    }
    assert_true(copied);
    kf_store_close(st);
}

static void batch_done(void *ud)
{
    (void)ud;
}

/* The question as a batch of its own on the writer thread, waited for (its number: *seq). */
static int writer_batch(kf_store *st, int64_t conv, int64_t now, int64_t *seq)
{
    kf_store_batch_item it = {.conv = conv, .rows = &card, .n = 1, .fallbacks = -1, .seqs = seq};
    assert_int_equal(kf_store_append_batch_start(st, &it, 1, now, batch_done, NULL), KF_OK);
    kf_store_append_batch_wait(st);
    return it.rc;
}

/* With a writer thread the tail's copy is that thread's alone: it ends with disk syncs, which
 * the caller (the event loop) must not wait for. Appends on the caller's thread leave it and
 * say that the next batch is the writer's (append_batch_due); the writer's next batch copies
 * it and starts the WAL over. */
static void tail_copied_by_the_writer(void **state)
{
    (void)state;
    kf_store_options so = {.writer = 1};
    kf_conv c;
    kf_store *st = open_with_conv_opt(&c, &so);
    const kf_store_row *r = &card;
    long t0 = kf_store_sqlite__tail_copies();
    int64_t seq, now = 2000;
    int batches = 0;
    /* a pass of the checkpointer running at the batch's start makes it BUSY: then the flag
     * comes again with a later pass */
    int64_t end = mono_ms() + CKPT_WAIT_MS;
    while (mono_ms() < end && kf_store_sqlite__tail_copies() == t0) {
        if (!kf_store_append_batch_due(st)) {
            assert_int_equal(kf_store_append(st, c.id, r, 1, now++, &seq), KF_OK);
            continue;
        }
        for (int k = 0; k < 100; k++) /* the caller's appends leave the copy to the writer */
            assert_int_equal(kf_store_append(st, c.id, r, 1, now++, &seq), KF_OK);
        assert_int_equal(kf_store_sqlite__tail_copies(), t0);
        assert_true(kf_store_append_batch_due(st));
        uint64_t before = wal_salts();
        int64_t bseq;
        assert_int_equal(writer_batch(st, c.id, now++, &bseq), KF_OK);
        assert_int_equal(bseq, seq + 1);
        assert_false(kf_store_append_batch_due(st));
        if (kf_store_sqlite__tail_copies() > t0)
            assert_true(wal_salts() != before);
        batches++;
    }
    assert_true(kf_store_sqlite__tail_copies() > t0);
    assert_true(batches >= 1);
    kf_store_close(st);
}

/* A reader that keeps an old snapshot (a long report, say) holds the checkpoints back at its
 * snapshot: every later pass copies nothing. That is not catching up, so the checkpointer does
 * not leave the tail to the next write (it could not start the WAL over anyway); the RESTART
 * past four times the threshold bounds the WAL. Once the reader ends, the tail's copy comes
 * again. */
static void pinned_reader_is_not_caught_up(void **state)
{
    (void)state;
    kf_conv c;
    kf_store *st = open_with_conv(&c);
    const kf_store_row *row = &card;
    sqlite3 *r;
    assert_int_equal(sqlite3_open(path, &r), SQLITE_OK);
    assert_int_equal(sqlite3_exec(r, "BEGIN; SELECT count(*) FROM messages;", NULL, NULL, NULL),
                     SQLITE_OK); /* the read transaction stays open: its snapshot is pinned */
    long t0 = kf_store_sqlite__tail_copies();
    int i = 0;
    int64_t seq;
    /* past the threshold (8,192 frames of 4 KB and a header), then three passes or more */
    while (file_size("-wal") < 8192L * 4120 * 11 / 10 && i < 2000000)
        assert_int_equal(kf_store_append(st, c.id, row, 1, 2000 + i++, &seq), KF_OK);
    for (int k = 0; k < 35; k++) {
        assert_int_equal(kf_store_append(st, c.id, row, 1, 2000 + i++, &seq), KF_OK);
        usleep(100000);
    }
    assert_int_equal(kf_store_sqlite__tail_copies(), t0);
    assert_int_equal(sqlite3_exec(r, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(r);
    for (int k = 0; k < 100 && kf_store_sqlite__tail_copies() == t0; k++) {
        assert_int_equal(kf_store_append(st, c.id, row, 1, 2000 + i++, &seq), KF_OK);
        usleep(50000);
    }
    assert_true(kf_store_sqlite__tail_copies() > t0);
    kf_store_close(st);
}

/* Version 5: the store keeps a client id as given, twice if sent twice (the server is what
 * recognises resends), and a version-4 file loses its unique index on client ids. */
static void client_ids_not_unique(void **state)
{
    (void)state;
    char err[256];
    kf_conv c;
    kf_store *st = open_with_conv(&c);
    kf_store_close(st);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE UNIQUE INDEX messages_client_id ON messages(conv_id,"
                                  " client_id) WHERE client_id IS NOT NULL;"
                                  "UPDATE schema_version SET version = 4;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    st = kf_store_open_sqlite(path, NULL, err, sizeof(err)); /* upgraded on open */
    assert_non_null(st);
    kf_store_row r = {.dir = KF_DIR_IN, .kind = "message", .client_id = "x", .helpful = -1};
    int64_t s1 = 0, s2 = 0, found = 0;
    assert_int_equal(kf_store_append(st, c.id, &r, 1, 2000, &s1), KF_OK);
    assert_int_equal(kf_store_append(st, c.id, &r, 1, 3000, &s2), KF_OK);
    assert_int_equal(s2, s1 + 1);
    assert_int_equal(kf_store_find_client_id(st, c.id, "x", s2, s2, &found), KF_OK);
    assert_int_equal(found, s2);
    assert_int_equal(kf_store_find_client_id(st, c.id, "x", 1, s2, &found), KF_OK);
    assert_int_equal(found, s1);
    kf_store_close(st);

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT (SELECT count(*) FROM sqlite_master WHERE name ="
                                        " 'messages_client_id'), (SELECT max(version) FROM"
                                        " schema_version)",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 0);
    assert_int_equal(sqlite3_column_int(q, 1), 5);
    sqlite3_finalize(q);
    /* a kefu older than version 5 started on this file creates the index again (then refuses
     * the version): the next open drops it */
    assert_int_equal(sqlite3_exec(db,
                                  "DELETE FROM messages; CREATE UNIQUE INDEX messages_client_id ON"
                                  " messages(conv_id, client_id) WHERE client_id IS NOT NULL;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    st = kf_store_open_sqlite(path, NULL, err, sizeof(err));
    assert_non_null(st);
    assert_int_equal(kf_store_append(st, c.id, &r, 1, 4000, &s1), KF_OK);
    assert_int_equal(kf_store_append(st, c.id, &r, 1, 5000, &s2), KF_OK);
    kf_store_close(st);
}

static int fill_number(void *ud, int64_t id, kf_store_row *rows)
{
    char *buf = ud;
    snprintf(buf, 64, "{\"type\":\"ticket\",\"ticket\":%lld}", (long long)id);
    rows[1].frame = buf;
    return KF_OK;
}

static int fill_fails(void *ud, int64_t id, kf_store_row *rows)
{
    (void)ud;
    (void)id;
    (void)rows;
    return KF_ENOMEM;
}

static int count_ticket(void *ud, const kf_ticket *t)
{
    (void)t;
    (*(int *)ud)++;
    return 0;
}

static int tickets(kf_store *st)
{
    int n = 0;
    int got = kf_store_ticket_list(st, 0, count_ticket, &n);
    assert_int_equal(got, n);
    return n;
}

/* Another connection stores row 1 of conv, so that the store's next append to it fails
 * (its seq is taken): the caller deletes it and closes the connection when done. */
static sqlite3 *hold_seq_one(int64_t conv)
{
    sqlite3 *db;
    char sql[160];
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof(sql),
             "INSERT INTO messages(conv_id, seq, dir, kind, created) VALUES (%lld, 1, 'in', "
             "'message', 1)",
             (long long)conv);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    return db;
}

/* A left message: the ticket and the conversation's two rows are one transaction. When the
 * rows fail after the ticket was inserted (here a row already holding their seq), or the
 * reply cannot be made, nothing is stored, so a resend cannot leave a second ticket. */
static void ticket_with_its_rows(void **state)
{
    (void)state;
    kf_conv c;
    kf_store *st = open_with_conv(&c);
    kf_store_row rows[2] = {
        {.dir = KF_DIR_IN,
         .kind = "leave_message",
         .client_id = "f1",
         .text = "call me",
         .helpful = -1},
        {.dir = KF_DIR_OUT, .kind = "ticket", .ref_seq = KF_STORE_REF_PREV, .helpful = -1}};
    int64_t seqs[2] = {0, 0};
    char buf[64];
    kf_ticket t = {.conv = c.id, .contact = "a@example.com", .text = "call me", .created_ms = 1};
    assert_int_equal(kf_store_ticket_add(st, &t, rows, 2, 2000, seqs, fill_fails, NULL), KF_ENOMEM);
    assert_int_equal(t.id, 0);
    assert_int_equal(tickets(st), 0);

    sqlite3 *db = hold_seq_one(c.id);
    assert_int_not_equal(kf_store_ticket_add(st, &t, rows, 2, 2000, seqs, fill_number, buf), KF_OK);
    assert_int_equal(t.id, 0);
    assert_int_equal(tickets(st), 0);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM messages", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(kf_store_ticket_add(st, &t, rows, 2, 2000, seqs, fill_number, buf), KF_OK);
    assert_true(t.id > 0);
    assert_string_equal(t.status, "open");
    assert_int_equal(tickets(st), 1);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 2);
    seen s = {0};
    assert_int_equal(kf_store_replay(st, c.id, 0, 10, collect, &s), 2);
    assert_string_equal(s.kind[0], "leave_message");
    assert_string_equal(s.kind[1], "ticket");
    assert_int_equal(s.reply_to[1], 1);
    char want[64];
    snprintf(want, sizeof(want), "{\"type\":\"ticket\",\"ticket\":%lld}", (long long)t.id);
    assert_string_equal(buf, want);
    kf_store_close(st);
}

static int count_row(void *ud, int ncol, char **vals, char **names)
{
    (void)ncol, (void)vals, (void)names;
    (*(int *)ud)++;
    return 0;
}

/* A survey's answer and the visitor's frame are one transaction: when the row fails (a row
 * already holds its seq), neither is stored, so the resend the visitor is asked for is not
 * refused as a second answer; a second answer to the same case stores nothing. */
static void survey_with_its_row(void **state)
{
    (void)state;
    kf_conv c;
    kf_store *st = open_with_conv(&c);
    kf_hcase hc = {.conv = c.id, .reason = "asked", .state = "closed", .end = "close"};
    assert_int_equal(kf_store_case_open(st, &hc), KF_OK);
    kf_store_row in = {
        .dir = KF_DIR_IN, .kind = "survey", .client_id = "s1", .text = "good", .helpful = -1};
    kf_survey sv = {c.id, hc.id, 5, 9, -1, "good"};
    int64_t seq = 0;

    sqlite3 *db = hold_seq_one(c.id);
    assert_int_not_equal(kf_store_survey_add(st, &sv, &in, 1, 2000, &seq), KF_OK);
    int n = 0;
    assert_int_equal(sqlite3_exec(db, "SELECT 1 FROM surveys", count_row, &n, NULL), SQLITE_OK);
    assert_int_equal(n, 0);
    assert_int_equal(sqlite3_exec(db, "DELETE FROM messages", NULL, NULL, NULL), SQLITE_OK);

    assert_int_equal(kf_store_survey_add(st, &sv, &in, 1, 2000, &seq), KF_OK);
    assert_int_equal(seq, 1);
    in.client_id = "s2";
    assert_int_equal(kf_store_survey_add(st, &sv, &in, 1, 3000, &seq), KF_EINVAL);
    seen s = {0};
    assert_int_equal(kf_store_replay(st, c.id, 0, 10, collect, &s), 1);
    assert_string_equal(s.kind[0], "survey");
    assert_int_equal(sqlite3_exec(db, "SELECT 1 FROM surveys", count_row, &n, NULL), SQLITE_OK);
    assert_int_equal(n, 1);
    sqlite3_close(db);
    kf_store_close(st);
}

/* A group commit in which one item fails (a conversation that does not exist): that item
 * alone fails, the others are stored with the seqs they would have had alone. */
static void batch_item_fails_alone(void **state)
{
    (void)state;
    kf_conv c;
    kf_store *st = open_with_conv(&c);
    kf_store_row r[2] = {
        {.dir = KF_DIR_IN, .kind = "message", .client_id = "a", .text = "q", .helpful = -1},
        {.dir = KF_DIR_OUT,
         .kind = "answer",
         .frame = "{}",
         .ref_seq = KF_STORE_REF_PREV,
         .helpful = -1}};
    int64_t seqs[3][2] = {{0}};
    kf_store_batch_item items[3] = {
        {.conv = c.id, .rows = r, .n = 2, .fallbacks = -1, .seqs = seqs[0]},
        {.conv = c.id + 1000, .rows = r, .n = 2, .fallbacks = -1, .seqs = seqs[1]},
        {.conv = c.id, .rows = r, .n = 2, .lang = "en", .fallbacks = -1, .seqs = seqs[2]},
    };
    kf_store_append_batch(st, items, 3, 2000);
    assert_int_equal(items[0].rc, KF_OK);
    assert_int_not_equal(items[1].rc, KF_OK);
    assert_int_equal(items[2].rc, KF_OK);
    assert_int_equal(seqs[0][0], 1);
    assert_int_equal(seqs[0][1], 2);
    assert_int_equal(seqs[2][0], 3);
    assert_int_equal(seqs[2][1], 4);
    seen s = {0};
    assert_int_equal(kf_store_replay(st, c.id, 0, 10, collect, &s), 4);
    assert_int_equal(s.reply_to[3], 3);
    kf_conv c2;
    assert_int_equal(kf_store_conv_find(st, c.token, &c2), KF_OK);
    assert_int_equal(c2.last_seq, 4);
    assert_string_equal(c2.lang, "en");
    kf_store_close(st);
}

/* A disk that cannot flush: the default VFS with the syncs of database files (not of their
 * WALs) failing while sync_fails is set. Registered as the default before any store opens,
 * so that the store's own VFS (store_walbuf.c) sits on it. The database file keeps the
 * default VFS's own object; only its method table is swapped for a copy with xSync replaced. */
static sqlite3_vfs *real_vfs;
static sqlite3_vfs fault_vfs;
static sqlite3_io_methods fault_io;
static int (*real_sync)(sqlite3_file *, int);
static atomic_int sync_fails, syncs_failed;

static int fault_sync(sqlite3_file *f, int flags)
{
    if (atomic_load(&sync_fails)) {
        atomic_fetch_add(&syncs_failed, 1);
        return SQLITE_IOERR_FSYNC;
    }
    return real_sync(f, flags);
}

static int fault_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    int rc = real_vfs->xOpen(real_vfs, name, f, flags, out);
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_MAIN_DB) && f->pMethods) {
        if (!real_sync) { /* one table: the default VFS opens every database file alike */
            fault_io = *f->pMethods;
            real_sync = fault_io.xSync;
            fault_io.xSync = fault_sync;
        }
        assert_ptr_equal(f->pMethods->xSync, real_sync);
        f->pMethods = &fault_io;
    }
    return rc;
}

static void fault_vfs_register(void)
{
    real_vfs = sqlite3_vfs_find(NULL);
    fault_vfs = *real_vfs;
    fault_vfs.zName = "kefu-test-fault";
    fault_vfs.pNext = NULL;
    fault_vfs.xOpen = fault_open;
    sqlite3_vfs_register(&fault_vfs, 1);
}

static int64_t count_rows(void)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    int64_t n = -1;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM messages", -1, &q, NULL),
                     SQLITE_OK);
    if (sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

/* While the database file cannot be synced, what the checkpoints copied into it is durable
 * only in the WAL: the WAL must not start over (the checkpointer's sync before the tail's
 * copy fails, and so does SQLite's own at the end of a complete pass), and commits go on, since
 * they only write the WAL. Once syncs work again, the WAL starts over. */
static void unsyncable_database_keeps_the_wal(void **state)
{
    (void)state;
    kf_conv c;
    kf_store *st = open_with_conv(&c);
    const kf_store_row *r = &card;
    int64_t seq, n = 0;
    atomic_store(&syncs_failed, 0);
    atomic_store(&sync_fails, 1);
    /* a pass that completed before (its sync still worked) lets this first write start the
     * WAL over; none can after it */
    assert_int_equal(kf_store_append(st, c.id, r, 1, 2000 + n++, &seq), KF_OK);
    uint64_t salts = wal_salts();
    /* past the threshold (8,192 frames of 4 KB and a header), then passes of the checkpointer
     * with time to finish (a commit every 100 ms) */
    while (file_size("-wal") < 8192L * 4120 * 11 / 10 && n < 2000000)
        assert_int_equal(kf_store_append(st, c.id, r, 1, 2000 + n++, &seq), KF_OK);
    long t0 = kf_store_sqlite__tail_copies();
    for (int k = 0; k < 25; k++) {
        assert_int_equal(kf_store_append(st, c.id, r, 1, 2000 + n++, &seq), KF_OK);
        assert_int_equal(wal_salts(), salts);
        usleep(100000);
    }
    assert_true(atomic_load(&syncs_failed) >= 2); /* the checkpointer tried, more than once */
    assert_int_equal(kf_store_sqlite__tail_copies(), t0);
    atomic_store(&sync_fails, 0);
    for (int k = 0; k < 100 && wal_salts() == salts; k++) {
        assert_int_equal(kf_store_append(st, c.id, r, 1, 2000 + n++, &seq), KF_OK);
        usleep(50000);
    }
    assert_true(wal_salts() != salts);
    assert_int_equal(seq, n);
    kf_store_close(st);
    assert_int_equal(count_rows(), n);
}

/* The tail's copy on the writer thread fails (its closing sync of the database file): the
 * batch is stored all the same, the WAL goes on from where it was, and the checkpointer asks
 * again, so that a later batch copies the tail and starts the WAL over. */
static void failed_tail_copy_is_asked_again(void **state)
{
    (void)state;
    kf_store_options so = {.writer = 1};
    kf_conv c;
    kf_store *st = open_with_conv_opt(&c, &so);
    const kf_store_row *r = &card;
    int64_t seq, now = 2000, n = 0;
    long copies = kf_store_sqlite__tail_copies();
    int failed = 0, copied_after = 0;
    int64_t end = mono_ms() + CKPT_WAIT_MS;
    while (mono_ms() < end && !copied_after) {
        if (!kf_store_append_batch_due(st)) {
            assert_int_equal(kf_store_append(st, c.id, r, 1, now++, &seq), KF_OK);
            n++;
            if (failed) /* the checkpointer's next pass comes within a second */
                usleep(1000);
            continue;
        }
        uint64_t before = wal_salts();
        int64_t bseq;
        if (!failed) {
            atomic_store(&syncs_failed, 0);
            atomic_store(&sync_fails, 1);
        }
        int rc = writer_batch(st, c.id, now++, &bseq);
        atomic_store(&sync_fails, 0);
        assert_int_equal(rc, KF_OK);
        assert_int_equal(bseq, ++n);
        assert_false(kf_store_append_batch_due(st));
        if (failed) {
            copied_after = kf_store_sqlite__tail_copies() > copies;
            if (copied_after)
                assert_true(wal_salts() != before);
        } else if (atomic_load(&syncs_failed) > 0) {
            /* the copy ran (the checkpointer sleeps after asking) and its sync failed */
            assert_int_equal(kf_store_sqlite__tail_copies(), copies);
            assert_int_equal(wal_salts(), before);
            failed = 1;
        } else { /* nothing was left to copy, or BUSY: the next time */
            copies = kf_store_sqlite__tail_copies();
        }
    }
    assert_true(failed);
    assert_true(copied_after);
    kf_store_close(st);
    assert_int_equal(count_rows(), n);
}

static void bad_path(void **state)
{
    (void)state;
    char err[256] = "";
    assert_null(kf_store_open_sqlite("/nonexistent-dir/x.db", NULL, err, sizeof(err)));
    /* which file, once, and why its directory will not do */
    assert_string_equal(err, "/nonexistent-dir/x.db: unable to open database file (the directory "
                             "/nonexistent-dir cannot be written: No such file or directory)");
}

int main(void)
{
    fault_vfs_register();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens),
        cmocka_unit_test_setup_teardown(conversation, setup, teardown),
        cmocka_unit_test_setup_teardown(checkpointed_while_open, setup, teardown),
        cmocka_unit_test_setup_teardown(pinned_reader_is_not_caught_up, setup, teardown),
        cmocka_unit_test_setup_teardown(wal_starts_over_under_load, setup, teardown),
        cmocka_unit_test_setup_teardown(tail_copied_by_the_writer, setup, teardown),
        cmocka_unit_test_setup_teardown(client_ids_not_unique, setup, teardown),
        cmocka_unit_test_setup_teardown(batch_item_fails_alone, setup, teardown),
        cmocka_unit_test_setup_teardown(ticket_with_its_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(survey_with_its_row, setup, teardown),
        cmocka_unit_test_setup_teardown(unsyncable_database_keeps_the_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_tail_copy_is_asked_again, setup, teardown),
        cmocka_unit_test(bad_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
