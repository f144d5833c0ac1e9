/* SPDX-License-Identifier: MIT
 * TEMPORARY STUB — NEVER TO BE MERGED. Implements include/kefu/engine.h (and the few kb.h
 * helpers the server uses) trivially so that the server can be developed before the real
 * engine lands: reads "<a id>", "# ?"/"## ?" headings, "- alternates" and fenced answers from
 * kb/ *.md files; "[rule]" sections with "pattern = a|b" (literal alternatives), "action" and
 * "reply" from intents/ *.rules files. Matching: rule literal substring, then phrasing equality
 * (answer) or containment (one entry: answer; several: clarify), else fallback. */
#include "kefu/engine.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/mem.h"
#include "kefu/util.h"

const char *kf_lang_name(kf_lang l)
{
    return l == KF_LANG_EN ? "en" : l == KF_LANG_ZH ? "zh" : "none";
}

kf_lang kf_lang_parse(const char *s)
{
    if (s && !strcmp(s, "zh"))
        return KF_LANG_ZH;
    if (s && !strcmp(s, "en"))
        return KF_LANG_EN;
    return KF_LANG_NONE;
}

kf_lang kf_lang_detect(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] >= 0xe4 && (unsigned char)s[i] <= 0xe9)
            return KF_LANG_ZH;
    return KF_LANG_EN;
}

const char *kf_decision_name(kf_decision d)
{
    static const char *const n[] = {"answer", "clarify", "fallback", "handoff", "reply"};
    return (unsigned)d < 5 ? n[d] : "unknown";
}

void kf_engine_config_defaults(kf_engine_config *c)
{
    memset(c, 0, sizeof(*c));
    c->kb_dir = "kb";
    c->intents_dir = "intents";
    c->answer_min = 0.5;
    c->margin_min = 0.2;
    c->clarify_min = 0.2;
    c->learned = 1;
    c->limits.match_limit = 100000;
    c->limits.depth_limit = 1000;
}

struct kf_engine {
    atomic_int refs;
    kf_kb kb;
    kf_rule *rules;
    size_t n_rules;
};

static char *dupn(const char *s, size_t n)
{
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r'))
        n--;
    while (n && *s == ' ') {
        s++;
        n--;
    }
    return kf_strndup(s, n);
}

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void parse_kb(kf_engine *e, const char *file, char *t, kf_diag *d)
{
    char *pending_id = NULL;
    kf_entry *en = NULL;
    kf_version *v = NULL;
    int lineno = 0, in_fence = 0, fence_line = 0;
    kf_buf ans;
    kf_buf_init(&ans);
    for (char *line = t; line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        size_t L = strlen(line);
        if (L && line[L - 1] == '\r')
            line[--L] = '\0';
        if (in_fence) {
            if (!strncmp(line, "```", 3)) {
                in_fence = 0;
                v->answer = kf_buf_take(&ans);
            } else {
                if (ans.len)
                    kf_buf_putc(&ans, '\n');
                kf_buf_puts(&ans, line);
            }
        } else if (!strncmp(line, "<a id", 5)) {
            char *q = strchr(line, '"');
            char *q2 = q ? strchr(q + 1, '"') : NULL;
            if (q2) {
                kf_free(pending_id);
                pending_id = kf_strndup(q + 1, (size_t)(q2 - q - 1));
            }
        } else if (!strncmp(line, "# ?", 3) || !strncmp(line, "## ?", 4)) {
            int top = line[1] == ' ';
            if (top) {
                size_t cap = e->kb.n_entries;
                kf_grow(&e->kb.entries, &cap, e->kb.n_entries + 1, sizeof(kf_entry));
                en = &e->kb.entries[e->kb.n_entries++];
                memset(en, 0, sizeof(*en));
                en->id = pending_id ? pending_id : kf_strdup("anon");
                pending_id = NULL;
                en->file = kf_strdup(file);
                en->line = lineno;
            }
            if (!en)
                continue;
            size_t cap = en->n_versions;
            kf_grow(&en->versions, &cap, en->n_versions + 1, sizeof(kf_version));
            v = &en->versions[en->n_versions++];
            memset(v, 0, sizeof(*v));
            v->question = dupn(line + (top ? 3 : 4), strlen(line + (top ? 3 : 4)));
            v->lang = kf_lang_detect(v->question, strlen(v->question));
            v->line = lineno;
        } else if (line[0] == '-' && line[2] == '[' && v && v->answer && strstr(line, "](#")) {
            char *mid = strstr(line, "](#");
            char *end = strchr(mid, ')');
            size_t cap = v->n_prompts;
            kf_grow(&v->prompts, &cap, v->n_prompts + 1, sizeof(kf_prompt));
            v->prompts[v->n_prompts].text = kf_strndup(line + 3, (size_t)(mid - line - 3));
            v->prompts[v->n_prompts].target =
                kf_strndup(mid + 3, end ? (size_t)(end - mid - 3) : strlen(mid + 3));
            v->n_prompts++;
        } else if ((line[0] == '-' || line[0] == '*') && line[1] == ' ' && v && !v->answer) {
            size_t cap = v->n_alts;
            kf_grow(&v->alts, &cap, v->n_alts + 1, sizeof(char *));
            v->alts[v->n_alts++] = dupn(line + 2, strlen(line + 2));
        } else if (!strncmp(line, "```", 3) && v) {
            in_fence = 1;
            fence_line = lineno;
            kf_buf_reset(&ans);
        }
        line = nl ? nl + 1 : NULL;
    }
    if (in_fence)
        kf_diag_add(d, file, fence_line, "unterminated fenced block");
    for (size_t i = 0; i < e->kb.n_entries; i++)
        for (size_t j = 0; j < e->kb.entries[i].n_versions; j++)
            if (!e->kb.entries[i].versions[j].answer && !strcmp(e->kb.entries[i].file, file))
                kf_diag_add(d, file, e->kb.entries[i].versions[j].line, "entry without an answer");
    kf_free(pending_id);
    kf_buf_cleanup(&ans);
}

