/* SPDX-License-Identifier: MIT
 * The store: everything kefu keeps (conversations, messages in both directions with a
 * per-conversation sequence number, feedback, events; agents and their session tokens, the
 * handoff cases that make up the queue, internal notes, tickets, surveys) behind one interface
 * of function pointers, so that the rest of the code never sees SQL and another backend
 * (a distributed store) can replace the embedded SQLite one (store_sqlite.c).
 *
 * Contract shared by every backend: a call that returns KF_OK has made its change durable
 * to the backend's stated level before returning (the server acknowledges only after that);
 * a call that fails changed nothing. Calls are made from one thread (the event loop). */
#ifndef KEFU_STORE_H
#define KEFU_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/err.h"
#include "kefu/store_report.h"

/* A session token: 128 random bits as 32 lower-case hex digits. */
#define KF_TOKEN_HEX 32

typedef enum { KF_DIR_IN = 0, KF_DIR_OUT = 1 } kf_dir;

#define KF_STORE_REF_PREV (-1)

typedef struct kf_conv {
    int64_t id;
    char token[KF_TOKEN_HEX + 1];
    int64_t created_ms;
    char lang[8];   /* "" when unknown */
    char state[16]; /* "bot", "queued", "agent" */
    int64_t last_seq;
    int fallbacks;   /* bot misses in a row (for fallbacks_to_handoff) */
    char page[1025]; /* conv_get only ("" from conv_find/conv_create) */
} kf_conv;

/* ---- agents, cases, notes, tickets (handoff) ------------------------------------ */

typedef struct kf_agent_rec {
    int64_t id;
    char name[65];
    char display[129];
    char pw_hash[256]; /* crypt(3) string; "" when the agent has no password yet */
    int max_chats;
    int disabled;
    int64_t created_ms;
} kf_agent_rec;

/* One stay of a conversation with people: queued, then held by an agent, then ended.
 * state: "queued", "agent", "ended". end: "" while open, else "close", "handback",
 * "ticket" (the visitor left a message instead of waiting). */
typedef struct kf_hcase {
    int64_t id;
    int64_t conv;
    char reason[32]; /* asked, complaint, not_understood, rule name ... */
    int urgent;
    char state[12];
    int64_t agent;                                               /* 0: none */
    int64_t queued_ms, assigned_ms, first_response_ms, ended_ms; /* 0: not yet */
    int flagged; /* first-response limit passed while queued */
    char end[12];
} kf_hcase;

typedef struct kf_note {
    int64_t id, conv, agent;
    const char *agent_name; /* borrowed for the callback */
    const char *text;
    int64_t created_ms;
} kf_note;

typedef struct kf_ticket {
    int64_t id, conv;
    const char *name, *contact, *text; /* borrowed for the callback */
    char status[12];                   /* open, claimed, closed */
    int64_t agent;                     /* 0: none */
    int64_t created_ms;
} kf_ticket;

typedef struct kf_survey {
    int64_t conv, case_id;
    int csat;            /* 1..5 */
    int nps, ces;        /* -1: not answered */
    const char *comment; /* may be NULL */
} kf_survey;

typedef int (*kf_store_agent_cb)(void *ud, const kf_agent_rec *a);
typedef int (*kf_store_case_cb)(void *ud, const kf_hcase *c);
typedef int (*kf_store_note_cb)(void *ud, const kf_note *n);
typedef int (*kf_store_ticket_cb)(void *ud, const kf_ticket *t);

/* One row of a conversation. In append(), strings are borrowed for the call; in replay's
 * callback, they are valid only during the call. Any string may be NULL. */
typedef struct kf_store_row {
    int64_t seq; /* set by the store */
    kf_dir dir;
    const char *kind;      /* in: "message", "choose", "feedback"; out: frame type */
    const char *client_id; /* in: the visitor's id for the frame (for dedupe) */
    const char *text;      /* in: the visitor's text */
    const char *entry;     /* entry id answered, chosen or rated */
    const char *frame;     /* out: the frame's JSON without "seq" (added when sent) */
    int helpful;           /* feedback: 1 or 0; else -1 */
    int64_t ref_seq;       /* feedback: the rated frame's seq; out: the visitor frame it
                              answers (KF_STORE_REF_PREV: the row before it in the same
                              append); 0: none */
    int64_t created_ms;    /* set by the store */
    /* in, for reports (schema 3): the bot's decision on this row ("answer", "clarify",
     * "fallback", "handoff", "reply"; "chosen" for a choose row; NULL: none, e.g. a message
     * to a person), the score behind it, and the text as the engine normalised it. */
    const char *decision;
    double confidence;
    const char *norm;
} kf_store_row;

