/* SPDX-License-Identifier: MIT
 * `kefu ask "question"`: how one question is matched and why. */
#include <stdio.h>
#include <string.h>

#include "kefu/cli.h"
#include "kefu/mem.h"
#include "kefu/proto.h"

static const char usage[] =
    "usage: kefu ask \"QUESTION\" [--json] [--lang zh|en] [--retrieval-only] [--kb DIR]\n"
    "                [--intents DIR]\n"
    "  Shows the normalised text, the tokens, the rule hits, the top candidates with their\n"
    "  scores, the features that decided, and the decision.\n";

int kf_cli_ask(int argc, char **argv)
{
    kf_cli_opts o;
    if (kf_cli_parse(argc, argv, &o, usage))
        return o.help ? 0 : 2;
    if (o.npos != 1) {
        fputs(usage, stderr);
        return 2;
    }
    kf_lang want = KF_LANG_NONE;
    if (o.lang && (want = kf_lang_parse(o.lang)) == KF_LANG_NONE) {
        fprintf(stderr, "kefu: unknown language '%s' (zh or en)\n", o.lang);
        return 2;
    }
    kf_engine *e = kf_cli_load(&o, 2);
    if (!e)
        return 1;
    kf_match m;
    const char *q = o.pos[0];
    int rc = kf_engine_match(e, q, strlen(q), want, KF_MATCH_EXPLAIN, &m);
    if (rc) {
        fprintf(stderr, "kefu: cannot match this question: %s\n", kf_strerror(rc));
        kf_engine_unref(e);
        return 1;
    }
    if (o.json) {
        char *r = m.version ? kf_cli_render(m.version->answer) : NULL;
        char *s = kf_proto_explain(&m, m.version ? (r ? r : "") : NULL, 2);
        kf_free(r);
        if (!s) {
            fprintf(stderr, "kefu: %s\n", kf_strerror(KF_ENOMEM));
            kf_match_cleanup(&m);
            kf_engine_unref(e);
            return 1;
        }
        puts(s);
        kf_free(s);
    } else {
        printf("question:    %s\n", q);
        printf("normalised:  %s\n", m.norm ? m.norm : "");
        printf("tokens:      %s\n", m.tokens ? m.tokens : "");
        printf("rule:        %s", m.rule ? m.rule->name : "(none)");
        if (m.rule)
            printf(" (%s:%d)", m.rule->file, m.rule->line);
        printf("\n");
        for (size_t i = 0; i < m.n_slots; i++)
            printf("slot:        %s = %s\n", m.slots[i].name, m.slots[i].value);
        printf("candidates:\n");
        for (size_t i = 0; i < m.n_cand; i++)
            printf("  %zu. %-28s score %.3f  raw %+.3f  (%s)\n", i + 1, m.cand[i].entry->id,
                   m.cand[i].score, m.cand[i].bm25,
                   m.cand[i].entry->n_versions ? m.cand[i].entry->versions[0].question : "");
        if (m.features)
            printf("features:    %s\n", m.features);
        printf("decision:    %s", kf_decision_name(m.decision));
        if (m.entry)
            printf(" %s", m.entry->id);
        if (m.handoff_reason)
            printf(" (%s%s)", m.handoff_reason, m.urgent ? ", urgent" : "");
        printf("  confidence %.3f  language %s%s\n", m.confidence, kf_lang_name(m.lang),
               m.lang_fallback ? " (answered in the other language)" : "");
        if (m.version) {
            char *r = kf_cli_render(m.version->answer);
            printf("answer:\n%s\n", r ? r : "");
            kf_free(r);
        } else if (m.reply) {
            char *r = kf_cli_render(m.reply);
            printf("reply:       %s\n", r ? r : "");
            kf_free(r);
        }
        printf("time:        %.1f us\n", (double)m.elapsed_ns / 1000.0);
    }
    kf_match_cleanup(&m);
    kf_engine_unref(e);
    return 0;
}
