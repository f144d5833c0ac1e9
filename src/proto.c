/* SPDX-License-Identifier: MIT
 * Visitor protocol v1 with jansson: strict decoding with stable error codes, and frame
 * encoding. The meaning of the frames (what to store, what to answer) is ws_visitor.c's. */
#include "kefu/proto.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/err.h"
#include "kefu/mem.h"
#include "kefu/util.h"

struct kf_out {
    json_t *obj;   /* NULL: the frame is only its encoded text (kf_out_encoded) */
    char *text;    /* then its stored form, as kf_out_dump_stored gives it */
    char type[24]; /* and its type */
};

/* Set when an allocation of jansson's fails on this thread: jansson reports some of those (a
 * string's buffer in its lexer) as syntax errors, "invalid token near ..." (load_object). */
static _Thread_local int j_failed;

static void *j_malloc(size_t n)
{
    void *p = kf_malloc(n);
    if (!p)
        j_failed = 1;
    return p;
}

static void j_free(void *p)
{
    kf_free(p);
}

/* jansson's lexer drops a byte it cannot save (it ignores strbuffer_append_byte's result),
 * so a parse during which an allocation failed can succeed with a string missing bytes: a
 * visitor's message stored as invalid UTF-8, a stored frame shown without a character. Such
 * a result is thrown away: NULL, with j_failed set (out of memory). */
static json_t *loadb_whole(const char *data, size_t len, size_t flags, json_error_t *jerr)
{
    j_failed = 0;
    json_t *r = json_loadb(data, len, flags, jerr);
    if (r && j_failed) {
        json_decref(r);
        r = NULL;
    }
    return r;
}

static json_t *loads_whole(const char *text)
{
    return loadb_whole(text, strlen(text), 0, NULL);
}

void kf_proto_init(void)
{
    json_set_alloc_funcs(j_malloc, j_free);
}

/* ---- decoding ----------------------------------------------------------------- */

static int fail(kf_proto_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(kf_proto_error *err, const char *code, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return KF_EPARSE;
}

/* Optional string field: absent is fine; present must be a string of at most max bytes. */
static int opt_str(json_t *o, const char *key, size_t max, const char **out, kf_proto_error *err)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return KF_OK;
    if (!json_is_string(v))
        return fail(err, KF_PE_BAD_FIELD, "'%s' must be a string", key);
    if (json_string_length(v) > max)
        return fail(err, KF_PE_BAD_FIELD, "'%s' is longer than %zu bytes", key, max);
    *out = json_string_value(v);
    return KF_OK;
}

static int req_str(json_t *o, const char *key, size_t max, const char **out, kf_proto_error *err)
{
    int rc = opt_str(o, key, max, out, err);
    if (rc == KF_OK && !*out)
        return fail(err, KF_PE_MISSING_FIELD, "'%s' is required", key);
    return rc;
}

static int opt_seq(json_t *o, const char *key, int64_t *out, kf_proto_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return KF_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return fail(err, KF_PE_BAD_FIELD, "'%s' must be an integer >= 0", key);
    *out = (int64_t)json_integer_value(v);
    return KF_OK;
}

/* An integer field in [min, max]; absent: *out unchanged unless required. */
static int int_field(json_t *o, const char *key, int min, int max, int required, int *out,
                     kf_proto_error *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return required ? fail(err, KF_PE_MISSING_FIELD, "'%s' is required", key) : KF_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fail(err, KF_PE_BAD_FIELD, "'%s' must be an integer from %d to %d", key, min, max);
    *out = (int)json_integer_value(v);
    return KF_OK;
}

