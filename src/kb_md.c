/* SPDX-License-Identifier: MIT
 * The kb Markdown parser: the .qna convention of Bot Framework / QnA Maker as described in
 * docs/knowledge-format.md, line by line, with every error reported as file:line and
 * parsing going on after it. Cross-file checks (duplicate ids, prompt targets) are left to
 * kf_kb_finish in kb.c. */
#include "kefu/kb.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kb_int.h"
#include "kefu/buf.h"
#include "kefu/mem.h"
#include "kefu/util.h"

/* Where the next line goes. The meaning of a "- item" line depends on it. */
typedef enum {
    M_NONE,    /* outside an entry */
    M_SKIP,    /* after a misplaced section header: its items were already reported */
    M_ALTS,    /* right after a question heading */
    M_FILTERS, /* after **Filters:** */
    M_ANSWER,  /* inside a plain-paragraph answer */
    M_AFTER,   /* after a fenced answer */
    M_PROMPTS, /* after **Prompts:** */
} mode;

typedef enum {
    F_ANSWER, /* the fenced block is the answer: its content is kept, fences dropped */
    F_RAW,    /* a code block inside a plain answer: kept with its fences */
    F_SKIP,   /* misplaced, already reported */
} fence_kind;

typedef struct vbuild {
    kf_version v;
    size_t alts_cap, prompts_cap;
    kf_lang lang; /* from a lang filter, else KF_LANG_NONE */
    kf_buf answer;
    int has_answer;
    int answer_line;
    int reported; /* its answer was already reported (unterminated fence) */
} vbuild;

typedef struct parser {
    kf_kb *kb;
    const char *file;
    kf_diag *d;
    int errors, utf8_errors;
    int line;
    mode m;
    int in_entry, in_version;
    kf_entry e;
    size_t tags_cap, keys_cap, vals_cap;
    vbuild vb;
    int n_in_file;
    /* The heading level ("#" count) of the file's first question starts entries; deeper
     * headings are language versions. QnA Maker exports write "## ?" for every entry and
     * the docs use "# ?" and "### ?": this accepts them all. */
    int level;
    char *pending_id;
    int pending_line;
    int in_fence;
    fence_kind fk;
    char fence_ch;
    size_t fence_len;
    int fence_line;
} parser;

#define ERR(p, ln, ...)                                                                            \
    do {                                                                                           \
        kf_diag_add((p)->d, (p)->file, (ln), __VA_ARGS__);                                         \
        (p)->errors++;                                                                             \
    } while (0)

/* ---- building versions and entries ---------------------------------------- */

static void vbuild_cleanup(vbuild *vb)
{
    kf_kb__version_cleanup(&vb->v);
    kf_buf_cleanup(&vb->answer);
    memset(vb, 0, sizeof(*vb));
}

/* The answer as kept: common indentation removed (the official examples indent fenced
 * answers with a tab), leading blank lines and trailing whitespace dropped. */
static char *finish_answer(const kf_buf *b)
{
    kf_buf out;
    const char *s = b->data ? b->data : "";
    size_t len = b->len, indent = (size_t)-1;

    for (size_t i = 0; i < len;) {
        size_t e = i, w = 0;
        while (e < len && s[e] != '\n')
            e++;
        while (i + w < e && kf_is_blank(s[i + w]))
            w++;
        if (i + w < e && w < indent)
            indent = w;
        i = e + 1;
    }
    if (indent == (size_t)-1)
        indent = 0;
    kf_buf_init(&out);
    int started = 0;
    for (size_t i = 0; i < len;) {
        size_t e = i;
        while (e < len && s[e] != '\n')
            e++;
        size_t w = 0;
        while (i + w < e && kf_is_blank(s[i + w]))
            w++;
        if (w == e - i) { /* blank */
            if (started && kf_buf_putc(&out, '\n'))
                goto fail;
        } else {
            started = 1;
            if (kf_buf_append(&out, s + i + indent, e - i - indent) || kf_buf_putc(&out, '\n'))
                goto fail;
        }
        i = e + 1;
    }
    while (out.len && (out.data[out.len - 1] == '\n' || kf_is_blank(out.data[out.len - 1])))
        out.data[--out.len] = '\0';
    return kf_buf_take(&out);
fail:
    kf_buf_cleanup(&out);
    return NULL;
}

