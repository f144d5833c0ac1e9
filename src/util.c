/* SPDX-License-Identifier: MIT
 * File reading, directory listing, UTF-8 validation and the monotonic clock. */
#include "kefu/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "kefu/err.h"
#include "kefu/mem.h"

int kf_read_file(const char *path, size_t max, char **out, size_t *len)
{
    FILE *f = NULL;
    char *data = NULL;
    size_t n = 0, cap = 0;
    int rc = KF_EIO;

    *out = NULL;
    *len = 0;
    f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? KF_ENOTFOUND : KF_EIO;
    for (;;) {
        if (kf_grow(&data, &cap, n + 65536 + 1, 1)) {
            rc = KF_ENOMEM;
            goto fail;
        }
        size_t r = fread(data + n, 1, cap - n - 1, f);
        n += r;
        if (n > max) {
            rc = KF_ELIMIT;
            goto fail;
        }
        if (r == 0) {
            if (ferror(f))
                goto fail;
            break;
        }
    }
    if (!data && kf_grow(&data, &cap, 1, 1)) {
        rc = KF_ENOMEM;
        goto fail;
    }
    data[n] = '\0';
    fclose(f);
    *out = data;
    *len = n;
    return KF_OK;
fail:
    kf_free(data);
    fclose(f);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void kf_strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        kf_free(v[i]);
    kf_free(v);
}

int kf_list_dir(const char *dir, const char *const *suffixes, char ***out, size_t *nout)
{
    DIR *d = NULL;
    char **v = NULL;
    size_t n = 0, cap = 0;
    int rc = KF_OK;

    *out = NULL;
    *nout = 0;
    d = opendir(dir);
    if (!d)
        return errno == ENOENT || errno == ENOTDIR ? KF_ENOTFOUND : KF_EIO;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        size_t nl = strlen(e->d_name);
        int ok = 0;
        for (size_t i = 0; suffixes && suffixes[i]; i++) {
            size_t sl = strlen(suffixes[i]);
            if (nl > sl && strcmp(e->d_name + nl - sl, suffixes[i]) == 0)
                ok = 1;
        }
        if (!ok)
            continue;
        size_t dl = strlen(dir);
        char *p = kf_malloc(dl + nl + 2);
        if (!p || kf_grow(&v, &cap, n + 1, sizeof(*v))) {
            kf_free(p);
            rc = KF_ENOMEM;
            goto fail;
        }
        memcpy(p, dir, dl);
        size_t k = dl;
        if (k == 0 || p[k - 1] != '/')
            p[k++] = '/';
        memcpy(p + k, e->d_name, nl + 1);
        struct stat st;
        if (stat(p, &st) != 0 || !S_ISREG(st.st_mode)) {
            kf_free(p);
            continue;
        }
        v[n++] = p;
    }
    closedir(d);
    if (n)
        qsort(v, n, sizeof(*v), cmp_str);
    *out = v;
    *nout = n;
    return KF_OK;
fail:
    closedir(d);
    kf_strv_free(v, n);
    return rc;
}

int kf_parse_dir(const char *dir, const char *const *suffixes, size_t max, int missing_ok,
                 kf_parse_fn fn, void *ud, kf_diag *d)
{
    char **files = NULL;
    size_t n = 0;
    int rc = kf_list_dir(dir, suffixes, &files, &n), result = KF_OK;
    if (rc == KF_ENOTFOUND && missing_ok)
        return KF_ENOTFOUND;
    if (rc) {
        kf_diag_add(d, dir, 0, "cannot list directory: %s", kf_strerror(rc));
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        char *text = NULL;
        size_t len = 0;
        rc = kf_read_file(files[i], max, &text, &len);
        if (rc) {
            kf_diag_add(d, files[i], 0, "cannot read: %s", kf_strerror(rc));
            result = KF_EPARSE;
            continue;
        }
        rc = fn(ud, files[i], text, len, d);
        kf_free(text);
        if (rc == KF_ENOMEM) {
            kf_diag_add(d, files[i], 0, "%s", kf_strerror(rc));
            result = rc;
            break;
        }
        if (rc)
            result = KF_EPARSE;
    }
    kf_strv_free(files, n);
    return result;
}

int kf_utf8_valid(const char *str, size_t len, size_t *bad)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        size_t need;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            min = 0x10000;
        } else {
            goto invalid;
        }
        if (len - i <= need)
            goto invalid;
        unsigned cp = c & (0x3F >> need);
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                goto invalid;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            goto invalid;
        i += need + 1;
    }
    return 1;
invalid:
    if (bad)
        *bad = i;
    return 0;
}

uint64_t kf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t kf_hash64(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 14695981039346656037u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211u;
    return h;
}

int kf_next_line(const char *text, size_t len, size_t *off, const char **line, size_t *n)
{
    if (*off >= len)
        return 0;
    const char *ln = text + *off;
    const char *nl = memchr(ln, '\n', len - *off);
    size_t k = nl ? (size_t)(nl - ln) : len - *off;
    *off += k + (nl ? 1 : 0);
    if (k && ln[k - 1] == '\r')
        k--;
    *line = ln;
    *n = k;
    return 1;
}

int kf_is_blank(char c)
{
    return c == ' ' || c == '\t';
}

void kf_trim(const char **s, size_t *n)
{
    while (*n && kf_is_blank(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && kf_is_blank((*s)[*n - 1]))
        (*n)--;
}

size_t kf_skip_bom(const char *s, size_t len)
{
    if (len >= 3 && (unsigned char)s[0] == 0xEF && (unsigned char)s[1] == 0xBB &&
        (unsigned char)s[2] == 0xBF)
        return 3;
    return 0;
}