static int decode_fields(json_t *root, kf_in_frame *f, kf_proto_error *err)
{
    const char *type = NULL;
    json_t *v;
    int rc;

    v = json_object_get(root, "v");
    if (v && !(json_is_integer(v) && json_integer_value(v) == KF_PROTO_VERSION))
        return fail(err, KF_PE_UNSUPPORTED_VERSION, "this server speaks protocol version %d",
                    KF_PROTO_VERSION);
    if ((rc = req_str(root, "type", 32, &type, err)))
        return rc;
    if ((rc = opt_str(root, "id", KF_PROTO_MAX_ID, &f->id, err)))
        return rc;
    f->last_seq = -1;
    if (!strcmp(type, "hello")) {
        f->type = KF_IN_HELLO;
        if ((rc = opt_str(root, "token", 64, &f->token, err)) ||
            (rc = opt_str(root, "lang", 8, &f->lang, err)) ||
            (rc = opt_str(root, "page", KF_PROTO_MAX_PAGE, &f->page, err)) ||
            (rc = opt_seq(root, "last_seq", &f->last_seq, err)))
            return rc;
        v = json_object_get(root, "fold_acks");
        if (v && !json_is_boolean(v))
            return fail(err, KF_PE_BAD_FIELD, "'fold_acks' must be true or false");
        f->fold_acks = v && json_is_true(v);
        if (f->lang && !strcmp(f->lang, "auto"))
            f->lang = NULL;
        if (f->lang && strcmp(f->lang, "zh") && strcmp(f->lang, "en"))
            return fail(err, KF_PE_BAD_FIELD, "'lang' must be \"zh\", \"en\" or \"auto\"");
    } else if (!strcmp(type, "message")) {
        f->type = KF_IN_MESSAGE;
        if ((rc = req_str(root, "text", SIZE_MAX, &f->text, err)))
            return rc;
        f->text_len = json_string_length(json_object_get(root, "text"));
    } else if (!strcmp(type, "choose")) {
        f->type = KF_IN_CHOOSE;
        if ((rc = req_str(root, "entry", 128, &f->entry, err)))
            return rc;
    } else if (!strcmp(type, "feedback")) {
        f->type = KF_IN_FEEDBACK;
        if ((rc = opt_str(root, "entry", 128, &f->entry, err)) ||
            (rc = opt_seq(root, "seq", &f->seq, err)))
            return rc;
        if (!f->entry && f->seq <= 0)
            return fail(err, KF_PE_MISSING_FIELD, "feedback needs 'seq' or 'entry'");
        v = json_object_get(root, "helpful");
        if (!v)
            return fail(err, KF_PE_MISSING_FIELD, "'helpful' is required");
        if (!json_is_boolean(v))
            return fail(err, KF_PE_BAD_FIELD, "'helpful' must be true or false");
        f->helpful = json_is_true(v);
    } else if (!strcmp(type, "typing")) {
        f->type = KF_IN_TYPING;
        v = json_object_get(root, "active");
        if (v && !json_is_boolean(v))
            return fail(err, KF_PE_BAD_FIELD, "'active' must be true or false");
        f->active = v ? json_is_true(v) : 1;
    } else if (!strcmp(type, "survey")) {
        f->type = KF_IN_SURVEY;
        f->nps = f->ces = -1;
        if ((rc = int_field(root, "csat", 1, 5, 1, &f->csat, err)) ||
            (rc = int_field(root, "nps", 0, 10, 0, &f->nps, err)) ||
            (rc = int_field(root, "ces", 1, 7, 0, &f->ces, err)) ||
            (rc = opt_str(root, "comment", 1000, &f->comment, err)))
            return rc;
    } else if (!strcmp(type, "leave_message")) {
        f->type = KF_IN_LEAVE_MESSAGE;
        if ((rc = req_str(root, "contact", 200, &f->contact, err)) ||
            (rc = req_str(root, "text", 2000, &f->text, err)) ||
            (rc = opt_str(root, "name", 100, &f->name, err)))
            return rc;
        f->text_len = strlen(f->text);
    } else {
        return fail(err, KF_PE_UNKNOWN_TYPE, "unknown frame type '%.40s'", type);
    }
    return KF_OK;
}

/* Parses a frame's text into a JSON object (*root, the caller's reference): valid UTF-8,
 * JSON without duplicate keys, an object. Its "id", when readable, goes to err->id so that
 * any later refusal names the frame. KF_OK, KF_EPARSE with err, or KF_ENOMEM. */
static int load_object(const char *data, size_t len, json_t **root, kf_proto_error *err)
{
    json_error_t jerr;
    size_t bad = 0;

    *root = NULL;
    if (!kf_utf8_valid(data, len, &bad))
        return fail(err, KF_PE_BAD_UTF8, "invalid UTF-8 at byte %zu", bad);
    json_t *r = loadb_whole(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!r) {
        /* jansson leaves the text empty when it could not even allocate its lexer, and calls
         * a failed allocation in its lexer a syntax error (or loses a byte: loadb_whole) */
        if (j_failed || json_error_code(&jerr) == json_error_out_of_memory || jerr.text[0] == '\0')
            return KF_ENOMEM;
        return fail(err, KF_PE_BAD_JSON, "not JSON: %s at byte %d", jerr.text, jerr.position);
    }
    if (!json_is_object(r)) {
        json_decref(r);
        return fail(err, KF_PE_BAD_JSON, "a frame must be a JSON object");
    }
    json_t *id = json_object_get(r, "id");
    if (json_is_string(id) && json_string_length(id) <= KF_PROTO_MAX_ID)
        snprintf(err->id, sizeof(err->id), "%s", json_string_value(id));
    *root = r;
    return KF_OK;
}

const char *kf_proto_in_type_name(kf_in_type t)
{
    static const char *const names[] = {
        [KF_IN_HELLO] = "hello",
        [KF_IN_MESSAGE] = "message",
        [KF_IN_CHOOSE] = "choose",
        [KF_IN_FEEDBACK] = "feedback",
        [KF_IN_TYPING] = "typing",
        [KF_IN_SURVEY] = "survey",
        [KF_IN_LEAVE_MESSAGE] = "leave_message",
    };
    return (unsigned)t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "message";
}

int kf_proto_decode(const char *data, size_t len, kf_in_frame *out, kf_proto_error *err)
{
    json_t *root = NULL;

    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    int lrc = load_object(data, len, &root, err);
    if (lrc)
        return lrc;
    if (decode_fields(root, out, err)) {
        json_decref(root);
        memset(out, 0, sizeof(*out));
        return KF_EPARSE;
    }
    out->priv = root;
    return KF_OK;
}

void kf_in_frame_cleanup(kf_in_frame *f)
{
    if (!f)
        return;
    json_decref(f->priv);
    memset(f, 0, sizeof(*f));
}

/* ---- encoding ----------------------------------------------------------------- */

static kf_out *out_new(const char *type)
{
    kf_out *o = kf_malloc(sizeof(*o));
    if (!o)
        return NULL;
    *o = (kf_out){.obj = json_object()};
    if (!o->obj || json_object_set_new(o->obj, "type", json_string(type))) {
        json_decref(o->obj);
        kf_free(o);
        return NULL;
    }
    return o;
}

kf_out *kf_out_encoded(const char *type, char *text)
{
    kf_out *o = NULL;
    if (text && strlen(type) < sizeof(o->type) && (o = kf_malloc(sizeof(*o)))) {
        *o = (kf_out){.text = text};
        memcpy(o->type, type, strlen(type) + 1);
        return o;
    }
    kf_free(text);
    return NULL;
}