static int end_version(parser *p)
{
    vbuild *vb = &p->vb;
    int rc = KF_OK;

    if (!p->in_version)
        return KF_OK;
    p->in_version = 0;
    char *ans = finish_answer(&vb->answer);
    if (!ans) {
        rc = KF_ENOMEM;
        goto out;
    }
    if (!*ans) {
        if (!vb->reported && vb->has_answer) /* one message per mistake */
            ERR(p, vb->answer_line, "empty answer");
        else if (!vb->reported)
            ERR(p, vb->v.line, "entry without an answer");
        kf_free(ans);
        goto out;
    }
    vb->v.answer = ans;
    vb->v.lang = vb->lang != KF_LANG_NONE ? vb->lang
                                          : kf_lang_detect(vb->v.question, strlen(vb->v.question));
    const kf_version *dup = kf_entry_version(&p->e, vb->v.lang);
    if (dup) {
        ERR(p, vb->v.line, "entry '%s' already has a version in %s (line %d)", p->e.id,
            kf_lang_name(vb->v.lang), dup->line);
        goto out;
    }
    /* e.versions has room for KF_LANG_COUNT and there is at most one per language. */
    p->e.versions[p->e.n_versions++] = vb->v;
    memset(&vb->v, 0, sizeof(vb->v));
out:
    vbuild_cleanup(vb);
    return rc;
}

static int end_entry(parser *p)
{
    int rc = end_version(p);
    if (p->in_entry) {
        p->in_entry = 0;
        /* a fallback is sent as text: buttons after it would have nowhere to go */
        for (size_t v = 0; p->e.out_of_scope && v < p->e.n_versions; v++)
            for (size_t k = 0; k < p->e.versions[v].n_prompts; k++)
                ERR(p, p->e.versions[v].prompts[k].line,
                    "an entry with 'decision = fallback' cannot have prompts");
        if (rc == KF_OK && p->e.n_versions > 0)
            rc = kf_kb__add_entry(p->kb, &p->e);
        else
            kf_kb__entry_cleanup(&p->e);
    }
    p->m = M_NONE;
    return rc;
}

static int start_version(parser *p, const char *q, size_t qn)
{
    memset(&p->vb, 0, sizeof(p->vb));
    p->vb.lang = KF_LANG_NONE;
    kf_buf_init(&p->vb.answer);
    p->vb.v.line = p->line;
    p->vb.v.question = kf_strndup(q, qn);
    if (!p->vb.v.question)
        return KF_ENOMEM;
    p->in_version = 1;
    p->m = M_ALTS;
    return KF_OK;
}

static int start_entry(parser *p)
{
    int rc = end_entry(p);
    if (rc)
        return rc;
    memset(&p->e, 0, sizeof(p->e));
    p->tags_cap = p->keys_cap = p->vals_cap = 0;
    p->in_entry = 1;
    p->n_in_file++;
    p->e.line = p->line;
    if (p->pending_id) {
        p->e.id = p->pending_id;
        p->pending_id = NULL;
    } else {
        /* FILESTEM.N: unstable by design (it moves with the entry), see the format doc. */
        const char *base = strrchr(p->file, '/');
        base = base ? base + 1 : p->file;
        const char *dot = strrchr(base, '.');
        size_t bl = dot && dot != base ? (size_t)(dot - base) : strlen(base);
        kf_buf b;
        kf_buf_init(&b);
        if (kf_buf_printf(&b, "%.*s.%d", (int)bl, base, p->n_in_file)) {
            kf_buf_cleanup(&b);
            return KF_ENOMEM;
        }
        p->e.id = kf_buf_take(&b);
    }
    p->e.file = kf_strdup(p->file);
    p->e.versions = kf_calloc(KF_LANG_COUNT, sizeof(kf_version));
    if (!p->e.id || !p->e.file || !p->e.versions)
        return KF_ENOMEM;
    return KF_OK;
}

/* ---- line recognisers ----------------------------------------------------- */

