/* SPDX-License-Identifier: MIT
 * Rules from intents/: the INI-like .rules format (docs/knowledge-format.md), PCRE2
 * compilation (UTF, UCP, caseless, JIT when available) with match and depth limits, and
 * matching in priority order with named groups captured as slots. The only file that
 * includes pcre2.h; what the engine does with a hit is not its business. */
#include "kefu/rules.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "kefu/buf.h"
#include "kefu/mem.h"
#include "kefu/util.h"

#define RULES_MAX_FILE (4u * 1024 * 1024)
#define DEFAULT_MATCH_LIMIT 100000u
#define DEFAULT_DEPTH_LIMIT 1000u

typedef struct rule_int {
    kf_rule r;
    pcre2_code **codes; /* parallel to r.patterns */
    size_t pat_cap, codes_cap;
    size_t seq; /* file order, for the stable priority sort */
    int action_line;
    /* parse state of the section */
    int n_pattern_keys, has_action, has_priority;
    int has_reply[KF_LANG_COUNT + 1]; /* [zh], [en], [both] */
    char *reply_both;
} rule_int;

struct kf_rules {
    rule_int *v;
    size_t n, cap;
    pcre2_general_context *gctx;
    pcre2_compile_context *cctx;
    pcre2_match_context *mctx;
    uint32_t max_pairs; /* largest capture count + 1 over all patterns */
    int no_jit;         /* kf_rules_limits.no_jit */
};

/* ---- allocation and the JIT stack ----------------------------------------- */

/* PCRE2's own allocations go through kf_malloc, so they are accounted and can be made to
 * fail in tests like everything else. */
static void *pcre_alloc(PCRE2_SIZE n, void *data)
{
    (void)data;
    return kf_malloc(n);
}

static void pcre_free(void *p, void *data)
{
    (void)data;
    kf_free(p);
}

/* JIT code ignores the depth limit and runs on a JIT stack; the default one (32 KiB on the
 * machine stack) is small enough that ordinary patterns with repeated groups can fail on a
 * long message. A JIT stack may be used by one thread at a time while a rule set is matched
 * from several, so each thread gets its own, created on first use and freed when the
 * thread exits. Its maximum size is what bounds JIT recursion in place of the depth limit.
 * It uses plain malloc on purpose: it belongs to the thread, not to any rule set. If it
 * cannot be created, PCRE2 falls back to the small default stack. */
#define JIT_STACK_START (32u * 1024)
#define JIT_STACK_MAX (512u * 1024)

static pthread_key_t jit_key;
static pthread_once_t jit_once = PTHREAD_ONCE_INIT;
static int jit_key_ok;

static void jit_stack_destroy(void *s)
{
    pcre2_jit_stack_free(s);
}

static void jit_key_init(void)
{
    jit_key_ok = pthread_key_create(&jit_key, jit_stack_destroy) == 0;
}

