/* SPDX-License-Identifier: MIT
 * Shared by the unit tests of parsers: files in tests/fixtures/bad/ state the exact
 * diagnostics they must produce in lines "EXPECT: LINE: message" (after the file's comment
 * marker), "{file}" standing for the file's own path. Include after <cmocka.h>. */
#ifndef KEFU_TEST_EXPECT_H
#define KEFU_TEST_EXPECT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/buf.h"
#include "kefu/err.h"
#include "kefu/mem.h"
#include "kefu/util.h"

#define FIXTURES "tests/fixtures"

/* The file's text (kf_free it). */
static inline char *expect_read(const char *path, size_t *len)
{
    char *text = NULL;
    int rc = kf_read_file(path, 1 << 20, &text, len);
    if (rc)
        fprintf(stderr, "cannot read %s (run the tests from the repository root)\n", path);
    assert_int_equal(rc, KF_OK);
    return text;
}

/* "file:line: message" lines of d, one per line. */
static inline char *expect_render(const kf_diag *d)
{
    kf_buf b;
    kf_buf_init(&b);
    for (size_t i = 0; i < d->n; i++)
        kf_buf_printf(&b, "%s:%d: %s\n", d->items[i].file ? d->items[i].file : "", d->items[i].line,
                      d->items[i].msg);
    return kf_buf_take(&b);
}

/* The expectations written in the file, rendered the same way. */
static inline char *expect_wanted(const char *path, const char *text)
{
    kf_buf b;
    kf_buf_init(&b);
    size_t len = strlen(text);
    for (size_t at = 0; at + 8 <= len; at++) {
        if (memcmp(text + at, "EXPECT: ", 8) != 0)
            continue;
        const char *s = text + at + 8;
        size_t n = 0;
        while (s[n] && s[n] != '\n')
            n++;
        if (n && s[n - 1] == '\r')
            n--;
        kf_buf_printf(&b, "%s:", path);
        for (size_t i = 0; i < n; i++) {
            if (n - i >= 6 && memcmp(s + i, "{file}", 6) == 0) {
                kf_buf_puts(&b, path);
                i += 5;
            } else {
                kf_buf_putc(&b, s[i]);
            }
        }
        kf_buf_putc(&b, '\n');
    }
    return kf_buf_take(&b);
}

typedef void (*expect_parse_fn)(const char *path, const char *text, size_t len, kf_diag *d);

/* Runs parse over every fixtures/bad file ending in suffix and compares all diagnostics;
 * returns the number of files checked. */
static inline size_t expect_check_dir(const char *suffix, expect_parse_fn parse)
{
    const char *const suffixes[] = {suffix, NULL};
    char **files = NULL;
    size_t n = 0;
    assert_int_equal(kf_list_dir(FIXTURES "/bad", suffixes, &files, &n), KF_OK);
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        char *text = expect_read(files[i], &len);
        char *want = expect_wanted(files[i], text);
        kf_diag d;
        kf_diag_init(&d);
        parse(files[i], text, len, &d);
        char *got = expect_render(&d);
        if (!*want)
            fprintf(stderr, "%s: no EXPECT line\n", files[i]);
        assert_true(*want);
        assert_string_equal(got, want);
        kf_free(got);
        kf_free(want);
        kf_free(text);
        kf_diag_cleanup(&d);
    }
    kf_strv_free(files, n);
    return n;
}

/* Fails the Nth allocation from now (and only that one). */
static long expect_fail_at;
static inline int expect_fail_hook(size_t n)
{
    (void)n;
    return expect_fail_at-- == 0;
}

#endif