/* <a id = "x"></a>, <a id="x"></a>, <a id=x></a>: any spacing, quotes optional. */
static int parse_anchor(const char *s, size_t n, const char **id, size_t *idn)
{
    size_t i = 0;
    if (n < 2 || s[0] != '<' || (s[1] != 'a' && s[1] != 'A'))
        return 0;
    i = 2;
    if (i >= n || !kf_is_blank(s[i]))
        return 0;
    while (i < n && kf_is_blank(s[i]))
        i++;
    if (n - i < 2 || strncasecmp(s + i, "id", 2) != 0)
        return 0;
    i += 2;
    while (i < n && kf_is_blank(s[i]))
        i++;
    if (i >= n || s[i] != '=')
        return 0;
    i++;
    while (i < n && kf_is_blank(s[i]))
        i++;
    char q = 0;
    if (i < n && (s[i] == '"' || s[i] == '\''))
        q = s[i++];
    size_t st = i;
    while (i < n && (q ? s[i] != q : !kf_is_blank(s[i]) && s[i] != '>' && s[i] != '/'))
        i++;
    if (i >= n)
        return 0;
    *id = s + st;
    *idn = i - st;
    if (q)
        i++;
    while (i < n && kf_is_blank(s[i]))
        i++;
    /* "<a id=x/>" and "<a id=x>" with or without "</a>" all mean the same to an editor. */
    if (i < n && s[i] == '/')
        i++;
    if (i >= n || s[i] != '>')
        return 0;
    i++;
    while (i < n && kf_is_blank(s[i]))
        i++;
    if (n - i >= 4 && strncasecmp(s + i, "</a>", 4) == 0)
        i += 4;
    while (i < n && kf_is_blank(s[i]))
        i++;
    return i == n;
}

/* "# ? q", "#? q", "## ?q": returns the level (number of '#'), 0 if not a question. */
static int parse_heading(const char *s, size_t n, const char **q, size_t *qn)
{
    size_t h = 0;
    while (h < n && s[h] == '#')
        h++;
    size_t i = h;
    if (h == 0 || h > 6)
        return 0;
    while (i < n && kf_is_blank(s[i]))
        i++;
    if (i >= n || s[i] != '?')
        return 0;
    i++;
    *q = s + i;
    *qn = n - i;
    kf_trim(q, qn);
    return (int)h;
}

/* "**Filters:**", "***Filters:***", "**Filters**:" (any case). */
static int is_section(const char *s, size_t n, const char *name)
{
    size_t a = 0, nl = strlen(name);
    while (a < n && s[a] == '*')
        a++;
    if (a < 2 || n - a < nl || strncasecmp(s + a, name, nl) != 0)
        return 0;
    size_t i = a + nl, stars = 0;
    int colon = 0;
    for (; i < n; i++) {
        if (s[i] == '*')
            stars++;
        else if (s[i] == ':' && !colon)
            colon = 1;
        else
            return 0;
    }
    return stars >= 2;
}

/* An opening code fence (``` or ~~~, 3 or more, optional info string). */
static int fence_open(const char *s, size_t n, char *ch, size_t *flen)
{
    if (n < 3 || (s[0] != '`' && s[0] != '~'))
        return 0;
    size_t k = 0;
    while (k < n && s[k] == s[0])
        k++;
    if (k < 3)
        return 0;
    if (s[0] == '`' && memchr(s + k, '`', n - k))
        return 0; /* CommonMark: a backtick fence's info string has no backticks */
    *ch = s[0];
    *flen = k;
    return 1;
}

static int fence_close(const parser *p, const char *s, size_t n)
{
    size_t k = 0;
    while (k < n && s[k] == p->fence_ch)
        k++;
    return k >= p->fence_len && k == n;
}

/* ---- list items in their sections ----------------------------------------- */

static int add_str(char ***v, size_t *n, size_t *cap, const char *s, size_t len)
{
    char *c = kf_strndup(s, len);
    if (!c || kf_grow(v, cap, *n + 1, sizeof(char *))) {
        kf_free(c);
        return KF_ENOMEM;
    }
    (*v)[(*n)++] = c;
    return KF_OK;
}

static int has_meta(const kf_entry *e, const char *key)
{
    for (size_t i = 0; i < e->n_meta; i++)
        if (strcasecmp(e->meta_keys[i], key) == 0)
            return 1;
    return 0;
}

