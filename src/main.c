/* SPDX-License-Identifier: MIT
 * kefu: one binary, subcommands. This file only dispatches; each command lives in cli_*.c. */
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
    fputs("usage: kefu COMMAND [ARGS]\n"
          "commands:\n"
          "  help      show this help\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    fprintf(stderr, "kefu: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
