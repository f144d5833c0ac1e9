/* SPDX-License-Identifier: MIT
 * The visitor protocol, version 1 (docs/protocol.md): decoding of the frames a visitor sends
 * (hello, message, choose, feedback, typing) into C structs with stable error codes, and
 * encoding of the frames kefu sends (welcome, ack, answer, clarify, fallback, handoff, reply,
 * error). JSON through jansson, which never appears in this interface. No sockets, no store:
 * the caller decides what a frame means and where the bytes go. */
#ifndef KEFU_PROTO_H
#define KEFU_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/engine.h"
#include "kefu/err.h"

#define KF_PROTO_VERSION 1
#define KF_PROTO_MAX_ID 64     /* bytes of a client frame id */
#define KF_PROTO_MAX_PAGE 1024 /* bytes of hello.page */

/* ---- stable error codes (the "code" of an error frame) ------------------------ */

#define KF_PE_BAD_JSON "bad_json" /* not JSON, or not an object */
#define KF_PE_BAD_UTF8 "bad_utf8" /* text frame that is not UTF-8 */
#define KF_PE_UNSUPPORTED_VERSION "unsupported_version"
#define KF_PE_UNKNOWN_TYPE "unknown_type"
#define KF_PE_MISSING_FIELD "missing_field"
#define KF_PE_BAD_FIELD "bad_field" /* a field of the wrong type or form */
#define KF_PE_TOO_LARGE "too_large" /* frame over max_frame (then close 1009) */
#define KF_PE_BINARY_FRAME "binary_frame"
#define KF_PE_OUT_OF_ORDER "out_of_order" /* e.g. message before hello, hello twice */
#define KF_PE_RATE_LIMITED "rate_limited"
#define KF_PE_TOO_MANY_CONNECTIONS "too_many_connections"
#define KF_PE_EMPTY_MESSAGE "empty_message"
#define KF_PE_UNKNOWN_ENTRY "unknown_entry"
#define KF_PE_UNKNOWN_SEQ "unknown_seq"
#define KF_PE_SHUTTING_DOWN "shutting_down"
#define KF_PE_INTERNAL "internal" /* could not save; resend later */
#define KF_PE_ALREADY_ANSWERED "already_answered"
#define KF_PE_BAD_CONTACT "bad_contact"
/* agent protocol */
#define KF_PE_UNAUTHORIZED "unauthorized"
#define KF_PE_UNKNOWN_CONV "unknown_conv"
#define KF_PE_NOT_YOURS "not_yours"
#define KF_PE_NOT_QUEUED "not_queued"
#define KF_PE_AGENT_FULL "agent_full"
#define KF_PE_UNKNOWN_AGENT "unknown_agent"
#define KF_PE_AGENT_OFFLINE "agent_offline"
#define KF_PE_UNKNOWN_TICKET "unknown_ticket"
#define KF_PE_TICKET_CLOSED "ticket_closed"

/* ---- inbound ------------------------------------------------------------------ */

typedef enum {
    KF_IN_HELLO = 0,
    KF_IN_MESSAGE,
    KF_IN_CHOOSE,
    KF_IN_FEEDBACK,
    KF_IN_TYPING,
    KF_IN_SURVEY,
    KF_IN_LEAVE_MESSAGE,
} kf_in_type;

/* The frame's "type" as the client sent it ("hello", "message", ...). */
const char *kf_proto_in_type_name(kf_in_type t);

/* A decoded visitor frame. Strings are borrowed from the frame and valid until
 * kf_in_frame_cleanup. Absent optional strings are NULL. */
typedef struct kf_in_frame {
    kf_in_type type;
    const char *id; /* the client's id for this frame (echoed in ack/error), or NULL */
    /* hello */
    const char *token;
    const char *lang; /* "zh", "en" or NULL (detect) */
    const char *page;
    int64_t last_seq; /* -1 when absent */
    int fold_acks;    /* "fold_acks": true (docs/protocol.md) */
    /* message */
    const char *text;
    size_t text_len;
    /* choose, feedback */
    const char *entry;
    int64_t seq; /* feedback: the rated frame; 0 when absent */
    int helpful; /* feedback: 0 or 1 */
    int active;  /* typing: 1 typing, 0 stopped */
    /* survey: csat 1..5; nps 0..10, ces 1..7 or -1; comment or NULL */
    int csat, nps, ces;
    const char *comment;
    /* leave_message (text and text_len above too) */
    const char *contact;
    const char *name;
    void *priv; /* private */
} kf_in_frame;