/* An encoded frame becomes an object, for a setter (rare: the answer to a message whose store
 * failed gets "unsaved"). */
static int materialize(kf_out *o)
{
    if (o->obj)
        return KF_OK;
    json_t *j = loads_whole(o->text);
    if (!json_is_object(j)) { /* its own dump: only memory can fail */
        json_decref(j);
        return KF_ENOMEM;
    }
    o->obj = j;
    kf_free(o->text);
    o->text = NULL;
    return KF_OK;
}

/* A new reference to the frame's object; an encoded frame's is parsed again. NULL: ENOMEM. */
static json_t *obj_ref(const kf_out *o)
{
    return o->obj ? json_incref(o->obj) : loads_whole(o->text);
}

void kf_out_free(kf_out *o)
{
    if (!o)
        return;
    json_decref(o->obj);
    kf_free(o->text);
    kf_free(o);
}

const char *kf_out_type(const kf_out *o)
{
    return o->obj ? json_string_value(json_object_get(o->obj, "type")) : o->type;
}

int kf_out_set_int(kf_out *o, const char *key, int64_t v)
{
    if (materialize(o))
        return KF_ENOMEM;
    return json_object_set_new(o->obj, key, json_integer((json_int_t)v)) ? KF_ENOMEM : KF_OK;
}

/* A JSON string of v with each byte that is not part of valid UTF-8 replaced by U+FFFD. */
static json_t *string_repaired(const char *v)
{
    size_t len = strlen(v), bad = 0, n = 0;
    char *buf = kf_malloc(3 * len + 1); /* each byte at most one U+FFFD */
    if (!buf)
        return NULL;
    while (len && !kf_utf8_valid(v, len, &bad)) {
        memcpy(buf + n, v, bad);
        memcpy(buf + n + bad, "\xEF\xBF\xBD", 3);
        n += bad + 3;
        v += bad + 1;
        len -= bad + 1;
    }
    memcpy(buf + n, v, len);
    json_t *j = json_stringn(buf, n + len);
    kf_free(buf);
    return j;
}

int kf_out_set_str(kf_out *o, const char *key, const char *v)
{
    if (!v)
        return KF_OK;
    if (materialize(o))
        return KF_ENOMEM;
    /* json_string refuses invalid UTF-8. Knowledge and frames are validated when read, but a
     * row stored by an older kefu (whose decoder could lose a byte when memory ran out) or
     * by another program would then fail its replay and its transcript every time: such a
     * text is shown with U+FFFD in place of the bytes that are not UTF-8. */
    json_t *j = json_string(v);
    if (!j && !kf_utf8_valid(v, strlen(v), NULL))
        j = string_repaired(v);
    return json_object_set_new(o->obj, key, j) ? KF_ENOMEM : KF_OK;
}

static int set_bool(kf_out *o, const char *key, int v)
{
    if (materialize(o))
        return KF_ENOMEM;
    return json_object_set_new(o->obj, key, json_boolean(v)) ? KF_ENOMEM : KF_OK;
}

static int set_options(kf_out *o, const char *key, const kf_proto_option *opt, size_t n)
{
    json_t *arr = json_array();
    if (!arr)
        return KF_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_pack("{s:s, s:s}", "entry", opt[i].entry, "text", opt[i].text);
        if (!it || json_array_append_new(arr, it)) {
            json_decref(arr);
            return KF_ENOMEM;
        }
    }
    return json_object_set_new(o->obj, key, arr) ? KF_ENOMEM : KF_OK;
}

static kf_out *finish(kf_out *o, int rc)
{
    if (rc) {
        kf_out_free(o);
        return NULL;
    }
    return o;
}

static int set_reply_to(kf_out *o, int64_t reply_to)
{
    return reply_to > 0 ? kf_out_set_int(o, "reply_to", reply_to) : KF_OK;
}

kf_out *kf_proto_welcome(const char *token, int resumed, const char *lang, int fold_acks)
{
    kf_out *o = out_new("welcome");
    if (!o)
        return NULL;
    int rc = kf_out_set_str(o, "token", token);
    rc = rc ? rc : set_bool(o, "resumed", resumed);
    rc = rc ? rc : kf_out_set_str(o, "lang", lang && *lang ? lang : NULL);
    rc = rc ? rc : (fold_acks ? set_bool(o, "fold_acks", 1) : KF_OK);
    return finish(o, rc);
}

kf_out *kf_proto_ack(const char *id, const char *of)
{
    kf_out *o = out_new("ack");
    if (!o)
        return NULL;
    int rc = kf_out_set_str(o, "of", of);
    rc = rc ? rc : kf_out_set_str(o, "id", id && *id ? id : NULL);
    return finish(o, rc);
}

static double round_confidence(double c)
{
    return (double)(int)(c * 1000 + 0.5) / 1000;
}

#define CONF_KEY ",\"confidence\":"

char *kf_proto_answer_head(const kf_out *answer, size_t *len)
{
    const char *t = kf_out_type(answer);
    char *s = t && !strcmp(t, "answer") ? kf_out_dump_stored(answer) : NULL;
    char *k = NULL;
    for (char *f = s; f && (f = strstr(f, CONF_KEY)); f++)
        k = f;
    /* the last member: digits, '.', an exponent, then the closing brace */
    size_t n = k ? strspn(k + strlen(CONF_KEY), "0123456789.eE+-") : 0;
    if (!k || !n || strcmp(k + strlen(CONF_KEY) + n, "}") != 0) {
        kf_free(s);
        return NULL;
    }
    *k = 0;
    *len = (size_t)(k - s);
    return s;
}

