/* SPDX-License-Identifier: MIT
 * `kefu agent`: agent accounts in the database (add, list, passwd, disable, enable, demo).
 * Passwords come from the terminal (echo off, asked twice), from one line of standard input
 * when it is not a terminal, or are generated (--random) and printed once; they are never
 * logged or stored in clear (auth.c hashes them with yescrypt). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "kefu/auth.h"
#include "kefu/cli.h"
#include "kefu/store.h"

static const char agent_usage[] =
    "usage: kefu agent add NAME [--display TEXT] [--max-chats N] [--random] [--db PATH]\n"
    "       kefu agent list [--db PATH]\n"
    "       kefu agent passwd NAME [--random] [--db PATH]\n"
    "       kefu agent disable NAME [--db PATH]\n"
    "       kefu agent enable NAME [--db PATH]\n"
    "       kefu agent demo [--db PATH]   (adds agent 'demo' with a random password if there\n"
    "                                      is no agent at all; prints the password once)\n"
    "The password is asked on the terminal, or read as one line from standard input; --random\n"
    "generates one and prints it once. --db defaults to kefu.db. Names: 1-64 of a-z 0-9 . _ -\n";

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

static int read_line(FILE *in, char *buf, size_t n)
{
    if (!fgets(buf, (int)n, in))
        return KF_EIO;
    size_t l = strlen(buf);
    if (l && buf[l - 1] == '\n')
        buf[--l] = '\0';
    else if (l == n - 1)
        return KF_ELIMIT; /* longer than the buffer */
    if (l && buf[l - 1] == '\r')
        buf[--l] = '\0';
    return KF_OK;
}

static int prompt(const char *what, char *buf, size_t n)
{
    struct termios old, noecho;
    fprintf(stderr, "%s: ", what);
    fflush(stderr);
    int tty = tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        noecho = old;
        noecho.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &noecho);
    }
    int rc = read_line(stdin, buf, n);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    return rc;
}

/* The new password into pw: generated, asked twice on a terminal, or one line of stdin. */
static int get_password(int random, char *pw, size_t n)
{
    char again[KF_AUTH_MAX_PASSWORD + 2];
    if (random) {
        if (kf_auth_random_password(pw, 16))
            return 1;
        return 0;
    }
    if (isatty(STDIN_FILENO)) {
        if (prompt("password", pw, n) || prompt("again", again, sizeof(again))) {
            fprintf(stderr, "kefu: no password read\n");
            return 1;
        }
        if (strcmp(pw, again)) {
            explicit_bzero(again, sizeof(again));
            fprintf(stderr, "kefu: the passwords differ\n");
            return 1;
        }
        explicit_bzero(again, sizeof(again));
    } else if (read_line(stdin, pw, n)) {
        fprintf(stderr, "kefu: could not read a password line (at most %d bytes) from stdin\n",
                KF_AUTH_MAX_PASSWORD);
        return 1;
    }
    if (strlen(pw) < 8) {
        fprintf(stderr, "kefu: the password must have at least 8 characters\n");
        return 1;
    }
    return 0;
}

static int print_agent(void *ud, const kf_agent_rec *a)
{
    (void)ud;
    printf("%-20s %-24s max_chats=%-3d %s\n", a->name, a->display, a->max_chats,
           a->disabled ? "disabled" : "enabled");
    return 0;
}

static int count_agent(void *ud, const kf_agent_rec *a)
{
    (void)a;
    (*(int *)ud)++;
    return 0;
}

