/* SPDX-License-Identifier: MIT
 * The subcommands of the kefu binary. Each takes the arguments after its name and returns
 * the process exit status (0 ok, 1 failure of what was checked, 2 usage error). */
#ifndef KEFU_CLI_H
#define KEFU_CLI_H

#include <stdio.h>

#include "kefu/engine.h"

int kf_cli_check(int argc, char **argv);
int kf_cli_ask(int argc, char **argv);
int kf_cli_eval(int argc, char **argv);
int kf_cli_chat(int argc, char **argv);
int kf_cli_import(int argc, char **argv);
int kf_cli_agent(int argc, char **argv);
int kf_cli_report(int argc, char **argv);
int kf_cli_purge(int argc, char **argv);
int kf_cli_export(int argc, char **argv);

struct kf_report;
/* The report as the JSON document of `kefu report --format json` and GET /api/report
 * (docs/metrics.md). kf_malloc'd text, or NULL on ENOMEM. */
char *kf_cli_report_json(const struct kf_report *r, int pretty);

/* ---- shared by the commands (cli_common.c) ---- */

/* Parses the common knowledge options (--kb DIR, --intents DIR, a positional DIR meaning
 * DIR/kb and DIR/intents) out of argv, leaving the others. Returns 0 or 2 on a usage error. */
typedef struct kf_cli_opts {
    kf_engine_config cfg;
    const char *pos[8]; /* other positional arguments */
    int npos;
    int json, tests, help, retrieval_only;
    const char *lang, *train, *test, *val, *out, *prefix, *cases;
    double min_accuracy;
} kf_cli_opts;

int kf_cli_parse(int argc, char **argv, kf_cli_opts *o, const char *usage);
/* Loads the engine, printing every error as file:line; NULL on failure. */
kf_engine *kf_cli_load(kf_cli_opts *o, int learned);
/* Replaces {{name}} variables in an answer with their values (defaults for the demo shop
 * until a configuration sets them). Returns a kf_malloc'd string. */
char *kf_cli_render(const char *answer);

#endif