kf_out *kf_proto_answer_with(const char *head, size_t len, double confidence)
{
    char num[64];
    json_t *r = json_real(round_confidence(confidence));
    size_t n =
        r ? json_dumpb(r, num, sizeof(num), JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(6))
          : 0;
    json_decref(r);
    if (!n || n >= sizeof(num))
        return NULL;
    size_t kl = strlen(CONF_KEY);
    char *text = kf_malloc(len + kl + n + 2);
    if (!text)
        return NULL;
    memcpy(text, head, len);
    memcpy(text + len, CONF_KEY, kl);
    memcpy(text + len + kl, num, n);
    memcpy(text + len + kl + n, "}", 2);
    return kf_out_encoded("answer", text);
}

kf_out *kf_proto_answer(const char *entry, const char *text, const char *lang, int lang_fallback,
                        const kf_proto_option *prompts, size_t n_prompts, double confidence,
                        int64_t reply_to)
{
    kf_out *o = out_new("answer");
    if (!o)
        return NULL;
    int rc = kf_out_set_str(o, "entry", entry);
    rc = rc ? rc : kf_out_set_str(o, "text", text);
    rc = rc ? rc : kf_out_set_str(o, "lang", lang);
    rc = rc ? rc : (lang_fallback ? set_bool(o, "lang_fallback", 1) : KF_OK);
    rc = rc ? rc : set_options(o, "prompts", prompts, n_prompts);
    rc = rc ? rc
            : (json_object_set_new(o->obj, "confidence", json_real(round_confidence(confidence)))
                   ? KF_ENOMEM
                   : KF_OK);
    rc = rc ? rc : set_reply_to(o, reply_to);
    return finish(o, rc);
}

kf_out *kf_proto_clarify(const char *text, const kf_proto_option *options, size_t n,
                         int64_t reply_to)
{
    kf_out *o = out_new("clarify");
    if (!o)
        return NULL;
    int rc = kf_out_set_str(o, "text", text);
    rc = rc ? rc : set_options(o, "options", options, n);
    rc = rc ? rc : set_reply_to(o, reply_to);
    return finish(o, rc);
}

kf_out *kf_proto_fallback(const char *text, int64_t reply_to)
{
    kf_out *o = out_new("fallback");
    if (!o)
        return NULL;
    int rc = kf_out_set_str(o, "text", text);
    rc = rc ? rc : set_reply_to(o, reply_to);
    return finish(o, rc);
}

kf_out *kf_proto_handoff(const char *reason, int urgent, const char *text, int64_t reply_to)
{
    kf_out *o = out_new("handoff");
    if (!o)
        return NULL;
    int rc = kf_out_set_str(o, "reason", reason ? reason : "asked");
    rc = rc ? rc : set_bool(o, "urgent", urgent);
    rc = rc ? rc : kf_out_set_str(o, "text", text);
    rc = rc ? rc : set_reply_to(o, reply_to);
    return finish(o, rc);
}

kf_out *kf_proto_reply(const char *rule, const char *text, int64_t reply_to)
{
    kf_out *o = out_new("reply");
    if (!o)
        return NULL;
    int rc = kf_out_set_str(o, "rule", rule);
    rc = rc ? rc : kf_out_set_str(o, "text", text);
    rc = rc ? rc : set_reply_to(o, reply_to);
    return finish(o, rc);
}

kf_out *kf_proto_err_frame(const char *code, const char *message, const char *id)
{
    kf_out *o = out_new("error");
    if (!o)
        return NULL;
    int rc = kf_out_set_str(o, "code", code);
    rc = rc ? rc : kf_out_set_str(o, "message", message);
    rc = rc ? rc : kf_out_set_str(o, "id", id && *id ? id : NULL);
    return finish(o, rc);
}

/* The room a frame's buffer starts with after its headroom: an ack or an error fits, and
 * with LWS_PRE's 16 bytes the buffer is 256 (it grows in powers of two; it was 2 KB for every
 * frame when it started with room for 1 KB, beyond the small sizes malloc serves fastest). */
#define FRAME_ROOM 200

/* jansson's encoder does not check the write of an object's key: when it fails (no memory to
 * grow the buffer) and the next, shorter write fits, the dump "succeeds" as {":"v"}, which is
 * not JSON (jansson 2.14, seen under the out-of-memory test). So a failed write makes every
 * later one fail too, and the write after the key, which is checked, fails the dump. */
typedef struct dump_sink {
    kf_buf *b;
    int failed;
} dump_sink;

static int dump_to_buf(const char *p, size_t n, void *ud)
{
    dump_sink *d = ud;
    if (!d->failed && kf_buf_append(d->b, p, n) != KF_OK)
        d->failed = 1;
    return d->failed ? -1 : 0;
}

/* json_dump_callback into b through a dump_sink: 0, or -1 (out of memory) */
static int dump_into(json_t *obj, kf_buf *b, size_t flags)
{
    dump_sink d = {b, 0};
    return json_dump_callback(obj, dump_to_buf, &d, flags) || d.failed ? -1 : 0;
}

char *kf_proto_dumps(json_t *obj, size_t flags)
{
    kf_buf b;
    kf_buf_init(&b);
    if (dump_into(obj, &b, flags) || !b.data) {
        kf_buf_cleanup(&b);
        return NULL;
    }
    return kf_buf_take(&b);
}

