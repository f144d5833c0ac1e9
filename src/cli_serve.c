/* SPDX-License-Identifier: MIT
 * `kefu serve` and `kefu config`: command-line flags over the configuration file, then the
 * server. Flags win over the file whatever their order: the file is read first. */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/config.h"
#include "kefu/log.h"
#include "kefu/mem.h"
#include "kefu/server.h"

static const char serve_usage[] =
    "usage: kefu serve [--config FILE] [--listen ADDR:PORT] [--db PATH] [--kb DIR]\n"
    "                  [--intents DIR] [--web DIR] [--set KEY=VALUE]...\n"
    "Serves the chat: WebSocket /ws (subprotocol kefu.visitor.v1), web/ at /, /healthz and\n"
    "/metrics. Prints \"kefu listening on http://ADDR:PORT\" once it accepts connections\n"
    "(--listen 127.0.0.1:0 picks a free port). SIGHUP or a change in kb/ or intents/ reloads\n"
    "the knowledge; SIGTERM or SIGINT stops cleanly. `kefu config --example` shows every key.\n";

static const char config_usage[] =
    "usage: kefu config --example          print the documented example configuration\n"
    "       kefu config --check FILE       validate a configuration file (file:line errors)\n";

/* Flags that are shorthands for configuration keys. */
static const char *const flag_keys[][2] = {
    {"--listen", "listen"},       {"--db", "db"},       {"--kb", "kb_dir"},
    {"--intents", "intents_dir"}, {"--web", "web_dir"},
};

/* Reads --config (if any), then applies every other flag. Returns 0, or 2 after printing. */
static int parse(int argc, char **argv, kf_config *c, const char *usage)
{
    kf_diag d;
    char err[512];
    int rc = 0;

    kf_diag_init(&d);
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "kefu: --config needs a file\n%s", usage);
                return 2;
            }
            if (kf_config_load(c, argv[++i], &d)) {
                kf_diag_print(&d, stderr);
                kf_diag_cleanup(&d);
                return 2;
            }
        }
    kf_diag_cleanup(&d);
    for (int i = 0; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        const char *key = NULL, *val = NULL;
        char kv[1024];
        if (!strcmp(a, "--config")) {
            i++;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage, stdout);
            return 2;
        }
        for (size_t k = 0; k < sizeof(flag_keys) / sizeof(flag_keys[0]); k++)
            if (!strcmp(a, flag_keys[k][0]))
                key = flag_keys[k][1];
        if (key || !strcmp(a, "--set")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "kefu: %s needs a value\n%s", a, usage);
                return 2;
            }
            val = argv[++i];
        } else {
            fprintf(stderr, "kefu: unknown option '%s'\n%s", a, usage);
            return 2;
        }
        if (!key) { /* --set key=value */
            const char *eq = strchr(val, '=');
            if (!eq || eq == val || (size_t)(eq - val) >= sizeof(kv)) {
                fprintf(stderr, "kefu: --set expects KEY=VALUE, got '%s'\n", val);
                return 2;
            }
            snprintf(kv, sizeof(kv), "%.*s", (int)(eq - val), val);
            key = kv;
            val = eq + 1;
        }
        if (kf_config_set(c, key, val, err, sizeof(err))) {
            fprintf(stderr, "kefu: %s %s: %s\n", a, val, err);
            rc = 2;
        }
    }
    return rc;
}

/* A test hook, not a setting (tests/integration/faults.test.mjs): with KEFU_TEST_FAIL_ALLOC=N
 * in the environment, each SIGUSR2 turns failing on or off, and while it is on every N-th of
 * kefu's own allocations fails (kf_malloc and friends, jansson's included; the other
 * libraries' are untouched), as when memory runs out. */
static atomic_int fail_on;
static atomic_ulong fail_count;
static unsigned long fail_every;

static int fail_alloc(size_t n)
{
    (void)n;
    return atomic_load(&fail_on) && atomic_fetch_add(&fail_count, 1) % fail_every == 0;
}

static void fail_toggle(int sig) /* in signal context: one atomic operation */
{
    (void)sig;
    atomic_fetch_xor(&fail_on, 1);
}

static void fail_hook_from_env(void)
{
    const char *v = getenv("KEFU_TEST_FAIL_ALLOC");
    char *end = NULL;
    unsigned long every = v ? strtoul(v, &end, 10) : 0;
    if (!v || every < 1 || *end)
        return;
    struct sigaction sa = {.sa_handler = fail_toggle, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR2, &sa, NULL) != 0)
        return;
    fail_every = every;
    kf_mem_set_fail_hook(fail_alloc);
    kf_log(KF_LOG_WARN,
           "test hook KEFU_TEST_FAIL_ALLOC=%lu: SIGUSR2 turns allocation failures "
           "on and off",
           every);
}

int kf_cli_serve(int argc, char **argv)
{
    fail_hook_from_env();
    kf_config c;
    if (kf_config_init(&c)) {
        fprintf(stderr, "kefu: out of memory\n");
        return 1;
    }
    int rc = parse(argc, argv, &c, serve_usage);
    if (rc == 0)
        rc = kf_server_run(&c);
    kf_config_cleanup(&c);
    return rc;
}

int kf_cli_config(int argc, char **argv)
{
    if (argc == 1 && !strcmp(argv[0], "--example")) {
        kf_config_write_example(stdout);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[0], "--check")) {
        kf_config c;
        kf_diag d;
        if (kf_config_init(&c))
            return 1;
        kf_diag_init(&d);
        int rc = kf_config_load(&c, argv[1], &d) || kf_config_check(&c, &d) ? 1 : 0;
        kf_diag_print(&d, stderr);
        if (rc == 0)
            printf("%s: ok\n", argv[1]);
        kf_diag_cleanup(&d);
        kf_config_cleanup(&c);
        return rc;
    }
    fputs(config_usage, argc == 1 && !strcmp(argv[0], "--help") ? stdout : stderr);
    return 2;
}