/* Returns 0 to continue, non-zero to stop (replay then returns that value). */
typedef int (*kf_store_row_cb)(void *ud, const kf_store_row *row);
/* Completes rows with the id of what they are stored with (ticket_add); non-zero: abort. */
typedef int (*kf_store_fill_cb)(void *ud, int64_t id, kf_store_row *rows);

/* One item of append_batch: an append() to one conversation, plus optional updates of that
 * conversation's state made with it (the server's hot path writes them together). */
typedef struct kf_store_batch_item {
    int64_t conv;
    const kf_store_row *rows;
    size_t n;
    const char *lang; /* non-NULL: also set the conversation's language */
    int fallbacks;    /* >= 0: also set the conversation's fallback count */
    int64_t *seqs;    /* out: n seqs, as append() */
    int rc;           /* out: KF_OK, or why this item (alone) was not stored */
} kf_store_batch_item;

typedef struct kf_store_ops {
    const char *name;
    void (*close)(void *be);
    /* New conversation with the given token (the caller made it). */
    int (*conv_create)(void *be, const char *token, const char *lang, const char *page,
                       int64_t now_ms, kf_conv *out);
    /* KF_ENOTFOUND when no conversation has this token. */
    int (*conv_find)(void *be, const char *token, kf_conv *out);
    /* Updates lang/page/state where not NULL. */
    int (*conv_update)(void *be, int64_t id, const char *lang, const char *page, const char *state);
    /* Appends rows in one transaction, giving each the conversation's next seq (written to
     * seqs[i]). All or nothing. A client id is stored as given: the store does not refuse
     * one it already has (find_client_id is how a caller looks). */
    int (*append)(void *be, int64_t conv, const kf_store_row *rows, size_t n, int64_t now_ms,
                  int64_t *seqs);
    /* Group commit: stores n items with one commit where it can. Each item is all or
     * nothing and succeeds or fails on its own (items[i].rc), exactly as if each had been
     * appended alone, in order; when an item's rc is KF_OK it is durable, as append()'s.
     * NULL: the wrapper appends the items one by one. */
    void (*append_batch)(void *be, kf_store_batch_item *items, size_t n, int64_t now_ms);
    /* The same, asynchronous: starts storing the items on the backend's own thread and
     * returns; done(ud) is called on that thread once every item's rc and seqs are set.
     * One batch at a time (a start waits for the previous batch); the caller leaves the items
     * alone until done. Not every store call waits for a running batch: the backend's other
     * writes do (they need the write lock), reads see what was committed. KF_EINVAL when the
     * backend cannot (then use append_batch). NULL: never. */
    int (*append_batch_start)(void *be, kf_store_batch_item *items, size_t n, int64_t now_ms,
                              void (*done)(void *ud), void *ud);
    /* Waits until the batch started by append_batch_start is done. NULL: nothing to wait for. */
    void (*append_batch_wait)(void *be);
    /* 1 when the next batch, however small, should go to append_batch_start: the backend's
     * thread has work to do before its next write that the caller should not wait for (SQLite:
     * copying the WAL's tail, which ends with disk syncs). NULL: never. */
    int (*append_batch_due)(void *be);
    /* The seq of an inbound row with this client id and a seq in [from, to], or KF_ENOTFOUND.
     * Costs the number of rows in the range (no index on client ids): keep it short. */
    int (*find_client_id)(void *be, int64_t conv, const char *client_id, int64_t from, int64_t to,
                          int64_t *seq);
    /* Reads one row by seq into cb (KF_ENOTFOUND if none). */
    int (*get_row)(void *be, int64_t conv, int64_t seq, kf_store_row_cb cb, void *ud);
    /* Calls cb for up to max rows with seq > after, in seq order. Returns the number of rows
     * delivered (>= 0), the callback's non-zero value, or a negative KF_E* code. */
    int (*replay)(void *be, int64_t conv, int64_t after, size_t max, kf_store_row_cb cb, void *ud);
    /* An event for the record (conv 0: not tied to a conversation). */
    int (*event_add)(void *be, int64_t conv, const char *kind, const char *detail, int64_t now_ms);

    /* ---- handoff (schema version 2) ---- */
    /* By id, with the page (KF_ENOTFOUND). */
    int (*conv_get)(void *be, int64_t id, kf_conv *out);
    int (*conv_set_fallbacks)(void *be, int64_t id, int n);
    /* KF_EINVAL when the name is taken. Sets a->id and a->created_ms. */
    int (*agent_add)(void *be, kf_agent_rec *a, int64_t now_ms);
    /* By name (id 0) or by id (name NULL). KF_ENOTFOUND. */
    int (*agent_get)(void *be, const char *name, int64_t id, kf_agent_rec *out);
    /* Rewrites display, pw_hash, max_chats, disabled of a->id. */
    int (*agent_save)(void *be, const kf_agent_rec *a);
    /* Every agent by name. Returns the count or the callback's non-zero value. */
    int (*agent_list)(void *be, kf_store_agent_cb cb, void *ud);
    int (*login_add)(void *be, const char *token, int64_t agent, int64_t expires_ms);
    /* The agent of a token that is neither expired (at now_ms) nor revoked (KF_ENOTFOUND). */
    int (*login_find)(void *be, const char *token, int64_t now_ms, int64_t *agent,
                      int64_t *expires_ms);
    int (*login_revoke)(void *be, const char *token);
    /* Inserts c (sets c->id) and moves the conversation to "queued", in one transaction. */
    int (*case_open)(void *be, kf_hcase *c);
    /* Rewrites every field of c->id, and the conversation's state to conv_state (not NULL),
     * in one transaction. */
    int (*case_save)(void *be, const kf_hcase *c, const char *conv_state);
    /* Cases not ended, in queue order of arrival (queued_ms, id). */
    int (*case_list_open)(void *be, kf_store_case_cb cb, void *ud);
    /* Every case of one conversation, oldest first. */
    int (*case_list_conv)(void *be, int64_t conv, kf_store_case_cb cb, void *ud);
    /* Handle times (ended_ms - assigned_ms) of the last max ended cases that had an agent,
     * newest first, into out. Returns how many (>= 0). */
    int (*handle_times)(void *be, int64_t *out, size_t max);
    int (*note_add)(void *be, int64_t conv, int64_t agent, const char *text, int64_t now_ms);
    int (*note_list)(void *be, int64_t conv, kf_store_note_cb cb, void *ud);
    /* A left message: the ticket (sets t->id) and the conversation's rows (as append()) in
     * one transaction, so that a failure stores neither and a resent form cannot leave two
     * tickets. fill(ud, id, rows), if given, completes the rows once the ticket's id is known
     * (the reply shows it), inside the transaction; its non-zero return aborts with that
     * code. On failure t->id is 0. */
    int (*ticket_add)(void *be, kf_ticket *t, kf_store_row *rows, size_t n, int64_t now_ms,
                      int64_t *seqs, kf_store_fill_cb fill, void *ud);
    /* Status and agent of t->id. */
    int (*ticket_save)(void *be, const kf_ticket *t);
    /* One ticket (id > 0) or all that are not closed (id 0), oldest first. */
    int (*ticket_list)(void *be, int64_t id, kf_store_ticket_cb cb, void *ud);
    /* A survey's answer and the conversation's rows (as append()) in one transaction, so
     * that a failure stores neither and a resent answer is not refused as a second one.
     * KF_EINVAL (nothing stored) when this case already has a survey answer. */
    int (*survey_add)(void *be, const kf_survey *sv, const kf_store_row *rows, size_t n,
                      int64_t now_ms, int64_t *seqs);

    /* ---- records (schema version 3; store_report.h) ---- */
    /* Delivers the rows of a period to the sink (conversations, cases, entries, to-do
     * groups, tickets, in that order). Returns KF_OK, a callback's non-zero value or KF_E*.
     * Read-only; cost grows with the period, not the database (indexes on start time). */
    int (*report_scan)(void *be, const kf_report_query *q, const kf_report_sink *k);
    /* Deletes, in one transaction, every conversation started and last active before
     * before_ms that has no open case, with its messages, feedback, cases, surveys, notes and
     * tickets; and every event older than before_ms. Counts go to out. */
    int (*purge)(void *be, int64_t before_ms, kf_purge_counts *out);
    /* Gives the freed pages back to the file system (slow; takes a lock). */
    int (*vacuum)(void *be);
    /* Everything stored about one conversation as a JSON object text (kf_malloc'd, the
     * caller's), without its session token. KF_ENOTFOUND. */
    int (*export_conv)(void *be, int64_t id, char **json);
} kf_store_ops;

