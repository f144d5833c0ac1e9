/* SPDX-License-Identifier: MIT
 * The configuration table (in the spirit of redis's static_configs[]): one row per key drives
 * the defaults, the parser, --set overrides and the example file. The `var.NAME` family is
 * the one key that is not in the table: answer variables are open-ended. */
#include "kefu/config.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/engine.h"
#include "kefu/handoff.h"
#include "kefu/log.h"
#include "kefu/mem.h"
#include "kefu/util.h"

typedef enum { T_STR, T_INT, T_DOUBLE, T_BOOL, T_ENUM, T_LISTEN } cfg_type;

typedef struct cfg_key {
    const char *name;
    cfg_type type;
    size_t off;
    const char *def;   /* text form; NULL: filled by init (engine thresholds) */
    double min, max;   /* T_INT, T_DOUBLE */
    const char *enums; /* T_ENUM: space separated */
    int reloadable;    /* 1: SIGHUP may change it (documented; the server applies none yet) */
    const char *help;
} cfg_key;

#define F(field) offsetof(kf_config, field)

static const cfg_key keys[] = {
    {"listen", T_LISTEN, F(listen), "127.0.0.1:8080", 0, 0, NULL, 0,
     "address and port to listen on (ADDR:PORT; port 0 = any free port)"},
    {"db", T_STR, F(db), "kefu.db", 0, 0, NULL, 0, "SQLite database file (created if missing)"},
    {"db_synchronous", T_ENUM, F(db_synchronous), "normal", 0, 0, "normal full", 0,
     "normal: an acknowledged message survives a crash of kefu; full: also a power loss"},
    {"db_busy_ms", T_INT, F(db_busy_ms), "5000", 1, 600000, NULL, 0,
     "milliseconds a write waits for another program holding the database's write lock "
     "(kefu purge --vacuum, a sqlite3 shell) before it fails; the event loop waits meanwhile"},
    {"db_writer_min", T_INT, F(db_writer_min), "64", 1, 1000000, NULL, 0,
     "answers a group commit needs to be written by the store's writer thread while the loop "
     "goes on (smaller ones are written on the loop, which is quicker when the load is light)"},
    {"match_worker_min", T_INT, F(match_worker_min), "32", 0, 1000000, NULL, 0,
     "questions a service turn needs to be matched on the matching thread while the loop goes "
     "on (fewer are matched on the loop, which is quicker when the load is light); 0: no thread"},
    {"event_loop", T_ENUM, F(event_loop), "ev", 0, 0, "ev poll", 0,
     "ev: libev's loop (epoll: a wake-up costs the same with 10 or 10,000 idle connections); "
     "poll: lws's own poll() loop, which scans every connection on each wake-up"},
    {"kb_dir", T_STR, F(kb_dir), "kb", 0, 0, NULL, 0, "FAQ entries (watched, hot reloaded)"},
    {"intents_dir", T_STR, F(intents_dir), "intents", 0, 0, NULL, 0,
     "rules (watched, hot reloaded)"},
    {"rules_jit", T_BOOL, F(rules_jit), "yes", 0, 0, NULL, 0,
     "no: run the rules' patterns in PCRE2's interpreter instead of JIT-compiled code (for "
     "valgrind, which cannot follow JIT code; slower)"},
    {"web_dir", T_STR, F(web_dir), "web", 0, 0, NULL, 0, "static files served at /"},
    {"tls_cert", T_STR, F(tls_cert), "", 0, 0, NULL, 0,
     "PEM certificate; with tls_key, serve https/wss (empty: plain http)"},
    {"tls_key", T_STR, F(tls_key), "", 0, 0, NULL, 0, "PEM private key for tls_cert"},
    {"shop_name", T_STR, F(shop_name), "our shop", 0, 0, NULL, 1,
     "the shop's name, {{shop}} in answers"},
    {"answer_min", T_DOUBLE, F(answer_min), NULL, 0, 1, NULL, 1,
     "answer when the best entry scores at least this (0..1) ..."},
    {"margin_min", T_DOUBLE, F(margin_min), NULL, 0, 1, NULL, 1,
     "... and leads the second by at least this; otherwise"},
    {"clarify_min", T_DOUBLE, F(clarify_min), NULL, 0, 1, NULL, 1,
     "offer the best entries as choices when the best scores at least this, else fallback"},
    {"learned", T_INT, F(learned), NULL, 0, 2, NULL, 0,
     "learned scoring layer: 0 off, 1 built in the background, 2 built before serving"},
    {"cache_dir", T_STR, F(cache_dir), "", 0, 0, NULL, 0,
     "directory where trained models are kept by content hash, for fast restarts (empty: none)"},
    {"max_frame", T_INT, F(max_frame), "4096", 256, 1048576, NULL, 0,
     "largest inbound WebSocket message in bytes (larger: error, close 1009)"},
    {"rate_per_conn", T_INT, F(rate_per_conn), "2", 1, 100000, NULL, 0,
     "messages per second one connection may send (token bucket refill)"},
    {"burst_per_conn", T_INT, F(burst_per_conn), "10", 1, 100000, NULL, 0,
     "messages one connection may send at once (token bucket size)"},
    {"rate_per_addr", T_INT, F(rate_per_addr), "10", 1, 1000000, NULL, 0,
     "messages per second one client address may send, all its connections together"},
    {"burst_per_addr", T_INT, F(burst_per_addr), "40", 1, 1000000, NULL, 0,
     "messages one client address may send at once"},
    {"max_conns_per_addr", T_INT, F(max_conns_per_addr), "20", 1, 100000, NULL, 0,
     "concurrent WebSocket connections from one client address"},
    {"max_conns", T_INT, F(max_conns), "10000", 1, 1000000, NULL, 0,
     "concurrent WebSocket connections in all"},
    {"max_queue", T_INT, F(max_queue), "64", 4, 100000, NULL, 0,
     "frames queued towards one connection; a reader slower than this is disconnected"},
    {"reload_debounce_ms", T_INT, F(reload_debounce_ms), "200", 0, 60000, NULL, 0,
     "quiet time after a change in kb_dir/intents_dir before reloading"},
    {"allowed_origins", T_STR, F(allowed_origins), "", 0, 0, NULL, 0,
     "Origins allowed to open the visitor WebSocket, e.g. https://shop.example (empty: any)"},
    {"trusted_proxies", T_STR, F(trusted_proxies), "", 0, 0, NULL, 0,
     "proxy addresses whose X-Forwarded-For is believed for per-address limits"},
    {"log_level", T_ENUM, F(log_level), "info", 0, 0, "error warn info debug", 1, "log verbosity"},
    {"log_text", T_BOOL, F(log_text), "no", 0, 0, NULL, 1,
     "yes: log visitors' message text at info level (privacy: off by default)"},
    {"fallbacks_to_handoff", T_INT, F(fallbacks_to_handoff), "2", 1, 100, NULL, 0,
     "bot misses in a row (per conversation) after which the visitor goes to a person"},
    {"assign", T_ENUM, F(assign), "auto", 0, 0, "auto manual", 0,
     "auto: queued cases go to the least-loaded online agent; manual: agents claim them"},
    {"first_response_s", T_DOUBLE, F(first_response_s), "120", 0.05, 86400, NULL, 0,
     "a case waiting longer than this for an agent is flagged to every online agent"},
    {"presence_grace_s", T_DOUBLE, F(presence_grace_s), "30", 0, 3600, NULL, 0,
     "an agent is offline this long after their last socket closed (a reload is not leaving)"},
    {"agent_token_ttl_s", T_DOUBLE, F(agent_token_ttl_s), "43200", 1, 31536000, NULL, 0,
     "lifetime of an agent's login token"},
    {"login_max_failures", T_INT, F(login_max_failures), "5", 1, 1000, NULL, 0,
     "failed logins allowed per name and per address within login_window_s"},
    {"login_window_s", T_INT, F(login_window_s), "300", 1, 86400, NULL, 0,
     "the window of login_max_failures (and the lockout after it)"},
    {"timezone", T_STR, F(timezone), "", 0, 0, NULL, 0,
     "time zone of the business hours, e.g. Asia/Shanghai (empty: the machine's)"},
    {"hours.mon", T_STR, F(hours[1]), "00:00-24:00", 0, 0, NULL, 0,
     "business hours on Mondays, HH:MM-HH:MM or closed (outside them: leave a message)"},
    {"hours.tue", T_STR, F(hours[2]), "00:00-24:00", 0, 0, NULL, 0, "... on Tuesdays"},
    {"hours.wed", T_STR, F(hours[3]), "00:00-24:00", 0, 0, NULL, 0, "... on Wednesdays"},
    {"hours.thu", T_STR, F(hours[4]), "00:00-24:00", 0, 0, NULL, 0, "... on Thursdays"},
    {"hours.fri", T_STR, F(hours[5]), "00:00-24:00", 0, 0, NULL, 0, "... on Fridays"},
    {"hours.sat", T_STR, F(hours[6]), "00:00-24:00", 0, 0, NULL, 0, "... on Saturdays"},
    {"hours.sun", T_STR, F(hours[0]), "00:00-24:00", 0, 0, NULL, 0, "... on Sundays"},
    {"survey_question", T_STR, F(survey_question), "您对本次服务满意吗？", 0, 0, NULL, 0,
     "the satisfaction (CSAT 1-5) question sent when an agent closes a conversation"},
    {"survey_question_en", T_STR, F(survey_question_en), "How satisfied are you with our service?",
     0, 0, NULL, 0, "the same question for conversations in English"},
    {"survey_nps", T_BOOL, F(survey_nps), "no", 0, 0, NULL, 0,
     "yes: the survey also asks the 0-10 recommendation (NPS) question"},
    {"survey_ces", T_BOOL, F(survey_ces), "no", 0, 0, NULL, 0,
     "yes: the survey also asks the 1-7 effort (CES) question"},
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const cfg_key *find_key(const char *name)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static int valid_var_name(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static int set_var(kf_config *c, const char *name, const char *value, char *err, size_t errlen)
{
    if (!valid_var_name(name)) {
        snprintf(err, errlen, "bad variable name 'var.%s' (letters, digits, _ and -)", name);
        return KF_EINVAL;
    }
    char *v = kf_strdup(value);
    if (!v)
        goto nomem;
    for (size_t i = 0; i < c->n_vars; i++)
        if (strcmp(c->vars[i].name, name) == 0) {
            kf_free(c->vars[i].value);
            c->vars[i].value = v;
            return KF_OK;
        }
    size_t cap = c->n_vars;
    char *n = kf_strdup(name);
    if (!n || kf_grow(&c->vars, &cap, c->n_vars + 1, sizeof(*c->vars))) {
        kf_free(n);
        kf_free(v);
        goto nomem;
    }
    c->vars[c->n_vars].name = n;
    c->vars[c->n_vars].value = v;
    c->n_vars++;
    return KF_OK;
nomem:
    snprintf(err, errlen, "out of memory");
    return KF_ENOMEM;
}

static int parse_listen(const char *v, char **addr, int *port, char *err, size_t errlen)
{
    const char *colon = strrchr(v, ':');
    if (!colon || colon == v) {
        snprintf(err, errlen, "listen: expected ADDR:PORT, got '%s'", v);
        return KF_EINVAL;
    }
    char *end = NULL;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || end == colon + 1 || *end || p < 0 || p > 65535) {
        snprintf(err, errlen, "listen: bad port in '%s' (0..65535)", v);
        return KF_EINVAL;
    }
    const char *a = v;
    size_t alen = (size_t)(colon - v);
    if (a[0] == '[' && alen >= 2 && a[alen - 1] == ']') { /* [::1]:8080 */
        a++;
        alen -= 2;
    }
    char *s = kf_strndup(a, alen);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return KF_ENOMEM;
    }
    kf_free(*addr);
    *addr = s;
    *port = (int)p;
    return KF_OK;
}