typedef struct kf_proto_error {
    const char *code; /* one of KF_PE_* */
    char message[200];
    char id[KF_PROTO_MAX_ID + 1]; /* the offending frame's id if it could be read, else "" */
} kf_proto_error;

/* Call once before any other function (routes jansson's allocations through kf_malloc). */
void kf_proto_init(void);

/* json_dumps, but safe when memory runs out (jansson's own can then return text that is not
 * JSON: proto.c, dump_sink). A kf_malloc'd string (kf_free), or NULL. */
struct json_t;
char *kf_proto_dumps(struct json_t *obj, size_t flags);

/* Decodes one complete text frame. Returns KF_OK (caller calls kf_in_frame_cleanup), or
 * KF_EPARSE with err filled (nothing to clean up), or KF_ENOMEM. Never trusts len or content:
 * invalid UTF-8, NUL bytes, duplicate keys and wrong types are all reported. O(len). */
int kf_proto_decode(const char *data, size_t len, kf_in_frame *out, kf_proto_error *err);
void kf_in_frame_cleanup(kf_in_frame *f);

/* ---- outbound ----------------------------------------------------------------- */

/* A server frame under construction. seq is added when it is dumped, so the same frame can be
 * stored first (without seq) and sent once the store has numbered it. */
typedef struct kf_out kf_out;

typedef struct kf_proto_option {
    const char *entry; /* entry id */
    const char *text;  /* button text */
} kf_proto_option;

/* A frame held as its encoded text: text (taken, freed on failure) must be what
 * kf_out_dump_stored gives for a frame of this module, of this type. It is sent, stored and
 * dumped as that text; a setter parses it into an object first. NULL on ENOMEM. */
kf_out *kf_out_encoded(const char *type, char *text);
/* An answer frame (kf_proto_answer, without reply_to) encoded in two parts, to make the same
 * answer with another confidence without building it: its stored form up to its confidence
 * (kf_malloc'd, *len bytes), or NULL (ENOMEM, or not such a frame). */
char *kf_proto_answer_head(const kf_out *answer, size_t *len);
/* The encoded answer (kf_out_encoded) of that head with this confidence: the bytes
 * kf_proto_answer would give. NULL on ENOMEM. */
kf_out *kf_proto_answer_with(const char *head, size_t len, double confidence);

/* Each constructor returns a new frame (kf_out_free it) or NULL on ENOMEM. reply_to is the
 * seq of the visitor frame being answered (0: omitted). Strings are copied. */
/* welcome: dump it with the conversation's latest seq. fold_acks: the hello asked for folded
 * acks, and gets "fold_acks": true back. */
kf_out *kf_proto_welcome(const char *token, int resumed, const char *lang, int fold_acks);
kf_out *kf_proto_ack(const char *id, const char *of);
kf_out *kf_proto_answer(const char *entry, const char *text, const char *lang, int lang_fallback,
                        const kf_proto_option *prompts, size_t n_prompts, double confidence,
                        int64_t reply_to);
kf_out *kf_proto_clarify(const char *text, const kf_proto_option *options, size_t n,
                         int64_t reply_to);
kf_out *kf_proto_fallback(const char *text, int64_t reply_to);
kf_out *kf_proto_handoff(const char *reason, int urgent, const char *text, int64_t reply_to);
kf_out *kf_proto_reply(const char *rule, const char *text, int64_t reply_to);
/* id may be NULL or "". */
kf_out *kf_proto_err_frame(const char *code, const char *message, const char *id);
/* Extra fields, for frames that need them (0 or KF_ENOMEM). */
int kf_out_set_int(kf_out *o, const char *key, int64_t v);
int kf_out_set_str(kf_out *o, const char *key, const char *v);
void kf_out_free(kf_out *o);
/* The frame's "type" (borrowed). */
const char *kf_out_type(const kf_out *o);

/* Serialises with "v" and "seq": returns a kf_malloc'd buffer whose JSON text starts after
 * headroom bytes (for a transport's header, e.g. LWS_PRE) and is *len bytes long, NUL-
 * terminated. NULL on ENOMEM. */
char *kf_out_dump(const kf_out *o, int64_t seq, size_t headroom, size_t *len);
/* Serialises without seq, for the store. kf_malloc'd string or NULL. */
char *kf_out_dump_stored(const kf_out *o);
/* kf_out_dump of o with reply_to (if > 0) and then id (if not NULL: the id of the visitor's
 * frame, when the reply also acknowledges it) added, made from stored without encoding o
 * again: stored must be o's kf_out_dump_stored (it is trusted: its bytes are what is sent).
 * When stored cannot be used (NULL, or a frame not made by this module) or id needs escaping,
 * o itself gets reply_to and id and is dumped; either way o is not to be sent again
 * afterwards. */