/* Dumps obj after headroom bytes; JSON_COMPACT keeps frames small, and the key order is the
 * insertion order (jansson >= 2.8 keeps it), so frames read naturally. One pass of the encoder
 * into a buffer that grows as needed (json_dumpb needs two: the size, then the bytes). */
static int buf_headroom(kf_buf *b, size_t headroom, size_t room);

static char *dump_with_headroom(json_t *obj, size_t headroom, size_t *len)
{
    kf_buf b;
    kf_buf_init(&b);
    int rc = buf_headroom(&b, headroom, FRAME_ROOM);
    if (rc != KF_OK || dump_into(obj, &b, JSON_COMPACT | JSON_REAL_PRECISION(6)) != 0 ||
        b.len == headroom) {
        kf_buf_cleanup(&b);
        return NULL;
    }
    *len = b.len - headroom;
    return kf_buf_take(&b);
}

/* {"v":1,"type":...,"seq":N,...}: v and type first, then seq, then the frame's fields. */
static json_t *with_seq(json_t *src, int64_t seq, int replay)
{
    json_t *o = json_object();
    const char *key;
    json_t *val;
    if (!o || json_object_set_new(o, "v", json_integer(KF_PROTO_VERSION)) ||
        json_object_set(o, "type", json_object_get(src, "type")) ||
        json_object_set_new(o, "seq", json_integer((json_int_t)seq)))
        goto fail;
    json_object_foreach(src, key, val)
    {
        if (!strcmp(key, "type") || !strcmp(key, "v") || !strcmp(key, "seq") ||
            !strcmp(key, "replay"))
            continue;
        if (json_object_set(o, key, val))
            goto fail;
    }
    if (replay && json_object_set_new(o, "replay", json_true()))
        goto fail;
    return o;
fail:
    json_decref(o);
    return NULL;
}

/* The wire form without building it again as with_seq does (a new object, each field set
 * again: a tenth of the loop's time went to frames). A frame of this module is dumped
 * {"type":"T",...}: type first (out_new sets it first, jansson keeps the order), no v, seq or
 * replay. So {"v":1,"type":"T","seq":N replaces its first member, and reply_to (when > 0,
 * and not already among the fields) goes before the closing brace: the bytes with_seq would
 * give (the tests compare both). The frame's own text stays jansson's. */
static size_t wire_prefix(char *pre, size_t cap, const char *type, int64_t seq)
{
    int n = snprintf(pre, cap, "{\"v\":%d,\"type\":\"%s\",\"seq\":%lld", KF_PROTO_VERSION, type,
                     (long long)seq);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The type of a frame whose dump can be spliced: a plain name (no escapes in its JSON), and
 * no field that with_seq would move or drop. NULL otherwise. */
static const char *plain_type(const char *t)
{
    if (!t || !*t || strlen(t) > 32)
        return NULL;
    for (const char *c = t; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || *c == '_'))
            return NULL;
    return t;
}

static const char *splice_type(const json_t *obj)
{
    if (json_object_get(obj, "v") || json_object_get(obj, "seq") || json_object_get(obj, "replay"))
        return NULL;
    return plain_type(json_string_value(json_object_get(obj, "type")));
}

/* What decides whether o's stored text can be spliced: its type (NULL: it cannot), and whether
 * it has reply_to or id already. An encoded frame's text is searched for the keys (a key's
 * name inside a string is escaped, \"seq\": so only a real key matches). */
static const char *out_splice_type(const kf_out *o, int *has_reply_to, int *has_id)
{
    if (o->obj) {
        *has_reply_to = json_object_get(o->obj, "reply_to") != NULL;
        *has_id = json_object_get(o->obj, "id") != NULL;
        return splice_type(o->obj);
    }
    *has_reply_to = strstr(o->text, "\"reply_to\":") != NULL;
    *has_id = strstr(o->text, "\"id\":") != NULL;
    if (strstr(o->text, "\"v\":") || strstr(o->text, "\"seq\":") || strstr(o->text, "\"replay\":"))
        return NULL;
    return plain_type(o->type);
}

/* An id that jansson writes as it is, between quotes (no quote, backslash or control
 * character; UTF-8 is passed through, as the dumps here do not ask for ASCII). */
static int plain_string(const char *s)
{
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
            return 0;
    return 1;
}

/* b holds headroom bytes, then at headroom + plen - tl the dump {"type":"T"...}: the prefix
 * goes over its first member, reply_to (if > 0) and id (if not NULL; plain_string) before its
 * last byte. KF_EINVAL if the dump does not start as expected (the caller takes the slow
 * path), KF_ENOMEM. */
static int splice_into(kf_buf *b, size_t headroom, const char *pre, size_t plen, const char *type,
                       int64_t reply_to, const char *id)
{
    size_t tl = strlen(type) + 10; /* {"type":"T" */
    if (b->len < headroom + plen + 1)
        return KF_EINVAL;
    char *d = b->data + headroom + plen - tl;
    if (memcmp(d, "{\"type\":\"", 9) != 0 || memcmp(d + 9, type, tl - 10) != 0 ||
        d[tl - 1] != '"' || (d[tl] != ',' && d[tl] != '}') || b->data[b->len - 1] != '}')
        return KF_EINVAL;
    memcpy(b->data + headroom, pre, plen);
    if (reply_to <= 0 && !id)
        return KF_OK;
    b->len--; /* the closing brace */
    int rc = KF_OK;
    if (reply_to > 0) {
        char r[40];
        int n = snprintf(r, sizeof(r), ",\"reply_to\":%lld", (long long)reply_to);
        rc = kf_buf_append(b, r, (size_t)n);
    }
    if (id) {
        rc = rc ? rc : kf_buf_append(b, ",\"id\":\"", 7);
        rc = rc ? rc : kf_buf_append(b, id, strlen(id));
        rc = rc ? rc : kf_buf_append(b, "\"", 1);
    }
    return rc ? rc : kf_buf_append(b, "}", 1);
}