int kf_config_set(kf_config *c, const char *key, const char *value, char *err, size_t errlen)
{
    if (strncmp(key, "var.", 4) == 0)
        return set_var(c, key + 4, value, err, errlen);
    const cfg_key *k = find_key(key);
    if (!k) {
        snprintf(err, errlen, "unknown key '%s'", key);
        return KF_EINVAL;
    }
    char *base = (char *)c + k->off;
    char *end = NULL;
    switch (k->type) {
    case T_LISTEN: {
        int rc = parse_listen(value, &c->listen_addr, &c->listen_port, err, errlen);
        if (rc)
            return rc;
    } /* fall through: keep the text too */
    /* FALLTHROUGH */
    case T_STR:
    case T_ENUM: {
        kf_hours_day day;
        if (!strncmp(k->name, "hours.", 6) && kf_handoff_hours_parse(value, &day)) {
            snprintf(err, errlen, "'%s' is not HH:MM-HH:MM (close after open) or closed", value);
            return KF_EINVAL;
        }
        if (k->type == T_ENUM) {
            size_t vl = strlen(value);
            const char *p = k->enums;
            int ok = 0;
            while (*p) {
                size_t wl = strcspn(p, " ");
                if (wl == vl && vl > 0 && memcmp(p, value, vl) == 0)
                    ok = 1;
                p += wl;
                p += strspn(p, " ");
            }
            if (!ok) {
                snprintf(err, errlen, "%s: '%s' is not one of: %s", key, value, k->enums);
                return KF_EINVAL;
            }
        }
        char *s = kf_strdup(value);
        if (!s) {
            snprintf(err, errlen, "out of memory");
            return KF_ENOMEM;
        }
        kf_free(*(char **)base);
        *(char **)base = s;
        return KF_OK;
    }
    case T_INT: {
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < (long)k->min || v > (long)k->max) {
            snprintf(err, errlen, "%s: expected an integer in %ld..%ld, got '%s'", key,
                     (long)k->min, (long)k->max, value);
            return KF_EINVAL;
        }
        *(long *)base = v;
        return KF_OK;
    }
    case T_DOUBLE: {
        errno = 0;
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v) || v < k->min || v > k->max) {
            snprintf(err, errlen, "%s: expected a number in %g..%g, got '%s'", key, k->min, k->max,
                     value);
            return KF_EINVAL;
        }
        *(double *)base = v;
        return KF_OK;
    }
    case T_BOOL:
        if (!strcmp(value, "yes") || !strcmp(value, "true") || !strcmp(value, "on") ||
            !strcmp(value, "1"))
            *(int *)base = 1;
        else if (!strcmp(value, "no") || !strcmp(value, "false") || !strcmp(value, "off") ||
                 !strcmp(value, "0"))
            *(int *)base = 0;
        else {
            snprintf(err, errlen, "%s: expected yes or no, got '%s'", key, value);
            return KF_EINVAL;
        }
        return KF_OK;
    }
    snprintf(err, errlen, "%s: internal error", key);
    return KF_EINVAL;
}

