/* SPDX-License-Identifier: MIT
 * `kefu chat`: a conversation with the bot on the terminal, over the shipped knowledge. */
#include <stdio.h>
#include <string.h>

#include "kefu/cli.h"
#include "kefu/mem.h"

static const char usage[] =
    "usage: kefu chat [--kb DIR] [--intents DIR] [--lang zh|en]\n"
    "  Reads questions from standard input, one per line, and answers them.\n";

static void print_answer(const char *text)
{
    char *r = kf_cli_render(text);
    printf("%s\n", r ? r : text);
    kf_free(r);
}

int kf_cli_chat(int argc, char **argv)
{
    kf_cli_opts o;
    char line[8192];
    if (kf_cli_parse(argc, argv, &o, usage))
        return o.help ? 0 : 2;
    kf_lang want = o.lang ? kf_lang_parse(o.lang) : KF_LANG_NONE;
    kf_engine *e = kf_cli_load(&o, 1);
    if (!e)
        return 1;
    /* a person is about to type: the learned layer is ready long before they finish */
    kf_engine_wait_learned(e);
    printf("kefu chat: %zu entries loaded. Ask a question (Ctrl-D to quit).\n",
           kf_engine_kb(e)->n_entries);
    fflush(stdout);
    for (;;) {
        printf("> ");
        fflush(stdout);
        if (!fgets(line, sizeof(line), stdin))
            break;
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (n == 0)
            continue;
        kf_match m;
        int rc = kf_engine_match(e, line, n, want, 0, &m);
        if (rc == KF_EEMPTY) {
            printf("bot: 请输入您的问题。/ Please type your question.\n");
            continue;
        } else if (rc) {
            printf("bot: (%s)\n", kf_strerror(rc));
            continue;
        }
        kf_lang l = m.lang;
        switch (m.decision) {
        case KF_DECISION_ANSWER:
            printf("bot [%s]:\n", m.entry->id);
            if (m.lang_fallback)
                printf("%s\n", l == KF_LANG_ZH ? "（这个问题暂时只有英文答案：）"
                                               : "(This answer is only available in Chinese:)");
            if (m.version)
                print_answer(m.version->answer);
            for (size_t i = 0; m.version && i < m.version->n_prompts; i++)
                printf("  [%s]\n", m.version->prompts[i].text);
            break;
        case KF_DECISION_CLARIFY:
            printf("bot: %s\n", l == KF_LANG_ZH ? "您想问的是以下哪个问题？" : "Did you mean:");
            for (size_t i = 0; i < m.n_options; i++) {
                const kf_version *v = kf_entry_version(m.cand[i].entry, l);
                if (!v)
                    v = &m.cand[i].entry->versions[0];
                printf("  %zu. %s\n", i + 1, v->question);
            }
            break;
        case KF_DECISION_FALLBACK:
            if (m.reply) { /* an out-of-scope entry's own answer */
                printf("bot [fallback: %s]:\n", m.entry ? m.entry->id : "?");
                print_answer(m.reply);
                break;
            }
            printf("bot: %s\n", l == KF_LANG_ZH ? "抱歉，我没有理解您的问题，能换个说法吗？"
                                                : "Sorry, I did not understand. Could you "
                                                  "rephrase?");
            break;
        case KF_DECISION_HANDOFF:
            printf("bot [handoff: %s]: ", m.handoff_reason);
            print_answer(m.reply ? m.reply
                                 : (l == KF_LANG_ZH ? "正在为您转接人工客服，请稍候。"
                                                    : "Connecting you to a human agent."));
            break;
        case KF_DECISION_REPLY:
            printf("bot: ");
            print_answer(m.reply ? m.reply : "");
            break;
        }
        for (size_t i = 0; i < m.n_slots; i++)
            printf("  (%s = %s)\n", m.slots[i].name, m.slots[i].value);
        kf_match_cleanup(&m);
        fflush(stdout);
    }
    printf("\n");
    kf_engine_unref(e);
    return 0;
}
