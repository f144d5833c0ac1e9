/* SPDX-License-Identifier: MIT
 * The server's configuration: one table of every key (name, type, default, bounds, help) that
 * parses `kefu.conf` (`key = value` lines, `#` comments), applies `--set key=value`
 * overrides and prints the documented example file. Unknown keys and bad values are errors
 * reported as `file:line: message`. Knows nothing of sockets; the server reads the fields. */
#ifndef KEFU_CONFIG_H
#define KEFU_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "kefu/err.h"

/* One answer variable: `var.NAME = value` fills {{NAME}} in answers. */
typedef struct kf_config_var {
    char *name;  /* owned */
    char *value; /* owned */
} kf_config_var;

/* Every field is public and read-only for the server; strings are owned by the config and
 * valid until the next kf_config_set() of the same key or kf_config_cleanup(). */
typedef struct kf_config {
    char *listen;      /* "ADDR:PORT" as given */
    char *listen_addr; /* parsed from listen */
    int listen_port;   /* parsed from listen; 0 = any free port */
    char *db;
    char *db_synchronous;  /* "normal" or "full" */
    long db_writer_min;    /* group commits this large go to the store's writer thread */
    long db_busy_ms;       /* a write waits this long for another program's write lock */
    long match_worker_min; /* turns with this many questions are matched on a thread; 0: never */
    char *event_loop;      /* "ev" or "poll" */
    int rules_jit;         /* 1: the rules' patterns are JIT-compiled; 0: PCRE2's interpreter */
    char *kb_dir;
    char *intents_dir;
    char *web_dir;
    char *tls_cert; /* "" = no TLS */
    char *tls_key;
    char *shop_name; /* {{shop}} */
    kf_config_var *vars;
    size_t n_vars;
    double answer_min, margin_min, clarify_min;
    long learned;
    char *cache_dir;         /* trained models kept by content hash; "" = none */
    long max_frame;          /* bytes of one inbound frame */
    long rate_per_conn;      /* messages per second, per connection */
    long burst_per_conn;     /* bucket size per connection */
    long rate_per_addr;      /* messages per second, per client address */
    long burst_per_addr;     /* bucket size per address */
    long max_conns_per_addr; /* concurrent connections per address */
    long max_queue;          /* outgoing frames queued per connection */
    long max_conns;          /* visitor connections in all */
    long reload_debounce_ms; /* quiet time after a file change before reloading */
    char *allowed_origins;   /* space/comma separated; "" = any */
    char *trusted_proxies;   /* space/comma separated addresses; "" = none */
    char *log_level;         /* error, warn, info, debug */
    int log_text;            /* 1: message text may appear in logs at info level */
    /* handoff */
    long fallbacks_to_handoff; /* bot misses in a row before a handoff */
    char *assign;              /* "auto" or "manual" */
    double first_response_s;   /* queued longer: flagged to agents */
    double presence_grace_s;   /* offline this long after the last agent socket closed */
    double agent_token_ttl_s;
    long login_max_failures;
    long login_window_s;
    char *timezone; /* "" = the machine's */
    char *hours[7]; /* by tm_wday (0 = Sunday): "HH:MM-HH:MM" or "closed" */
    char *survey_question;
    char *survey_question_en;
    int survey_nps, survey_ces;
} kf_config;

/* ---- lifecycle ---------------------------------------------------------------- */

/* Fills c with every default (thresholds from kf_engine_config_defaults). Returns KF_OK or
 * KF_ENOMEM (then c is clean and may be passed to kf_config_cleanup). */
int kf_config_init(kf_config *c);
void kf_config_cleanup(kf_config *c);

/* ---- setting values ----------------------------------------------------------- */

/* Sets one key from its text form, checking type and bounds. On error returns KF_EINVAL
 * (unknown key, bad value) or KF_ENOMEM and writes a message (without file:line) to err. */
int kf_config_set(kf_config *c, const char *key, const char *value, char *err, size_t errlen);
/* Parses a `key = value` text; every error goes to d as file:line and parsing continues.
 * Returns KF_OK, KF_EPARSE or KF_ENOMEM. */
int kf_config_parse(kf_config *c, const char *file, const char *text, size_t len, kf_diag *d);
/* Reads and parses a file (missing file: an error in d, KF_ENOTFOUND). */
int kf_config_load(kf_config *c, const char *path, kf_diag *d);
/* Cross-key checks (a TLS cert without a key, ...). Returns KF_OK or KF_EINVAL with d. */
int kf_config_check(const kf_config *c, kf_diag *d);

/* ---- reading ------------------------------------------------------------------ */

/* The value of answer variable name ("shop" is shop_name), or NULL. Borrowed. */
const char *kf_config_var_get(const kf_config *c, const char *name);
/* Replaces every {{name}} with its variable; unknown names are left as written.
 * Returns a kf_malloc'd string or NULL (ENOMEM). */
char *kf_config_render(const kf_config *c, const char *text);
/* log_level as a KF_LOG_* value. */
int kf_config_log_level(const kf_config *c);
/* 1 if s (of length n) occurs in the space/comma separated list, else 0. */
int kf_config_list_has(const char *list, const char *s, size_t n);

/* ---- documentation ------------------------------------------------------------ */

/* Writes the documented example configuration (every key, its default and its help). */
void kf_config_write_example(FILE *out);

#endif