int kf_config_init(kf_config *c)
{
    char err[256];
    kf_engine_config ec;

    memset(c, 0, sizeof(*c));
    kf_engine_config_defaults(&ec);
    c->answer_min = ec.answer_min;
    c->margin_min = ec.margin_min;
    c->clarify_min = ec.clarify_min;
    c->learned = ec.learned;
    for (size_t i = 0; i < NKEYS; i++) {
        if (!keys[i].def)
            continue;
        if (kf_config_set(c, keys[i].name, keys[i].def, err, sizeof(err))) {
            kf_config_cleanup(c);
            return KF_ENOMEM;
        }
    }
    return KF_OK;
}

void kf_config_cleanup(kf_config *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == T_STR || keys[i].type == T_ENUM || keys[i].type == T_LISTEN)
            kf_free(*(char **)((char *)c + keys[i].off));
    kf_free(c->listen_addr);
    for (size_t i = 0; i < c->n_vars; i++) {
        kf_free(c->vars[i].name);
        kf_free(c->vars[i].value);
    }
    kf_free(c->vars);
    memset(c, 0, sizeof(*c));
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r';
}

int kf_config_parse(kf_config *c, const char *file, const char *text, size_t len, kf_diag *d)
{
    char *line = NULL;
    int rc = KF_OK;
    int lineno = 0;
    size_t pos = kf_skip_bom(text, len);
    size_t bad;

    if (!kf_utf8_valid(text, len, &bad)) {
        kf_diag_add(d, file, 1, "invalid UTF-8 at byte %zu", bad);
        return KF_EPARSE;
    }
    while (pos < len) {
        size_t eol = pos;
        while (eol < len && text[eol] != '\n')
            eol++;
        lineno++;
        size_t a = pos, b = eol;
        pos = eol + 1;
        while (a < b && is_space(text[a]))
            a++;
        while (b > a && is_space(text[b - 1]))
            b--;
        if (a == b || text[a] == '#')
            continue;
        kf_free(line);
        line = kf_strndup(text + a, b - a);
        if (!line) {
            rc = KF_ENOMEM;
            goto out;
        }
        char *eq = strchr(line, '=');
        if (!eq) {
            kf_diag_add(d, file, lineno, "expected 'key = value'");
            rc = KF_EPARSE;
            continue;
        }
        char *k = line, *ke = eq, *v = eq + 1;
        while (ke > k && is_space(ke[-1]))
            ke--;
        *ke = '\0';
        while (is_space(*v))
            v++;
        if (!*k) {
            kf_diag_add(d, file, lineno, "missing key before '='");
            rc = KF_EPARSE;
            continue;
        }
        /* A value may be quoted to keep leading/trailing spaces or a '#'. */
        size_t vl = strlen(v);
        if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
            v[vl - 1] = '\0';
            v++;
        }
        char err[512];
        int r = kf_config_set(c, k, v, err, sizeof(err));
        if (r == KF_ENOMEM) {
            rc = KF_ENOMEM;
            goto out;
        }
        if (r) {
            kf_diag_add(d, file, lineno, "%s", err);
            rc = KF_EPARSE;
        }
    }