static pcre2_jit_stack *jit_stack_get(void *data)
{
    (void)data;
    pthread_once(&jit_once, jit_key_init);
    if (!jit_key_ok)
        return NULL;
    pcre2_jit_stack *s = pthread_getspecific(jit_key);
    if (!s) {
        s = pcre2_jit_stack_create(JIT_STACK_START, JIT_STACK_MAX, NULL);
        if (s && pthread_setspecific(jit_key, s) != 0) {
            pcre2_jit_stack_free(s);
            s = NULL;
        }
    }
    return s;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void rule_cleanup(rule_int *ri)
{
    kf_free(ri->r.name);
    kf_free(ri->r.arg);
    for (int l = 0; l < KF_LANG_COUNT; l++)
        kf_free(ri->r.reply[l]);
    for (size_t i = 0; i < ri->r.n_patterns; i++) {
        kf_free(ri->r.patterns[i]);
        pcre2_code_free(ri->codes[i]);
    }
    kf_free(ri->r.patterns);
    kf_free(ri->codes);
    kf_free(ri->r.file);
    kf_free(ri->reply_both);
    memset(ri, 0, sizeof(*ri));
}

kf_rules *kf_rules_new(const kf_rules_limits *lim)
{
    kf_rules *r = kf_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    uint32_t ml = lim && lim->match_limit ? lim->match_limit : DEFAULT_MATCH_LIMIT;
    uint32_t dl = lim && lim->depth_limit ? lim->depth_limit : DEFAULT_DEPTH_LIMIT;
    r->max_pairs = 1;
    r->no_jit = lim && lim->no_jit;
    r->gctx = pcre2_general_context_create(pcre_alloc, pcre_free, NULL);
    if (!r->gctx)
        goto fail;
    r->cctx = pcre2_compile_context_create(r->gctx);
    r->mctx = pcre2_match_context_create(r->gctx);
    if (!r->cctx || !r->mctx)
        goto fail;
    pcre2_set_match_limit(r->mctx, ml);
    pcre2_set_depth_limit(r->mctx, dl);
    pcre2_jit_stack_assign(r->mctx, jit_stack_get, NULL);
    return r;
fail:
    kf_rules_free(r);
    return NULL;
}

void kf_rules_free(kf_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        rule_cleanup(&r->v[i]);
    kf_free(r->v);
    pcre2_match_context_free(r->mctx);
    pcre2_compile_context_free(r->cctx);
    pcre2_general_context_free(r->gctx);
    kf_free(r);
}

size_t kf_rules__jit_bytes(const kf_rules *r)
{
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++)
        for (size_t k = 0; k < r->v[i].r.n_patterns; k++) {
            size_t n = 0;
            if (pcre2_pattern_info(r->v[i].codes[k], PCRE2_INFO_JITSIZE, &n) == 0)
                total += n;
        }
    return total;
}

size_t kf_rules_count(const kf_rules *r)
{
    return r ? r->n : 0;
}

const kf_rule *kf_rules_get(const kf_rules *r, size_t i)
{
    return r && i < r->n ? &r->v[i].r : NULL;
}

/* ---- parsing -------------------------------------------------------------- */

typedef struct rparser {
    kf_rules *r;
    const char *file;
    kf_diag *d;
    int line;
    int errors;
    rule_int *cur; /* the section being read, or NULL */
} rparser;

#define ERR(p, ln, ...)                                                                            \
    do {                                                                                           \
        kf_diag_add((p)->d, (p)->file, (ln), __VA_ARGS__);                                         \
        (p)->errors++;                                                                             \
    } while (0)

static int end_section(rparser *p)
{
    rule_int *ri = p->cur;
    if (!ri)
        return KF_OK;
    p->cur = NULL;
    if (!ri->n_pattern_keys)
        ERR(p, ri->r.line, "rule '%s' has no pattern", ri->r.name);
    if (!ri->has_action)
        ERR(p, ri->r.line, "rule '%s' has no action", ri->r.name);
    /* "reply" is the default for both languages; reply.zh / reply.en win where given. */
    for (int l = 0; l < KF_LANG_COUNT; l++)
        if (!ri->r.reply[l] && ri->reply_both) {
            ri->r.reply[l] = kf_strdup(ri->reply_both);
            if (!ri->r.reply[l])
                return KF_ENOMEM;
        }
    /* A handoff without text gets the engine's default message; a reply rule is nothing
     * without its text. */
    if (ri->has_action && ri->r.action == KF_RULE_REPLY && !ri->r.reply[KF_LANG_ZH] &&
        !ri->r.reply[KF_LANG_EN])
        ERR(p, ri->action_line, "rule '%s': action 'reply' needs a reply text", ri->r.name);
    return KF_OK;
}