typedef struct kf_store {
    const kf_store_ops *ops; /* read-only */
    void *be;                /* private: the backend's state */
} kf_store;

/* ---- opening ------------------------------------------------------------------ */

typedef struct kf_store_options {
    int sync_full; /* 1: survive power loss (fsync every commit); 0: survive a process crash */
    int writer;    /* 1: a writer thread with its own connection serves append_batch_start */
    int busy_ms;   /* ms a write waits for another program's write lock before it fails
                      (0: 5,000) */
} kf_store_options;

/* Opens the SQLite backend on path (created with its schema if missing; WAL). Returns NULL
 * with a message in err on failure. Free with kf_store_close. */
kf_store *kf_store_open_sqlite(const char *path, const kf_store_options *opt, char *err,
                               size_t errlen);
void kf_store_close(kf_store *s); /* NULL is fine */

/* ---- tokens ------------------------------------------------------------------- */

/* 128 random bits from getrandom() as hex into out (KF_TOKEN_HEX + 1 bytes). KF_EIO if the
 * kernel could not supply them. */
int kf_store_token_new(char out[KF_TOKEN_HEX + 1]);
/* 1 if s is a well-formed token (32 lower-case hex digits), else 0. */
int kf_store_token_valid(const char *s);

/* ---- calls (thin wrappers over ops) ------------------------------------------- */