/* The spliced frame in b (taken) when rc is KF_OK; else b is freed and NULL returned (the
 * caller tells KF_EINVAL, not the layout, from KF_ENOMEM by rc). */
static char *splice_take(kf_buf *b, int rc, size_t headroom, size_t *len)
{
    if (rc != KF_OK) {
        kf_buf_cleanup(b);
        return NULL;
    }
    *len = b->len - headroom;
    return kf_buf_take(b);
}

/* headroom zero bytes in a buffer with room for room more. */
static int buf_headroom(kf_buf *b, size_t headroom, size_t room)
{
    static const char zeros[64];
    int rc = kf_buf_reserve(b, headroom + room);
    for (size_t left = headroom; left > 0 && rc == KF_OK;) {
        size_t n = left < sizeof(zeros) ? left : sizeof(zeros);
        rc = kf_buf_append(b, zeros, n);
        left -= n;
    }
    return rc;
}

/* The wire form spliced from a stored text (see wire_prefix); *rc KF_EINVAL when it does not
 * have the layout (the caller takes the slow path). */
static char *splice_text(const char *type, const char *pre, size_t plen, const char *stored,
                         int64_t reply_to, const char *id, size_t headroom, size_t *len, int *rc)
{
    kf_buf b;
    kf_buf_init(&b);
    size_t n = strlen(stored);
    *rc =
        buf_headroom(&b, headroom + plen - (strlen(type) + 10), n + 40 + (id ? strlen(id) + 8 : 0));
    if (*rc == KF_OK)
        *rc = kf_buf_append(&b, stored, n);
    if (*rc == KF_OK)
        *rc = splice_into(&b, headroom, pre, plen, type, reply_to, id);
    return splice_take(&b, *rc, headroom, len);
}

char *kf_out_dump(const kf_out *o, int64_t seq, size_t headroom, size_t *len)
{
    int has_reply_to, has_id, rc;
    const char *type = out_splice_type(o, &has_reply_to, &has_id);
    char pre[96];
    size_t plen = type ? wire_prefix(pre, sizeof(pre), type, seq) : 0;
    if (plen && !o->obj) {
        char *out = splice_text(type, pre, plen, o->text, 0, NULL, headroom, len, &rc);
        if (rc != KF_EINVAL)
            return out;
    } else if (plen) {
        kf_buf b;
        kf_buf_init(&b);
        rc = buf_headroom(&b, headroom + plen - (strlen(type) + 10), FRAME_ROOM);
        if (rc == KF_OK && dump_into(o->obj, &b, JSON_COMPACT | JSON_REAL_PRECISION(6)) != 0)
            rc = KF_ENOMEM; /* the only way the dump of a valid object fails */
        if (rc == KF_OK)
            rc = splice_into(&b, headroom, pre, plen, type, 0, NULL);
        char *out = splice_take(&b, rc, headroom, len);
        if (rc != KF_EINVAL)
            return out;
    }
    json_t *src = obj_ref(o);
    json_t *j = src ? with_seq(src, seq, 0) : NULL;
    json_decref(src);
    if (!j)
        return NULL;
    char *s = dump_with_headroom(j, headroom, len);
    json_decref(j);
    return s;
}

char *kf_out_dump_stored(const kf_out *o)
{
    return o->obj ? kf_proto_dumps(o->obj, JSON_COMPACT | JSON_REAL_PRECISION(6))
                  : kf_strdup(o->text);
}

char *kf_out_dump_from_stored(kf_out *o, const char *stored, int64_t seq, int64_t reply_to,
                              const char *id, size_t headroom, size_t *len)
{
    int has_reply_to, has_id, rc;
    const char *type = out_splice_type(o, &has_reply_to, &has_id);
    char pre[96];
    size_t plen = type && !has_reply_to && !(id && (has_id || !plain_string(id)))
                      ? wire_prefix(pre, sizeof(pre), type, seq)
                      : 0;
    if (!stored)
        stored = o->text; /* an encoded frame's own (NULL for an object) */
    if (plen && stored) {
        char *out = splice_text(type, pre, plen, stored, reply_to, id, headroom, len, &rc);
        if (rc != KF_EINVAL)
            return out;
    }
    /* the slow path: o itself gets reply_to and id */
    if ((reply_to > 0 && kf_out_set_int(o, "reply_to", reply_to) != KF_OK) ||
        (id && kf_out_set_str(o, "id", id) != KF_OK))
        return NULL;
    return kf_out_dump(o, seq, headroom, len);
}

char *kf_proto_restore(const char *stored, int64_t seq, int64_t reply_to, size_t headroom,
                       size_t *len)
{
    json_t *src = loads_whole(stored);
    if (!src || !json_is_object(src) || !json_is_string(json_object_get(src, "type")) ||
        (reply_to > 0 &&
         json_object_set_new(src, "reply_to", json_integer((json_int_t)reply_to)))) {
        json_decref(src);
        return NULL;
    }
    json_t *j = with_seq(src, seq, 1);
    json_decref(src);
    if (!j)
        return NULL;
    char *s = dump_with_headroom(j, headroom, len);
    json_decref(j);
    return s;
}