static int add_filter(parser *p, const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    if (!eq) {
        ERR(p, p->line, "malformed filter (expected '- key = value')");
        return KF_OK;
    }
    const char *k = s, *v = eq + 1;
    size_t kn = (size_t)(eq - s), vn = n - kn - 1;
    kf_trim(&k, &kn);
    kf_trim(&v, &vn);
    if (!kn) {
        ERR(p, p->line, "malformed filter (expected '- key = value')");
        return KF_OK;
    }
    if (kn == 8 && strncasecmp(k, "category", 8) == 0) {
        char *c = kf_strndup(v, vn);
        if (!c)
            return KF_ENOMEM;
        kf_free(p->e.category);
        p->e.category = c;
    } else if (kn == 4 && strncasecmp(k, "tags", 4) == 0) {
        /* Comma separated, the full-width comma included: editors type Chinese. */
        size_t i = 0;
        while (i < vn) {
            size_t st = i;
            size_t sep = 0;
            while (i < vn) {
                if (v[i] == ',') {
                    sep = 1;
                    break;
                }
                if (vn - i >= 3 && memcmp(v + i, "\xEF\xBC\x8C", 3) == 0) {
                    sep = 3;
                    break;
                }
                i++;
            }
            const char *t = v + st;
            size_t tn = i - st;
            kf_trim(&t, &tn);
            if (tn && add_str(&p->e.tags, &p->e.n_tags, &p->tags_cap, t, tn))
                return KF_ENOMEM;
            i += sep;
        }
    } else if (kn == 4 && strncasecmp(k, "lang", 4) == 0) {
        char *l = kf_strndup(v, vn);
        if (!l)
            return KF_ENOMEM;
        kf_lang lang = kf_lang_parse(l);
        if (lang == KF_LANG_NONE)
            ERR(p, p->line, "unknown language '%s' (expected zh or en)", l);
        else
            p->vb.lang = lang;
        kf_free(l);
    } else if (kn == 8 && strncasecmp(k, "decision", 8) == 0) {
        /* The only decision an entry can impose besides answering: the entry is trained like
         * any other so that off-topic questions find it, and is turned into a fallback when
         * it wins (engine_match.c). A handoff entry is `handoff = REASON`. */
        if (vn == 8 && strncasecmp(v, "fallback", 8) == 0)
            p->e.out_of_scope = 1;
        else
            ERR(p, p->line, "unknown decision '%.*s' (expected fallback)", (int)vn, v);
        if (p->e.out_of_scope && has_meta(&p->e, "handoff"))
            ERR(p, p->line, "an entry cannot both fall back and hand off");
    } else {
        kf_entry *e = &p->e;
        if (p->e.out_of_scope && kn == 7 && strncasecmp(k, "handoff", 7) == 0)
            ERR(p, p->line, "an entry cannot both fall back and hand off");
        if (kf_grow(&e->meta_keys, &p->keys_cap, e->n_meta + 1, sizeof(char *)) ||
            kf_grow(&e->meta_vals, &p->vals_cap, e->n_meta + 1, sizeof(char *)))
            return KF_ENOMEM;
        char *mk = kf_strndup(k, kn), *mv = kf_strndup(v, vn);
        if (!mk || !mv) {
            kf_free(mk);
            kf_free(mv);
            return KF_ENOMEM;
        }
        e->meta_keys[e->n_meta] = mk;
        e->meta_vals[e->n_meta] = mv;
        e->n_meta++;
    }
    return KF_OK;
}

/* "[text](#id)" or "[text](#?question)", optionally followed by `context-only` (a QnA
 * Maker flag with no meaning here). */