int kf_store_conv_create(kf_store *s, const char *token, const char *lang, const char *page,
                         int64_t now_ms, kf_conv *out);
int kf_store_conv_find(kf_store *s, const char *token, kf_conv *out);
int kf_store_conv_update(kf_store *s, int64_t id, const char *lang, const char *page,
                         const char *state);
int kf_store_append(kf_store *s, int64_t conv, const kf_store_row *rows, size_t n, int64_t now_ms,
                    int64_t *seqs);
/* See kf_store_ops.append_batch, append_batch_start, append_batch_wait and
 * append_batch_due. */
void kf_store_append_batch(kf_store *s, kf_store_batch_item *items, size_t n, int64_t now_ms);
int kf_store_append_batch_start(kf_store *s, kf_store_batch_item *items, size_t n,
                                int64_t now_ms, void (*done)(void *ud), void *ud);
void kf_store_append_batch_wait(kf_store *s);
int kf_store_append_batch_due(kf_store *s);
int kf_store_find_client_id(kf_store *s, int64_t conv, const char *client_id, int64_t from,
                            int64_t to, int64_t *seq);
int kf_store_get_row(kf_store *s, int64_t conv, int64_t seq, kf_store_row_cb cb, void *ud);
int kf_store_replay(kf_store *s, int64_t conv, int64_t after, size_t max, kf_store_row_cb cb,
                    void *ud);
int kf_store_event_add(kf_store *s, int64_t conv, const char *kind, const char *detail,
                       int64_t now_ms);

int kf_store_conv_get(kf_store *s, int64_t id, kf_conv *out);
int kf_store_conv_set_fallbacks(kf_store *s, int64_t id, int n);
int kf_store_agent_add(kf_store *s, kf_agent_rec *a, int64_t now_ms);
int kf_store_agent_get(kf_store *s, const char *name, int64_t id, kf_agent_rec *out);
int kf_store_agent_save(kf_store *s, const kf_agent_rec *a);
int kf_store_agent_list(kf_store *s, kf_store_agent_cb cb, void *ud);
int kf_store_login_add(kf_store *s, const char *token, int64_t agent, int64_t expires_ms);
int kf_store_login_find(kf_store *s, const char *token, int64_t now_ms, int64_t *agent,
                        int64_t *expires_ms);
int kf_store_login_revoke(kf_store *s, const char *token);
int kf_store_case_open(kf_store *s, kf_hcase *c);
int kf_store_case_save(kf_store *s, const kf_hcase *c, const char *conv_state);
int kf_store_case_list_open(kf_store *s, kf_store_case_cb cb, void *ud);
int kf_store_case_list_conv(kf_store *s, int64_t conv, kf_store_case_cb cb, void *ud);
int kf_store_handle_times(kf_store *s, int64_t *out, size_t max);
int kf_store_note_add(kf_store *s, int64_t conv, int64_t agent, const char *text, int64_t now_ms);
int kf_store_note_list(kf_store *s, int64_t conv, kf_store_note_cb cb, void *ud);
int kf_store_ticket_add(kf_store *s, kf_ticket *t, kf_store_row *rows, size_t n, int64_t now_ms,
                        int64_t *seqs, kf_store_fill_cb fill, void *ud);
int kf_store_ticket_save(kf_store *s, const kf_ticket *t);
int kf_store_ticket_list(kf_store *s, int64_t id, kf_store_ticket_cb cb, void *ud);
int kf_store_survey_add(kf_store *s, const kf_survey *sv, const kf_store_row *rows, size_t n,
                        int64_t now_ms, int64_t *seqs);
int kf_store_report_scan(kf_store *s, const kf_report_query *q, const kf_report_sink *k);
int kf_store_purge(kf_store *s, int64_t before_ms, kf_purge_counts *out);
int kf_store_vacuum(kf_store *s);
int kf_store_export_conv(kf_store *s, int64_t id, char **json);

/* Wall-clock milliseconds since the epoch (for created_ms). */
int64_t kf_store_now_ms(void);

#endif