char *kf_proto_echo(int64_t seq, const char *of, const char *id, const char *text,
                    const char *entry, size_t headroom, size_t *len)
{
    char *s = NULL;
    kf_out *o = kf_proto_ack(id, of);
    if (!o)
        return NULL;
    if (kf_out_set_str(o, "text", text) || kf_out_set_str(o, "entry", entry))
        goto out;
    json_t *j = with_seq(o->obj, seq, 1);
    if (j) {
        s = dump_with_headroom(j, headroom, len);
        json_decref(j);
    }
out:
    kf_out_free(o);
    return s;
}

/* ---- explanations ------------------------------------------------------------- */

/* json_object_set_new consumes v even when it fails (and fails on a NULL v, i.e. ENOMEM), so
 * one flag collects every failure of a long object. */
static void put(json_t *o, const char *key, json_t *v, int *bad)
{
    if (json_object_set_new(o, key, v))
        *bad = 1;
}

char *kf_proto_explain(const kf_match *m, const char *answer, int indent)
{
    int bad = 0;
    char *out = NULL;
    json_t *o = json_object(), *c = json_array(), *sl = json_object();
    if (!o || !c || !sl) {
        json_decref(c);
        json_decref(sl);
        goto out;
    }
    put(o, "decision", json_string(kf_decision_name(m->decision)), &bad);
    put(o, "confidence", json_real(m->confidence), &bad);
    put(o, "lang", json_string(kf_lang_name(m->lang)), &bad);
    put(o, "normalized", json_string(m->norm ? m->norm : ""), &bad);
    put(o, "tokens", json_string(m->tokens ? m->tokens : ""), &bad);
    if (m->features)
        put(o, "features", json_string(m->features), &bad);
    if (m->rule) {
        put(o, "rule", json_string(m->rule->name), &bad);
        put(o, "rule_file", json_string(m->rule->file ? m->rule->file : ""), &bad);
        put(o, "rule_line", json_integer(m->rule->line), &bad);
    }
    if (m->entry)
        put(o, "entry", json_string(m->entry->id), &bad);
    if (m->handoff_reason) {
        put(o, "handoff_reason", json_string(m->handoff_reason), &bad);
        put(o, "urgent", json_boolean(m->urgent), &bad);
    }
    if (m->lang_fallback)
        put(o, "lang_fallback", json_true(), &bad);
    if (m->reply)
        put(o, "reply", json_string(m->reply), &bad);
    if (answer)
        put(o, "answer", json_string(answer), &bad);
    for (size_t i = 0; i < m->n_cand; i++) {
        const kf_entry *e = m->cand[i].entry;
        json_t *x = json_object();
        if (!x || json_array_append_new(c, x)) {
            bad = 1;
            break;
        }
        put(x, "entry", json_string(e->id), &bad);
        put(x, "score", json_real(m->cand[i].score), &bad);
        put(x, "raw", json_real(m->cand[i].bm25), &bad);
        put(x, "question", json_string(e->n_versions ? e->versions[0].question : ""), &bad);
    }
    put(o, "candidates", c, &bad);
    for (size_t i = 0; i < m->n_slots; i++)
        put(sl, m->slots[i].name, json_string(m->slots[i].value), &bad);
    put(o, "slots", sl, &bad);
    put(o, "elapsed_us", json_real((double)m->elapsed_ns / 1000.0), &bad);
    if (bad)
        goto out;
    out = kf_proto_dumps(o, indent > 0 ? JSON_INDENT(indent) : JSON_COMPACT);
out:
    json_decref(o);
    return out;
}

/* ---- generic frames ----------------------------------------------------------- */

struct kf_obj {
    json_t *root;
    const char *type, *id;
};

int kf_obj_parse(const char *data, size_t len, int need_type, kf_obj **out, kf_proto_error *err)
{
    json_t *root = NULL;
    kf_obj *o = NULL;
    int rc;

    *out = NULL;
    memset(err, 0, sizeof(*err));
    rc = load_object(data, len, &root, err);
    if (rc)
        return rc;
    o = kf_calloc(1, sizeof(*o));
    if (!o) {
        json_decref(root);
        return KF_ENOMEM;
    }
    o->root = root;
    json_t *v = json_object_get(root, "v");
    if (v && !(json_is_integer(v) && json_integer_value(v) == KF_PROTO_VERSION)) {
        rc = fail(err, KF_PE_UNSUPPORTED_VERSION, "this server speaks protocol version %d",
                  KF_PROTO_VERSION);
        goto fail;
    }
    if ((rc = (need_type ? req_str : opt_str)(root, "type", 32, &o->type, err)) ||
        (rc = opt_str(root, "id", KF_PROTO_MAX_ID, &o->id, err)))
        goto fail;
    *out = o;
    return KF_OK;
fail:
    kf_obj_free(o);
    return rc;
}

void kf_obj_free(kf_obj *o)
{
    if (!o)
        return;
    json_decref(o->root);
    kf_free(o);
}

const char *kf_obj_type(const kf_obj *o)
{
    return o->type;
}

const char *kf_obj_id(const kf_obj *o)
{
    return o->id;
}

int kf_obj_str(const kf_obj *o, const char *key, size_t max, int required, const char **out,
               kf_proto_error *err)
{
    const char *v = NULL;
    int rc = opt_str(o->root, key, max, &v, err);
    if (rc)
        return rc;
    if (!v)
        return required ? fail(err, KF_PE_MISSING_FIELD, "'%s' is required", key) : KF_OK;
    *out = v;
    return KF_OK;
}