static int start_section(rparser *p, const char *name, size_t n)
{
    kf_rules *r = p->r;
    if (end_section(p))
        return KF_ENOMEM;
    if (!kf_kb_id_valid(name, n))
        ERR(p, p->line, "invalid rule name '%.*s' (use letters, digits, '-', '_', '.')", (int)n,
            name);
    if (kf_grow(&r->v, &r->cap, r->n + 1, sizeof(*r->v)))
        return KF_ENOMEM;
    rule_int *ri = &r->v[r->n];
    memset(ri, 0, sizeof(*ri));
    ri->r.name = kf_strndup(name, n);
    ri->r.file = kf_strdup(p->file);
    if (!ri->r.name || !ri->r.file) {
        rule_cleanup(ri);
        return KF_ENOMEM;
    }
    ri->r.line = p->line;
    ri->seq = r->n;
    r->n++;
    p->cur = ri;
    return KF_OK;
}

static int add_pattern(rparser *p, const char *v, size_t n)
{
    kf_rules *r = p->r;
    rule_int *ri = p->cur;
    pcre2_code *code = NULL;
    pcre2_match_data *md = NULL;
    char *src = NULL;
    int errcode = 0, rc = KF_OK;
    PCRE2_SIZE erroff = 0;

    ri->n_pattern_keys++;
    code = pcre2_compile((PCRE2_SPTR)v, n, PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &errcode,
                         &erroff, r->cctx);
    if (!code) {
        PCRE2_UCHAR msg[256];
        if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
            strcpy((char *)msg, "unknown error");
        if (errcode == PCRE2_ERROR_HEAP_FAILED) {
            rc = KF_ENOMEM;
            goto out;
        }
        ERR(p, p->line, "pattern error at offset %zu: %s", (size_t)erroff, (char *)msg);
        goto out;
    }
    /* Not fatal: without JIT (no support on this CPU, no executable memory, or rules_jit =
     * no) pcre2_match runs the interpreter, which honours both limits. */
    if (!r->no_jit)
        (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    md = pcre2_match_data_create_from_pattern(code, r->gctx);
    if (!md) {
        rc = KF_ENOMEM;
        goto out;
    }
    /* A pattern that matches the empty text would fire on every message. PCRE2's default
     * limits, not the configured ones: a tight limit must not let such a pattern through. */
    int m = pcre2_match(code, (PCRE2_SPTR) "", 0, 0, 0, md, NULL);
    if (m >= 0) {
        ERR(p, p->line, "pattern matches empty text");
        goto out;
    }
    uint32_t captures = 0;
    pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &captures);
    src = kf_strndup(v, n);
    if (!src || kf_grow(&ri->r.patterns, &ri->pat_cap, ri->r.n_patterns + 1, sizeof(char *))) {
        rc = KF_ENOMEM;
        goto out;
    }
    if (kf_grow(&ri->codes, &ri->codes_cap, ri->r.n_patterns + 1, sizeof(pcre2_code *))) {
        rc = KF_ENOMEM;
        goto out;
    }
    ri->r.patterns[ri->r.n_patterns] = src;
    ri->codes[ri->r.n_patterns] = code;
    ri->r.n_patterns++;
    src = NULL;
    code = NULL;
    if (captures + 1 > r->max_pairs)
        r->max_pairs = captures + 1;
out:
    pcre2_match_data_free(md);
    pcre2_code_free(code);
    kf_free(src);
    return rc;
}