char *kf_out_dump_from_stored(kf_out *o, const char *stored, int64_t seq, int64_t reply_to,
                              const char *id, size_t headroom, size_t *len);
/* A stored frame (from kf_out_dump_stored) made ready to send again, with its seq, its
 * reply_to (if > 0) and "replay": true, in the layout of kf_out_dump. NULL if stored is not a
 * JSON object, or ENOMEM. */
char *kf_proto_restore(const char *stored, int64_t seq, int64_t reply_to, size_t headroom,
                       size_t *len);
/* The replay form of a visitor's own frame: an ack that carries what the visitor sent
 * (text, entry), so a widget reloading a page can show its side of the conversation. */
char *kf_proto_echo(int64_t seq, const char *of, const char *id, const char *text,
                    const char *entry, size_t headroom, size_t *len);

/* ---- explanations ------------------------------------------------------------- */

/* How one question was matched, as JSON (the format of `kefu ask --json`, also served by
 * GET /api/explain): decision, confidence, lang, normalized, tokens, features, rule (with
 * rule_file, rule_line), entry, handoff_reason, urgent, lang_fallback, reply, answer,
 * candidates [{entry, score, raw, question}], slots {name: value}, elapsed_us. m should come
 * from kf_engine_match with KF_MATCH_EXPLAIN. answer is the answer's text as the caller
 * renders it (variables filled in), or NULL to omit it. indent 0: compact. Returns a
 * kf_malloc'd NUL-terminated string, or NULL on ENOMEM. */
char *kf_proto_explain(const kf_match *m, const char *answer, int indent);

/* ---- generic frames (the agent protocol, docs/protocol.md part 2) ------------- */

/* A parsed JSON object frame with "type" (<= 32 bytes), optional "id" (<= KF_PROTO_MAX_ID)
 * and optional "v" (must be 1) already checked; the meaning of the fields is the caller's. */
typedef struct kf_obj kf_obj;

/* KF_OK (free *out with kf_obj_free), KF_EPARSE with err, or KF_ENOMEM. need_type 0: "type"
 * is optional (an HTTP body); kf_obj_type is then NULL when absent. */
int kf_obj_parse(const char *data, size_t len, int need_type, kf_obj **out, kf_proto_error *err);
void kf_obj_free(kf_obj *o);
const char *kf_obj_type(const kf_obj *o);
const char *kf_obj_id(const kf_obj *o); /* NULL when absent */
/* Field accessors: KF_OK (absent optional fields leave *out unchanged; strings borrowed until
 * kf_obj_free), or KF_EPARSE with err (missing_field, bad_field). */
int kf_obj_str(const kf_obj *o, const char *key, size_t max, int required, const char **out,
               kf_proto_error *err);
int kf_obj_int(const kf_obj *o, const char *key, int64_t min, int64_t max, int required,
               int64_t *out, kf_proto_error *err);
int kf_obj_bool(const kf_obj *o, const char *key, int required, int *out, kf_proto_error *err);

/* A frame with this type, or a plain object when type is NULL. NULL on ENOMEM. */
kf_out *kf_out_new(const char *type);
int kf_out_set_bool(kf_out *o, const char *key, int v);
int kf_out_set_double(kf_out *o, const char *key, double v);
int kf_out_set_null(kf_out *o, const char *key);
/* Takes child (freed even on failure). */
int kf_out_set_obj(kf_out *o, const char *key, kf_out *child);
/* Appends item to the array at key, creating it; takes item (freed even on failure). */
int kf_out_push(kf_out *o, const char *key, kf_out *item);
int kf_out_set_empty_array(kf_out *o, const char *key);
/* Serialises with "v" first and no seq (agent frames), like kf_out_dump otherwise. */
char *kf_out_dump_plain(const kf_out *o, size_t headroom, size_t *len);
/* A transcript item for agents from a stored conversation row (store.h's kf_store_row):
 * {seq, from: visitor|bot|agent, type, text, entry, agent, at}. NULL on ENOMEM. */
kf_out *kf_proto_row_item(int64_t seq, int out_dir, const char *kind, const char *text,
                          const char *entry, const char *frame, int64_t at_ms);

#endif
