/* SPDX-License-Identifier: MIT
 * kefu: one binary, subcommands. This file only dispatches; each command lives in cli_*.c. */
#include <stdio.h>
#include <string.h>

#include "kefu/cli.h"
#include "kefu/server.h"

static const struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *help;
} commands[] = {
    {"serve", kf_cli_serve, "run the chat server (WebSocket, web/, /healthz, /metrics)"},
    {"config", kf_cli_config, "print the documented example configuration, or check a file"},
    {"check", kf_cli_check, "validate kb/ and intents/ (file:line errors); --tests runs *.test"},
    {"ask", kf_cli_ask, "explain how one question is matched"},
    {"eval", kf_cli_eval, "accuracy over the test files, or over a train/test split"},
    {"chat", kf_cli_chat, "talk to the bot on the terminal"},
    {"agent", kf_cli_agent, "manage agent accounts: add, list, passwd, disable, enable, demo"},
    {"import", kf_cli_import, "convert a question<TAB>answer export into a kb file"},
    {"report", kf_cli_report, "figures of a period: automation, handoffs, to-do list, CSAT"},
    {"purge", kf_cli_purge, "delete conversations older than a date (retention)"},
    {"export", kf_cli_export, "print one conversation's stored data as JSON"},
};

static void usage(FILE *out)
{
    fputs("usage: kefu COMMAND [ARGS]   (kefu COMMAND --help for details)\n\ncommands:\n", out);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].help);
    fputs("  help     show this help\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        if (argc > 2) {
            for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *args[] = {"--help", NULL};
                    return commands[i].fn(1, args);
                }
        }
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "kefu: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