static int add_prompt(parser *p, const char *s, size_t n)
{
    const char *text, *tgt;
    size_t textn, tgtn;
    char *t = NULL, *g = NULL;

    if (n && s[n - 1] == '`') {
        const char *b = s + n - 1;
        while (b > s && b[-1] != '`')
            b--;
        if (b > s) {
            n = (size_t)(b - 1 - s);
            while (n && kf_is_blank(s[n - 1]))
                n--;
        }
    }
    const char *mid = NULL;
    for (size_t i = 0; i + 3 <= n; i++)
        if (memcmp(s + i, "](#", 3) == 0) {
            mid = s + i;
            break;
        }
    if (n < 6 || s[0] != '[' || s[n - 1] != ')' || !mid)
        goto malformed;
    text = s + 1;
    textn = (size_t)(mid - text);
    tgt = mid + 3;
    tgtn = (size_t)(s + n - 1 - tgt);
    kf_trim(&text, &textn);
    kf_trim(&tgt, &tgtn);
    if (!textn || !tgtn)
        goto malformed;
    if (tgt[0] == '?') {
        const char *q = tgt + 1;
        size_t qn = tgtn - 1;
        kf_trim(&q, &qn);
        if (!qn)
            goto malformed;
        /* kept as "?question" until kf_kb_finish resolves it to an id */
        g = kf_malloc(qn + 2);
        if (!g)
            return KF_ENOMEM;
        g[0] = '?';
        memcpy(g + 1, q, qn);
        g[qn + 1] = '\0';
    } else {
        if (!kf_kb_id_valid(tgt, tgtn)) {
            ERR(p, p->line, "invalid id '%.*s' in prompt (ids use letters, digits, '-', '_', '.')",
                (int)tgtn, tgt);
            return KF_OK;
        }
        g = kf_strndup(tgt, tgtn);
        if (!g)
            return KF_ENOMEM;
    }
    t = kf_strndup(text, textn);
    kf_version *v = &p->vb.v;
    if (!t || kf_grow(&v->prompts, &p->vb.prompts_cap, v->n_prompts + 1, sizeof(kf_prompt))) {
        kf_free(t);
        kf_free(g);
        return KF_ENOMEM;
    }
    v->prompts[v->n_prompts].text = t;
    v->prompts[v->n_prompts].target = g;
    v->prompts[v->n_prompts].line = p->line;
    v->n_prompts++;
    return KF_OK;
malformed:
    ERR(p, p->line, "malformed prompt (expected '- [text](#id)' or '- [text](#?question)')");
    return KF_OK;
}

/* ---- the line dispatcher -------------------------------------------------- */

static int answer_line(parser *p, const char *raw, size_t rn)
{
    if (kf_buf_append(&p->vb.answer, raw, rn) || kf_buf_putc(&p->vb.answer, '\n'))
        return KF_ENOMEM;
    return KF_OK;
}

