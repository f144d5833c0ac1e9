/* SPDX-License-Identifier: MIT
 * Shared between the kb module's files (kb.c: container, index, validation; kb_md.c: the
 * .qna Markdown parser; kb_import.c: TSV import). Not part of the public contract. */
#ifndef KEFU_KB_INT_H
#define KEFU_KB_INT_H

#include <stddef.h>

#include "kefu/kb.h"

/* Frees everything an entry owns (not the entry itself). Accepts a zeroed entry. */
void kf_kb__entry_cleanup(kf_entry *e);
/* Frees everything a version owns. Accepts a zeroed version. */
void kf_kb__version_cleanup(kf_version *v);
/* Appends *e to kb, taking ownership of its contents (on failure they are freed too). */
int kf_kb__add_entry(kf_kb *kb, kf_entry *e);

#endif