static int set_action(rparser *p, const char *v, size_t n)
{
    rule_int *ri = p->cur;
    size_t w = 0;
    while (w < n && !kf_is_blank(v[w]))
        w++;
    const char *arg = v + w;
    size_t an = n - w;
    kf_trim(&arg, &an);

    ri->has_action = 1;
    ri->action_line = p->line;
    if (w == 6 && strncmp(v, "answer", 6) == 0) {
        ri->r.action = KF_RULE_ANSWER;
        if (!an) {
            ERR(p, p->line, "action 'answer' needs an entry id");
            return KF_OK;
        }
        if (!kf_kb_id_valid(arg, an)) {
            ERR(p, p->line, "invalid entry id '%.*s' in action", (int)an, arg);
            return KF_OK;
        }
    } else if (w == 7 && strncmp(v, "handoff", 7) == 0) {
        ri->r.action = KF_RULE_HANDOFF;
        if (!an) { /* a plain "handoff" is a visitor asking for a person */
            arg = "asked";
            an = 5;
        }
        for (size_t i = 0; i < an; i++)
            if (kf_is_blank(arg[i])) {
                ERR(p, p->line, "handoff reason must be one word");
                return KF_OK;
            }
    } else if ((w == 5 && strncmp(v, "reply", 5) == 0) || (w == 5 && strncmp(v, "slots", 5) == 0)) {
        ri->r.action = v[0] == 'r' ? KF_RULE_REPLY : KF_RULE_SLOTS;
        if (an)
            ERR(p, p->line, "unexpected text after action '%.5s'", v);
        return KF_OK;
    } else {
        ERR(p, p->line,
            "unknown action '%.*s' (expected 'answer ID', 'reply', 'handoff REASON' or 'slots')",
            (int)w, v);
        return KF_OK;
    }
    kf_free(ri->r.arg);
    ri->r.arg = kf_strndup(arg, an);
    return ri->r.arg ? KF_OK : KF_ENOMEM;
}

static int set_key(rparser *p, const char *k, size_t kn, const char *v, size_t vn)
{
    rule_int *ri = p->cur;
#define KEY(s) (kn == sizeof(s) - 1 && strncmp(k, s, kn) == 0)
    if (KEY("pattern"))
        return add_pattern(p, v, vn);
    if (KEY("action")) {
        if (ri->has_action) {
            ERR(p, p->line, "action given twice (first at line %d)", ri->action_line);
            return KF_OK;
        }
        return set_action(p, v, vn);
    }
    if (KEY("priority")) {
        char buf[32], *end = NULL;
        if (ri->has_priority) {
            ERR(p, p->line, "priority given twice");
            return KF_OK;
        }
        ri->has_priority = 1;
        if (vn == 0 || vn >= sizeof(buf)) {
            ERR(p, p->line, "priority must be an integer");
            return KF_OK;
        }
        memcpy(buf, v, vn);
        buf[vn] = '\0';
        long val = strtol(buf, &end, 10);
        if (*end || val < -1000000 || val > 1000000) {
            ERR(p, p->line, "priority must be an integer between -1000000 and 1000000");
            return KF_OK;
        }
        ri->r.priority = (int)val;
        return KF_OK;
    }
    int slot = KEY("reply")      ? KF_LANG_COUNT
               : KEY("reply.zh") ? KF_LANG_ZH
               : KEY("reply.en") ? KF_LANG_EN
                                 : -1;
#undef KEY
    if (slot < 0) {
        ERR(p, p->line, "unknown key '%.*s'", (int)kn, k);
        return KF_OK;
    }
    if (ri->has_reply[slot]) {
        ERR(p, p->line, "'%.*s' given twice", (int)kn, k);
        return KF_OK;
    }
    ri->has_reply[slot] = 1;
    char *t = kf_strndup(v, vn);
    if (!t)
        return KF_ENOMEM;
    if (slot == KF_LANG_COUNT)
        ri->reply_both = t;
    else
        ri->r.reply[slot] = t;
    return KF_OK;
}