static int do_line(parser *p, const char *raw, size_t rn)
{
    const char *s = raw;
    size_t n = rn;
    kf_trim(&s, &n);

    if (p->in_fence) {
        if (fence_close(p, s, n)) {
            p->in_fence = 0;
            if (p->fk == F_RAW)
                return answer_line(p, raw, rn);
            if (p->fk == F_ANSWER)
                p->m = M_AFTER;
            return KF_OK;
        }
        return p->fk == F_SKIP ? KF_OK : answer_line(p, raw, rn);
    }
    if (n == 0)
        return p->m == M_ANSWER ? answer_line(p, "", 0) : KF_OK;
    if (s[0] == '>') /* comments, and QnA Maker's "> !# @..." directives */
        return KF_OK;

    const char *id, *q;
    size_t idn, qn;
    if (parse_anchor(s, n, &id, &idn)) {
        int rc = end_entry(p);
        if (rc)
            return rc;
        if (p->pending_id) {
            ERR(p, p->pending_line, "anchor '%s' is not followed by a question", p->pending_id);
            kf_free(p->pending_id);
            p->pending_id = NULL;
        }
        if (!kf_kb_id_valid(id, idn)) {
            ERR(p, p->line, "invalid id '%.*s' (ids use letters, digits, '-', '_', '.')", (int)idn,
                id);
            return KF_OK;
        }
        p->pending_id = kf_strndup(id, idn);
        p->pending_line = p->line;
        return p->pending_id ? KF_OK : KF_ENOMEM;
    }

    int level = parse_heading(s, n, &q, &qn);
    if (level) {
        int rc;
        if (!qn)
            ERR(p, p->line, "empty question");
        if (!p->in_entry || p->level == 0 || level <= p->level) {
            if (p->level == 0)
                p->level = level;
            rc = start_entry(p);
        } else {
            rc = end_version(p);
        }
        return rc ? rc : start_version(p, q, qn);
    }

    int filters = is_section(s, n, "filters");
    if (filters || is_section(s, n, "prompts")) {
        if (!p->in_entry) {
            ERR(p, p->line, "%s outside an entry", filters ? "filters" : "prompts");
            p->m = M_SKIP;
            return KF_OK;
        }
        p->m = filters ? M_FILTERS : M_PROMPTS;
        return KF_OK;
    }

    char fch;
    size_t flen;
    if (fence_open(s, n, &fch, &flen)) {
        p->in_fence = 1;
        p->fence_ch = fch;
        p->fence_len = flen;
        p->fence_line = p->line;
        if (!p->in_entry) {
            ERR(p, p->line, "answer outside an entry");
            p->fk = F_SKIP;
        } else if (p->m == M_ANSWER) {
            p->fk = F_RAW;
            return answer_line(p, raw, rn);
        } else if (p->vb.has_answer) {
            ERR(p, p->line, "second answer in this entry (the first starts at line %d)",
                p->vb.answer_line);
            p->fk = F_SKIP;
        } else {
            p->fk = F_ANSWER;
            p->vb.has_answer = 1;
            p->vb.answer_line = p->line;
        }
        return KF_OK;
    }

    if ((s[0] == '-' || s[0] == '*' || s[0] == '+') && (n == 1 || kf_is_blank(s[1]))) {
        const char *it = s + 1;
        size_t itn = n - 1;
        kf_trim(&it, &itn);
        switch (p->m) {
        case M_NONE: ERR(p, p->line, "alternate phrasing outside an entry"); return KF_OK;
        case M_SKIP: return KF_OK;
        case M_ALTS:
            if (!itn)
                return KF_OK;
            return add_str(&p->vb.v.alts, &p->vb.v.n_alts, &p->vb.alts_cap, it, itn);
        case M_FILTERS: return add_filter(p, it, itn);
        case M_PROMPTS: return add_prompt(p, it, itn);
        case M_ANSWER: return answer_line(p, raw, rn);
        case M_AFTER: ERR(p, p->line, "unexpected text after the answer"); return KF_OK;
        }
    }

    if (!p->in_entry) {
        ERR(p, p->line, "text outside an entry (an entry starts with '# ? question')");
        return KF_OK;
    }
    if (p->m == M_ANSWER)
        return answer_line(p, raw, rn);
    if (p->vb.has_answer) {
        ERR(p, p->line, "unexpected text after the answer");
        p->m = M_AFTER;
        return KF_OK;
    }
    p->vb.has_answer = 1;
    p->vb.answer_line = p->line;
    p->m = M_ANSWER;
    return answer_line(p, raw, rn);
}

int kf_kb_parse(kf_kb *kb, const char *file, const char *text, size_t len, kf_diag *d)
{
    parser p;
    int rc = KF_OK;

    memset(&p, 0, sizeof(p));
    p.kb = kb;
    p.file = file;
    p.d = d;
    p.m = M_NONE;
    size_t off = kf_skip_bom(text, len), n;
    const char *ln;
    while (kf_next_line(text, len, &off, &ln, &n)) {
        p.line++;
        size_t bad = 0;
        if (!kf_utf8_valid(ln, n, &bad)) {
            ERR(&p, p.line, "invalid UTF-8 at column %zu", bad + 1);
            p.utf8_errors++;
            continue;
        }
        if (memchr(ln, '\0', n)) {
            ERR(&p, p.line, "NUL byte in text");
            continue;
        }
        rc = do_line(&p, ln, n);
        if (rc)
            goto out;
    }
    if (p.in_fence) {
        ERR(&p, p.fence_line, "unterminated fenced block");
        if (p.in_version)
            p.vb.reported = 1;
    }
    rc = end_entry(&p);
    if (rc)
        goto out;
    if (p.pending_id)
        ERR(&p, p.pending_line, "anchor '%s' is not followed by a question", p.pending_id);
out:
    if (p.in_version)
        vbuild_cleanup(&p.vb);
    if (p.in_entry)
        kf_kb__entry_cleanup(&p.e);
    kf_free(p.pending_id);
    if (rc)
        return rc;
    if (p.utf8_errors)
        return KF_EUTF8;
    return p.errors ? KF_EPARSE : KF_OK;
}
