/* SPDX-License-Identifier: MIT
 * The store: everything kefu keeps about conversations (conversations, messages in both
 * directions with a per-conversation sequence number, feedback, events) behind one interface
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

/* A session token: 128 random bits as 32 lower-case hex digits. */
#define KF_TOKEN_HEX 32

typedef enum { KF_DIR_IN = 0, KF_DIR_OUT = 1 } kf_dir;

#define KF_STORE_REF_PREV (-1)

typedef struct kf_conv {
    int64_t id;
    char token[KF_TOKEN_HEX + 1];
    int64_t created_ms;
    char lang[8];   /* "" when unknown */
    char state[16]; /* "bot" (later: "queued", "agent", "closed") */
    int64_t last_seq;
} kf_conv;

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
} kf_store_row;

/* Returns 0 to continue, non-zero to stop (replay then returns that value). */
typedef int (*kf_store_row_cb)(void *ud, const kf_store_row *row);

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
     * seqs[i]). All or nothing. */
    int (*append)(void *be, int64_t conv, const kf_store_row *rows, size_t n, int64_t now_ms,
                  int64_t *seqs);
    /* The seq of the inbound row with this client id, or KF_ENOTFOUND. */
    int (*find_client_id)(void *be, int64_t conv, const char *client_id, int64_t *seq);
    /* Reads one row by seq into cb (KF_ENOTFOUND if none). */
    int (*get_row)(void *be, int64_t conv, int64_t seq, kf_store_row_cb cb, void *ud);
    /* Calls cb for up to max rows with seq > after, in seq order. Returns the number of rows
     * delivered (>= 0), the callback's non-zero value, or a negative KF_E* code. */
    int (*replay)(void *be, int64_t conv, int64_t after, size_t max, kf_store_row_cb cb, void *ud);
    /* An event for the record (conv 0: not tied to a conversation). */
    int (*event_add)(void *be, int64_t conv, const char *kind, const char *detail, int64_t now_ms);
} kf_store_ops;

typedef struct kf_store {
    const kf_store_ops *ops; /* read-only */
    void *be;                /* private: the backend's state */
} kf_store;

/* ---- opening ------------------------------------------------------------------ */

typedef struct kf_store_options {
    int sync_full; /* 1: survive power loss (fsync every commit); 0: survive a process crash */
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
int kf_store_find_client_id(kf_store *s, int64_t conv, const char *client_id, int64_t *seq);
int kf_store_get_row(kf_store *s, int64_t conv, int64_t seq, kf_store_row_cb cb, void *ud);
int kf_store_replay(kf_store *s, int64_t conv, int64_t after, size_t max, kf_store_row_cb cb,
                    void *ud);
int kf_store_event_add(kf_store *s, int64_t conv, const char *kind, const char *detail,
                       int64_t now_ms);

/* Wall-clock milliseconds since the epoch (for created_ms). */
int64_t kf_store_now_ms(void);

#endif