out:
    kf_free(line);
    return rc;
}

int kf_config_load(kf_config *c, const char *path, kf_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    int rc = kf_read_file(path, 1 << 20, &text, &len);
    if (rc) {
        kf_diag_add(d, path, 0, "cannot read: %s", kf_strerror(rc));
        return rc;
    }
    rc = kf_config_parse(c, path, text, len, d);
    kf_free(text);
    return rc;
}

int kf_config_check(const kf_config *c, kf_diag *d)
{
    int rc = KF_OK;
    if ((c->tls_cert[0] != '\0') != (c->tls_key[0] != '\0')) {
        kf_diag_add(d, NULL, 0, "tls_cert and tls_key must be set together");
        rc = KF_EINVAL;
    }
    if (c->clarify_min > c->answer_min) {
        kf_diag_add(d, NULL, 0, "clarify_min (%g) must not exceed answer_min (%g)", c->clarify_min,
                    c->answer_min);
        rc = KF_EINVAL;
    }
    return rc;
}

const char *kf_config_var_get(const kf_config *c, const char *name)
{
    for (size_t i = 0; i < c->n_vars; i++)
        if (strcmp(c->vars[i].name, name) == 0)
            return c->vars[i].value;
    if (strcmp(name, "shop") == 0)
        return c->shop_name;
    return NULL;
}