int kf_obj_int(const kf_obj *o, const char *key, int64_t min, int64_t max, int required,
               int64_t *out, kf_proto_error *err)
{
    json_t *v = json_object_get(o->root, key);
    if (!v || json_is_null(v))
        return required ? fail(err, KF_PE_MISSING_FIELD, "'%s' is required", key) : KF_OK;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fail(err, KF_PE_BAD_FIELD, "'%s' must be an integer from %lld to %lld", key,
                    (long long)min, (long long)max);
    *out = (int64_t)json_integer_value(v);
    return KF_OK;
}

int kf_obj_bool(const kf_obj *o, const char *key, int required, int *out, kf_proto_error *err)
{
    json_t *v = json_object_get(o->root, key);
    if (!v || json_is_null(v))
        return required ? fail(err, KF_PE_MISSING_FIELD, "'%s' is required", key) : KF_OK;
    if (!json_is_boolean(v))
        return fail(err, KF_PE_BAD_FIELD, "'%s' must be true or false", key);
    *out = json_is_true(v);
    return KF_OK;
}

kf_out *kf_out_new(const char *type)
{
    if (type)
        return out_new(type);
    kf_out *o = kf_malloc(sizeof(*o));
    if (!o)
        return NULL;
    *o = (kf_out){.obj = json_object()};
    if (!o->obj) {
        kf_free(o);
        return NULL;
    }
    return o;
}

int kf_out_set_bool(kf_out *o, const char *key, int v)
{
    return set_bool(o, key, v);
}

int kf_out_set_double(kf_out *o, const char *key, double v)
{
    if (materialize(o))
        return KF_ENOMEM;
    return json_object_set_new(o->obj, key, json_real(v)) ? KF_ENOMEM : KF_OK;
}

int kf_out_set_null(kf_out *o, const char *key)
{
    if (materialize(o))
        return KF_ENOMEM;
    return json_object_set_new(o->obj, key, json_null()) ? KF_ENOMEM : KF_OK;
}

int kf_out_set_obj(kf_out *o, const char *key, kf_out *child)
{
    if (!child)
        return KF_ENOMEM;
    int rc = materialize(o) || materialize(child) || json_object_set(o->obj, key, child->obj)
                 ? KF_ENOMEM
                 : KF_OK;
    kf_out_free(child);
    return rc;
}

int kf_out_push(kf_out *o, const char *key, kf_out *item)
{
    if (!item)
        return KF_ENOMEM;
    int rc = materialize(o) || materialize(item) ? KF_ENOMEM : KF_OK;
    json_t *arr = rc ? NULL : json_object_get(o->obj, key);
    if (rc == KF_OK && !arr) {
        arr = json_array();
        if (!arr || json_object_set_new(o->obj, key, arr))
            rc = KF_ENOMEM;
    }
    if (rc == KF_OK && json_array_append(arr, item->obj))
        rc = KF_ENOMEM;
    kf_out_free(item);
    return rc;
}

int kf_out_set_empty_array(kf_out *o, const char *key)
{
    if (materialize(o))
        return KF_ENOMEM;
    return json_object_set_new(o->obj, key, json_array()) ? KF_ENOMEM : KF_OK;
}

char *kf_out_dump_plain(const kf_out *o, size_t headroom, size_t *len)
{
    json_t *j = json_object(), *src = obj_ref(o);
    const char *key;
    json_t *val;
    char *s = NULL;
    if (!j || !src || json_object_set_new(j, "v", json_integer(KF_PROTO_VERSION)))
        goto out;
    json_object_foreach(src, key, val)
    {
        if (json_object_set(j, key, val))
            goto out;
    }
    s = dump_with_headroom(j, headroom, len);
out:
    json_decref(src);
    json_decref(j);
    return s;
}

kf_out *kf_proto_row_item(int64_t seq, int out_dir, const char *kind, const char *text,
                          const char *entry, const char *frame, int64_t at_ms)
{
    kf_out *o = kf_out_new(NULL);
    json_t *f = NULL;
    int rc;
    if (!o)
        return NULL;
    rc = kf_out_set_int(o, "seq", seq);
    if (!out_dir) {
        rc = rc ? rc : kf_out_set_str(o, "from", "visitor");
        rc = rc ? rc : kf_out_set_str(o, "type", kind);
        rc = rc ? rc : kf_out_set_str(o, "text", text);
    } else {
        f = frame ? loads_whole(frame) : NULL;
        if (frame && !f) /* out of memory: no row rather than one without its text */
            rc = rc ? rc : KF_ENOMEM;
        int agent = kind && !strcmp(kind, "agent_message");
        rc = rc ? rc : kf_out_set_str(o, "from", agent ? "agent" : "bot");
        rc = rc ? rc : kf_out_set_str(o, "type", kind);
        json_t *t = f ? json_object_get(f, "text") : NULL;
        rc = rc ? rc : kf_out_set_str(o, "text", json_is_string(t) ? json_string_value(t) : NULL);
        json_t *a = f ? json_object_get(f, "agent") : NULL;
        if (agent && json_is_string(a))
            rc = rc ? rc : kf_out_set_str(o, "agent", json_string_value(a));
    }
    rc = rc ? rc : kf_out_set_str(o, "entry", entry);
    rc = rc ? rc : kf_out_set_int(o, "at", at_ms);
    json_decref(f);
    return finish(o, rc);
}
