/* SPDX-License-Identifier: MIT
 * Small helpers: reading whole files, listing a directory, UTF-8 validation, clocks, a hash. */
#ifndef KEFU_UTIL_H
#define KEFU_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct kf_diag;

/* Reads a whole file into a NUL-terminated buffer (caller frees with kf_free).
 * max: refuse larger files with KF_ELIMIT. */
int kf_read_file(const char *path, size_t max, char **out, size_t *len);
/* Lists regular files in dir whose names end with one of the suffixes (NULL-terminated
 * array), sorted by name, as full paths. *out is a kf_malloc'd array of kf_malloc'd
 * strings; free with kf_strv_free. Missing directory: KF_ENOTFOUND. */
int kf_list_dir(const char *dir, const char *const *suffixes, char ***out, size_t *n);
void kf_strv_free(char **v, size_t n);
/* Called with one file's whole text; returns KF_OK or an error (already reported in d). */
typedef int (*kf_parse_fn)(void *ud, const char *file, const char *text, size_t len,
                           struct kf_diag *d);
/* Reads every file of dir whose name ends with one of suffixes, in name order, and hands its
 * text to fn. A file that cannot be read (or is larger than max bytes) is reported in d as
 * `file: cannot read: …` and skipped; a missing directory is KF_ENOTFOUND, reported only
 * when !missing_ok. Returns KF_OK, KF_EPARSE (something was reported), KF_ENOTFOUND,
 * KF_ENOMEM (reported; stops at once) or another listing error (reported). */
int kf_parse_dir(const char *dir, const char *const *suffixes, size_t max, int missing_ok,
                 kf_parse_fn fn, void *ud, struct kf_diag *d);
/* Returns 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates), else 0;
 * *bad (if not NULL) gets the offset of the first invalid byte. */
int kf_utf8_valid(const char *s, size_t len, size_t *bad);
/* Monotonic clock in nanoseconds. */
uint64_t kf_now_ns(void);
/* FNV-1a (64 bits) of n bytes, for in-memory hash tables: quick, and easy to collide on
 * purpose, so never the only check of an input's identity. */
uint64_t kf_hash64(const void *p, size_t n);
/* Iterates over the lines of text: start with *off = kf_skip_bom(text, len). Returns 1 with
 * the next line in *line / *n (without its '\n', nor a '\r' before it), or 0 at the end. */
int kf_next_line(const char *text, size_t len, size_t *off, const char **line, size_t *n);
/* 1 for a space or a tab, the blanks of the knowledge files' syntax. */
int kf_is_blank(char c);
/* Narrows s[0..*n) to exclude leading and trailing spaces and tabs. */
void kf_trim(const char **s, size_t *n);
/* Strips a UTF-8 BOM: returns the offset of the text after it (0 or 3). */
size_t kf_skip_bom(const char *s, size_t len);

#endif