static void parse_rules(kf_engine *e, const char *file, char *t, kf_diag *d)
{
    kf_rule *r = NULL;
    int lineno = 0;
    for (char *line = t; line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        if (line[0] == '[') {
            size_t cap = e->n_rules;
            kf_grow(&e->rules, &cap, e->n_rules + 1, sizeof(kf_rule));
            r = &e->rules[e->n_rules++];
            memset(r, 0, sizeof(*r));
            char *cl = strchr(line, ']');
            r->name = kf_strndup(line + 1, cl ? (size_t)(cl - line - 1) : 0);
            r->file = kf_strdup(file);
            r->line = lineno;
        } else if (r && strchr(line, '=') && line[0] != '#') {
            char *eq = strchr(line, '=');
            char *k = dupn(line, (size_t)(eq - line));
            char *val = dupn(eq + 1, strlen(eq + 1));
            if (!strcmp(k, "pattern")) {
                size_t cap = r->n_patterns;
                kf_grow(&r->patterns, &cap, r->n_patterns + 1, sizeof(char *));
                lower(val);
                r->patterns[r->n_patterns++] = val;
                val = NULL;
            } else if (!strcmp(k, "action")) {
                if (!strncmp(val, "handoff", 7)) {
                    r->action = KF_RULE_HANDOFF;
                    r->arg = kf_strdup(val[7] ? val + 8 : "asked");
                } else if (!strncmp(val, "answer", 6)) {
                    r->action = KF_RULE_ANSWER;
                    r->arg = kf_strdup(val + 7);
                } else if (!strcmp(val, "reply")) {
                    r->action = KF_RULE_REPLY;
                } else {
                    r->action = KF_RULE_SLOTS;
                }
            } else if (!strcmp(k, "reply") || !strcmp(k, "reply.zh")) {
                kf_free(r->reply[KF_LANG_ZH]);
                r->reply[KF_LANG_ZH] = val;
                val = NULL;
            } else if (!strcmp(k, "reply.en")) {
                kf_free(r->reply[KF_LANG_EN]);
                r->reply[KF_LANG_EN] = val;
                val = NULL;
            } else if (strcmp(k, "priority") != 0) {
                kf_diag_add(d, file, lineno, "unknown key '%s'", k);
            }
            kf_free(k);
            kf_free(val);
        }
        line = nl ? nl + 1 : NULL;
    }
}