char *kf_config_render(const kf_config *c, const char *s)
{
    kf_buf b;
    char name[64];
    int rc = KF_OK;

    kf_buf_init(&b);
    while (*s && rc == KF_OK) {
        const char *open = strstr(s, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!open || !close) {
            rc = kf_buf_puts(&b, s);
            break;
        }
        rc = kf_buf_append(&b, s, (size_t)(open - s));
        size_t nl = (size_t)(close - open - 2);
        const char *val = NULL;
        if (nl < sizeof(name)) {
            memcpy(name, open + 2, nl);
            name[nl] = '\0';
            val = kf_config_var_get(c, name);
        }
        if (rc == KF_OK)
            rc = val ? kf_buf_puts(&b, val) : kf_buf_append(&b, open, (size_t)(close + 2 - open));
        s = close + 2;
    }
    if (rc) {
        kf_buf_cleanup(&b);
        return NULL;
    }
    return kf_buf_take(&b);
}

int kf_config_log_level(const kf_config *c)
{
    if (!strcmp(c->log_level, "error"))
        return KF_LOG_ERR;
    if (!strcmp(c->log_level, "warn"))
        return KF_LOG_WARN;
    if (!strcmp(c->log_level, "debug"))
        return KF_LOG_DEBUG;
    return KF_LOG_INFO;
}