int kf_cli_agent(int argc, char **argv)
{
    const char *db = "kefu.db", *display = NULL, *name = NULL, *cmd = NULL;
    long max_chats = 5;
    int random = 0, rc = 1;
    char err[512], pw[KF_AUTH_MAX_PASSWORD + 2];
    kf_store *s = NULL;
    kf_agent_rec a;

    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(agent_usage, stdout);
            return 0;
        } else if (!strcmp(o, "--random")) {
            random = 1;
        } else if ((!strcmp(o, "--db") || !strcmp(o, "--display") || !strcmp(o, "--max-chats")) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            if (!strcmp(o, "--db"))
                db = v;
            else if (!strcmp(o, "--display"))
                display = v;
            else {
                char *end;
                max_chats = strtol(v, &end, 10);
                if (*end || max_chats < 1 || max_chats > 100) {
                    fprintf(stderr, "kefu: --max-chats expects 1..100\n");
                    return 2;
                }
            }
        } else if (o[0] == '-') {
            fprintf(stderr, "kefu: unknown option '%s'\n%s", o, agent_usage);
            return 2;
        } else if (!cmd) {
            cmd = o;
        } else if (!name) {
            name = o;
        } else {
            fprintf(stderr, "%s", agent_usage);
            return 2;
        }
    }
    int needs_name = cmd && (!strcmp(cmd, "add") || !strcmp(cmd, "passwd") ||
                             !strcmp(cmd, "disable") || !strcmp(cmd, "enable"));
    if (!cmd || (needs_name && !name) || (!needs_name && name) ||
        (!needs_name && strcmp(cmd, "list") && strcmp(cmd, "demo"))) {
        fputs(agent_usage, stderr);
        return 2;
    }
    if (name && !valid_name(name)) {
        fprintf(stderr, "kefu: bad agent name '%s' (1-64 of a-z 0-9 . _ -)\n", name);
        return 2;
    }
    if (display && (strlen(display) == 0 || strlen(display) >= sizeof(a.display))) {
        fprintf(stderr, "kefu: --display must have 1..%zu bytes\n", sizeof(a.display) - 1);
        return 2;
    }
    s = kf_store_open_sqlite(db, NULL, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "kefu: database: %s\n", err);
        return 1;
    }
    memset(&a, 0, sizeof(a));
    if (!strcmp(cmd, "list")) {
        int n = kf_store_agent_list(s, print_agent, NULL);
        if (n == 0)
            printf("no agents (kefu agent add NAME)\n");
        rc = n < 0;
        goto out;
    }
    if (!strcmp(cmd, "demo")) {
        int n = 0;
        if (kf_store_agent_list(s, count_agent, &n) < 0)
            goto out;
        rc = 0;
        if (n > 0)
            goto out;
        name = "demo";
        display = "Demo";
        random = 1;
        cmd = "add";
    }
    if (!strcmp(cmd, "add")) {
        if (kf_store_agent_get(s, name, 0, &a) == KF_OK) {
            fprintf(stderr, "kefu: agent '%s' exists (kefu agent passwd %s)\n", name, name);
            goto out;
        }
        memset(&a, 0, sizeof(a));
        if (get_password(random, pw, sizeof(pw)))
            goto out;
        snprintf(a.name, sizeof(a.name), "%s", name);
        snprintf(a.display, sizeof(a.display), "%s", display ? display : name);
        a.max_chats = (int)max_chats;
        if (kf_auth_hash(pw, a.pw_hash) || kf_store_agent_add(s, &a, kf_store_now_ms())) {
            fprintf(stderr, "kefu: could not add agent '%s'\n", name);
            goto out;
        }
        printf("agent %s added (max_chats %d)\n", a.name, a.max_chats);
        if (random)
            printf("password for %s: %s   (shown once; change it with kefu agent passwd %s)\n",
                   a.name, pw, a.name);
        rc = 0;
        goto out;
    }
    if (kf_store_agent_get(s, name, 0, &a)) {
        fprintf(stderr, "kefu: no agent '%s'\n", name);
        goto out;
    }
    if (!strcmp(cmd, "passwd")) {
        if (get_password(random, pw, sizeof(pw)) || kf_auth_hash(pw, a.pw_hash))
            goto out;
        if (display)
            snprintf(a.display, sizeof(a.display), "%s", display);
        if (kf_store_agent_save(s, &a))
            goto out;
        printf("password of %s changed\n", a.name);
        if (random)
            printf("password for %s: %s   (shown once)\n", a.name, pw);
    } else {
        a.disabled = !strcmp(cmd, "disable");
        if (kf_store_agent_save(s, &a))
            goto out;
        printf("agent %s %s\n", a.name, a.disabled ? "disabled" : "enabled");
    }
    rc = 0;
out:
    explicit_bzero(pw, sizeof(pw));
    kf_store_close(s);
    return rc;
}