static void engine_free(kf_engine *e)
{
    for (size_t i = 0; i < e->kb.n_entries; i++) {
        kf_entry *en = &e->kb.entries[i];
        for (size_t j = 0; j < en->n_versions; j++) {
            kf_version *v = &en->versions[j];
            kf_free(v->question);
            kf_strv_free(v->alts, v->n_alts);
            kf_free(v->answer);
            for (size_t k = 0; k < v->n_prompts; k++) {
                kf_free(v->prompts[k].text);
                kf_free(v->prompts[k].target);
            }
            kf_free(v->prompts);
        }
        kf_free(en->versions);
        kf_free(en->id);
        kf_free(en->file);
    }
    kf_free(e->kb.entries);
    for (size_t i = 0; i < e->n_rules; i++) {
        kf_rule *r = &e->rules[i];
        kf_free(r->name);
        kf_free(r->arg);
        kf_free(r->file);
        kf_free(r->reply[0]);
        kf_free(r->reply[1]);
        kf_strv_free(r->patterns, r->n_patterns);
    }
    kf_free(e->rules);
    kf_free(e);
}

static void load_dir(kf_engine *e, const char *dir, const char *suffix, int rules, kf_diag *d)
{
    const char *sfx[] = {suffix, NULL};
    char **files = NULL;
    size_t n = 0;
    if (kf_list_dir(dir, sfx, &files, &n)) {
        kf_diag_add(d, dir, 0, "cannot list directory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *t = NULL;
        size_t len;
        if (kf_read_file(files[i], 1 << 22, &t, &len) == KF_OK) {
            if (rules)
                parse_rules(e, files[i], t, d);
            else
                parse_kb(e, files[i], t, d);
        }
        kf_free(t);
    }
    kf_strv_free(files, n);
}

kf_engine *kf_engine_load(const kf_engine_config *cfg, kf_diag *d)
{
    kf_engine *e = kf_calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    atomic_init(&e->refs, 1);
    size_t before = kf_diag_count(d);
    load_dir(e, cfg->kb_dir, ".md", 0, d);
    load_dir(e, cfg->intents_dir, ".rules", 1, d);
    if (kf_diag_count(d) > before) {
        engine_free(e);
        return NULL;
    }
    return e;
}

kf_engine *kf_engine_ref(kf_engine *e)
{
    atomic_fetch_add(&e->refs, 1);
    return e;
}

void kf_engine_unref(kf_engine *e)
{
    if (e && atomic_fetch_sub(&e->refs, 1) == 1)
        engine_free(e);
}

const kf_kb *kf_engine_kb(const kf_engine *e)
{
    return &e->kb;
}

const kf_entry *kf_kb_find(const kf_kb *kb, const char *id)
{
    for (size_t i = 0; i < kb->n_entries; i++)
        if (!strcmp(kb->entries[i].id, id))
            return &kb->entries[i];
    return NULL;
}

const kf_version *kf_entry_version(const kf_entry *e, kf_lang lang)
{
    for (size_t i = 0; i < e->n_versions; i++)
        if (e->versions[i].lang == lang)
            return &e->versions[i];
    return NULL;
}

static const kf_version *pick(const kf_entry *en, kf_lang want, int *fb)
{
    const kf_version *v = kf_entry_version(en, want);
    *fb = 0;
    if (!v) {
        *fb = 1;
        v = &en->versions[0];
    }
    return v;
}

int kf_engine_match(kf_engine *e, const char *text, size_t len, kf_lang want, unsigned flags,
                    kf_match *out)
{
    (void)flags;
    memset(out, 0, sizeof(*out));
    if (!kf_utf8_valid(text, len, NULL))
        return KF_EUTF8;
    char *q = dupn(text, len);
    if (!q)
        return KF_ENOMEM;
    lower(q);
    for (char *p = q; *p; p++)
        if (strchr("?!.,", *p))
            *p = ' ';
    size_t ql = strlen(q);
    if (ql >= 3 && !memcmp(q + ql - 3, "\xef\xbc\x9f", 3))
        q[ql - 3] = '\0';
    char *t = dupn(q, strlen(q));
    kf_free(q);
    if (!t)
        return KF_ENOMEM;
    if (!*t) {
        kf_free(t);
        return KF_EEMPTY;
    }
    kf_lang lang = want == KF_LANG_NONE ? kf_lang_detect(t, strlen(t)) : want;
    out->lang = lang;
    for (size_t i = 0; i < e->n_rules; i++) {
        const kf_rule *r = &e->rules[i];
        for (size_t j = 0; j < r->n_patterns; j++) {
            char *pat = kf_strdup(r->patterns[j]);
            int hit = 0, anchored = pat[0] == '^';
            for (char *s = strtok(pat, "|()^$"); s && !hit; s = strtok(NULL, "|()^$"))
                hit = *s && (anchored ? !strcmp(t, s) : strstr(t, s) != NULL);
            kf_free(pat);
            if (!hit)
                continue;
            out->rule = r;
            out->confidence = 1;
            out->reply = r->reply[lang] ? r->reply[lang] : r->reply[KF_LANG_ZH];
            if (r->action == KF_RULE_HANDOFF) {
                out->decision = KF_DECISION_HANDOFF;
                out->handoff_reason = r->arg;
                out->urgent = !strcmp(r->arg, "complaint");
            } else if (r->action == KF_RULE_ANSWER && kf_kb_find(&e->kb, r->arg)) {
                out->decision = KF_DECISION_ANSWER;
                out->entry = kf_kb_find(&e->kb, r->arg);
                out->version = pick(out->entry, lang, &out->lang_fallback);
            } else {
                out->decision = KF_DECISION_REPLY;
            }
            kf_free(t);
            return KF_OK;
        }
    }
    for (size_t i = 0; i < e->kb.n_entries && out->n_cand < KF_MAX_CAND; i++) {
        const kf_entry *en = &e->kb.entries[i];
        double best = 0;
        for (size_t j = 0; j < en->n_versions; j++) {
            const kf_version *v = &en->versions[j];
            for (size_t k = 0; k <= v->n_alts; k++) {
                char *ph = dupn(k ? v->alts[k - 1] : v->question,
                                strlen(k ? v->alts[k - 1] : v->question));
                lower(ph);
                for (char *p = ph; *p; p++)
                    if (strchr("?!.,", *p))
                        *p = ' ';
                char *p2 = dupn(ph, strlen(ph));
                kf_free(ph);
                /* strip UTF-8 "？" (ef bc 9f) at the end */
                size_t pl = strlen(p2);
                if (pl >= 3 && !memcmp(p2 + pl - 3, "\xef\xbc\x9f", 3))
                    p2[pl - 3] = '\0';
                double s = !strcmp(p2, t) ? 1.0 : (strstr(p2, t) || strstr(t, p2)) ? 0.4 : 0;
                if (s > best)
                    best = s;
                kf_free(p2);
            }
        }
        if (best > 0) {
            out->cand[out->n_cand].entry = en;
            out->cand[out->n_cand].score = best;
            out->n_cand++;
        }
    }
    kf_free(t);
    for (size_t i = 1; i < out->n_cand; i++)
        for (size_t j = i; j > 0 && out->cand[j].score > out->cand[j - 1].score; j--) {
            kf_candidate c = out->cand[j];
            out->cand[j] = out->cand[j - 1];
            out->cand[j - 1] = c;
        }
    if (out->n_cand == 0) {
        out->decision = KF_DECISION_FALLBACK;
    } else if (out->n_cand == 1 || out->cand[0].score >= 1.0) {
        out->decision = KF_DECISION_ANSWER;
        out->entry = out->cand[0].entry;
        out->confidence = out->cand[0].score;
        out->version = pick(out->entry, lang, &out->lang_fallback);
    } else {
        out->decision = KF_DECISION_CLARIFY;
        out->n_options = out->n_cand > 3 ? 3 : out->n_cand;
        out->confidence = out->cand[0].score;
    }
    return KF_OK;
}

void kf_match_cleanup(kf_match *m)
{
    memset(m, 0, sizeof(*m));
}

int kf_engine_search(kf_engine *e, const char *query, size_t len, kf_candidate *out,
                     size_t max)
{
    (void)e;
    (void)query;
    (void)len;
    (void)out;
    (void)max;
    return 0;
}