static int do_line(rparser *p, const char *s, size_t n)
{
    kf_trim(&s, &n);
    if (n == 0 || s[0] == '#')
        return KF_OK;
    if (s[0] == '[') {
        if (s[n - 1] != ']') {
            ERR(p, p->line, "malformed section header (expected '[name]')");
            return end_section(p);
        }
        const char *name = s + 1;
        size_t nn = n - 2;
        kf_trim(&name, &nn);
        return start_section(p, name, nn);
    }
    const char *eq = memchr(s, '=', n);
    if (!eq) {
        ERR(p, p->line, "expected 'key = value'");
        return KF_OK;
    }
    const char *k = s, *v = eq + 1;
    size_t kn = (size_t)(eq - s), vn = n - kn - 1;
    kf_trim(&k, &kn);
    kf_trim(&v, &vn);
    if (!p->cur) {
        ERR(p, p->line, "key '%.*s' outside a section (start one with '[name]')", (int)kn, k);
        return KF_OK;
    }
    return set_key(p, k, kn, v, vn);
}

int kf_rules_parse(kf_rules *r, const char *file, const char *text, size_t len, kf_diag *d)
{
    rparser p = {.r = r, .file = file, .d = d};
    int rc = KF_OK;

    size_t off = kf_skip_bom(text, len), n;
    const char *ln;
    while (kf_next_line(text, len, &off, &ln, &n)) {
        p.line++;
        size_t bad = 0;
        if (!kf_utf8_valid(ln, n, &bad)) {
            ERR(&p, p.line, "invalid UTF-8 at column %zu", bad + 1);
            continue;
        }
        if (memchr(ln, '\0', n)) {
            ERR(&p, p.line, "NUL byte in text");
            continue;
        }
        rc = do_line(&p, ln, n);
        if (rc)
            return rc;
    }
    rc = end_section(&p);
    if (rc)
        return rc;
    return p.errors ? KF_EPARSE : KF_OK;
}

static int cmp_rule(const void *a, const void *b)
{
    const rule_int *x = a, *y = b;
    if (x->r.priority != y->r.priority)
        return x->r.priority > y->r.priority ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int kf_rules_finish(kf_rules *r, const kf_kb *kb, kf_diag *d)
{
    int errors = 0;
    /* Rule sets are tens of rules: a quadratic scan reads better than an index here. */
    for (size_t i = 0; i < r->n; i++) {
        const kf_rule *a = &r->v[i].r;
        for (size_t k = 0; k < i; k++) {
            const kf_rule *b = &r->v[k].r;
            if (strcmp(a->name, b->name) == 0) {
                kf_diag_add(d, a->file, a->line,
                            "duplicate rule name '%s' (first defined at %s:%d)", a->name, b->file,
                            b->line);
                errors++;
                break;
            }
        }
        if (kb && a->action == KF_RULE_ANSWER && a->arg && !kf_kb_find(kb, a->arg)) {
            kf_diag_add(d, a->file, r->v[i].action_line, "rule '%s' answers unknown entry '%s'",
                        a->name, a->arg);
            errors++;
        }
    }
    /* seq makes qsort stable: equal priorities keep file (load) order. */
    for (size_t i = 0; i < r->n; i++)
        r->v[i].seq = i;
    if (r->n > 1)
        qsort(r->v, r->n, sizeof(*r->v), cmp_rule);
    return errors ? KF_EPARSE : KF_OK;
}

static int parse_into_rules(void *r, const char *file, const char *text, size_t len,
                            kf_diag *d)
{
    return kf_rules_parse(r, file, text, len, d);
}

kf_rules *kf_rules_load_dir(const char *dir, const kf_kb *kb, const kf_rules_limits *lim,
                            kf_diag *d)
{
    static const char *const suffixes[] = {".rules", NULL};
    size_t before = d->n;
    int before_oom = d->oom;
    kf_rules *r = kf_rules_new(lim);

    if (!r) {
        kf_diag_add(d, dir, 0, "%s", kf_strerror(KF_ENOMEM));
        return NULL;
    }
    int rc = kf_parse_dir(dir, suffixes, RULES_MAX_FILE, 0, parse_into_rules, r, d);
    if (rc == KF_OK || rc == KF_EPARSE)
        kf_rules_finish(r, kb, d);
    if (d->n != before || d->oom != before_oom) {
        kf_rules_free(r);
        return NULL;
    }
    return r;
}

/* ---- matching ------------------------------------------------------------- */

static int add_slots(const kf_rules *r, const pcre2_code *code, pcre2_match_data *md, int mrc,
                     const char *text, kf_rules_result *out, size_t *cap)
{
    uint32_t count = 0, esize = 0;
    PCRE2_SPTR table = NULL;
    (void)r;
    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &count);
    if (!count)
        return KF_OK;
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &esize);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    for (uint32_t i = 0; i < count; i++) {
        PCRE2_SPTR ent = table + (size_t)i * esize;
        uint32_t g = ((uint32_t)ent[0] << 8) | ent[1];
        const char *name = (const char *)ent + 2;
        if ((int)g >= mrc || ov[2 * g] == PCRE2_UNSET)
            continue;
        /* The first (highest-priority) rule to fill a slot keeps it. */
        int seen = 0;
        for (size_t k = 0; k < out->n_slots; k++)
            if (strcmp(out->slots[k].name, name) == 0)
                seen = 1;
        if (seen)
            continue;
        if (kf_grow(&out->slots, cap, out->n_slots + 1, sizeof(kf_slot)))
            return KF_ENOMEM;
        kf_slot *s = &out->slots[out->n_slots];
        s->name = kf_strdup(name);
        s->value = kf_strndup(text + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
        if (!s->name || !s->value) {
            kf_free(s->name);
            kf_free(s->value);
            return KF_ENOMEM;
        }
        out->n_slots++;
    }
    return KF_OK;
}