int kf_config_list_has(const char *list, const char *s, size_t n)
{
    const char *p = list;
    while (*p) {
        p += strspn(p, " ,\t");
        size_t wl = strcspn(p, " ,\t");
        if (wl && wl == n && memcmp(p, s, n) == 0)
            return 1;
        p += wl;
    }
    return 0;
}

void kf_config_write_example(FILE *out)
{
    kf_config c;
    if (kf_config_init(&c))
        return;
    fputs("# kefu.conf: the configuration of `kefu serve`.\n"
          "# One `key = value` per line; `#` starts a comment line; a value may be quoted\n"
          "# (\"...\") to keep spaces at its ends. Unknown keys and bad values are errors.\n"
          "# Every key below is shown with its default. Command-line flags override the file:\n"
          "#   kefu serve --config kefu.conf --listen ADDR:PORT --db PATH --kb DIR\n"
          "#              --intents DIR --web DIR --set key=value\n\n",
          out);
    for (size_t i = 0; i < NKEYS; i++) {
        const cfg_key *k = &keys[i];
        const char *base = (const char *)&c + k->off;
        fprintf(out, "# %s", k->help);
        if (k->type == T_INT || k->type == T_DOUBLE)
            fprintf(out, " [%g..%g]", k->min, k->max);
        if (k->type == T_ENUM)
            fprintf(out, " [%s]", k->enums);
        if (k->reloadable)
            fputs(" (reloadable)", out);
        fputc('\n', out);
        switch (k->type) {
        case T_STR:
        case T_ENUM:
        case T_LISTEN: {
            const char *v = *(char *const *)base;
            if (v[0] == '\0' || v[0] == ' ' || v[strlen(v) - 1] == ' ')
                fprintf(out, "%s = \"%s\"\n\n", k->name, v);
            else
                fprintf(out, "%s = %s\n\n", k->name, v);
            break;
        }
        case T_INT: fprintf(out, "%s = %ld\n\n", k->name, *(const long *)base); break;
        case T_DOUBLE: fprintf(out, "%s = %g\n\n", k->name, *(const double *)base); break;
        case T_BOOL: fprintf(out, "%s = %s\n\n", k->name, *(const int *)base ? "yes" : "no"); break;
        }
    }
    fputs("# Answer variables: var.NAME = value fills {{NAME}} in answers ({{shop}} is\n"
          "# shop_name unless var.shop is set).\n"
          "var.phone = 400-000-0000\n"
          "var.email = service@example.com\n"
          "var.hours = \"Mon-Sun 9:00-21:00\"\n",
          out);
    kf_config_cleanup(&c);
}