int kf_rules_match(const kf_rules *r, const char *text, size_t len, kf_rules_result *out)
{
    pcre2_match_data *md = NULL;
    size_t cap = 0;
    int rc = KF_OK;

    memset(out, 0, sizeof(*out));
    if (!text)
        text = "";
    /* Checked once here so every pcre2_match can skip its own check. */
    if (!kf_utf8_valid(text, len, NULL))
        return KF_EUTF8;
    /* Per call, sized for the pattern with the most groups: the rule set itself stays
     * immutable and can be shared between threads. */
    md = pcre2_match_data_create(r->max_pairs, r->gctx);
    if (!md)
        return KF_ENOMEM;
    for (size_t i = 0; i < r->n; i++) {
        const rule_int *ri = &r->v[i];
        if (ri->r.action != KF_RULE_SLOTS && out->hit)
            continue;
        for (size_t k = 0; k < ri->r.n_patterns; k++) {
            int m = pcre2_match(ri->codes[k], (PCRE2_SPTR)text, len, 0, PCRE2_NO_UTF_CHECK, md,
                                r->mctx);
            if (m == PCRE2_ERROR_MATCHLIMIT || m == PCRE2_ERROR_DEPTHLIMIT ||
                m == PCRE2_ERROR_HEAPLIMIT || m == PCRE2_ERROR_JIT_STACKLIMIT) {
                if (!out->limited)
                    out->limited = &ri->r;
                continue;
            }
            if (m == PCRE2_ERROR_NOMEMORY) {
                rc = KF_ENOMEM;
                goto fail;
            }
            if (m < 0) /* no match (or an error no input should cause): not a hit */
                continue;
            if (ri->r.action != KF_RULE_SLOTS)
                out->hit = &ri->r;
            rc = add_slots(r, ri->codes[k], md, m == 0 ? (int)r->max_pairs : m, text, out, &cap);
            if (rc)
                goto fail;
            break;
        }
    }
    pcre2_match_data_free(md);
    return KF_OK;
fail:
    pcre2_match_data_free(md);
    kf_rules_result_cleanup(out);
    return rc;
}

void kf_rules_result_cleanup(kf_rules_result *res)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_slots; i++) {
        kf_free(res->slots[i].name);
        kf_free(res->slots[i].value);
    }
    kf_free(res->slots);
    memset(res, 0, sizeof(*res));
}
