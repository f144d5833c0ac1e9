/* SPDX-License-Identifier: MIT
 * libFuzzer target for the protocol frame decoders: arbitrary bytes through kf_proto_decode
 * (visitor frames) and kf_obj_parse (agent frames and HTTP bodies). A decoded frame's strings
 * must be valid UTF-8 without NUL, and every refusal must carry a stable error code. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/proto.h"
#include "kefu/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    kf_proto_init();
    return 0;
}

static void check_str(const char *s)
{
    if (s && !kf_utf8_valid(s, strlen(s), NULL))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kf_in_frame f;
    kf_proto_error err;
    int rc = kf_proto_decode((const char *)data, size, &f, &err);
    if (rc == KF_OK) {
        check_str(f.id);
        check_str(f.token);
        check_str(f.lang);
        check_str(f.page);
        check_str(f.entry);
        check_str(f.comment);
        check_str(f.contact);
        if (f.text && !kf_utf8_valid(f.text, f.text_len, NULL))
            abort();
        kf_in_frame_cleanup(&f);
    } else if (rc == KF_EPARSE) {
        if (!err.code || !err.code[0])
            abort();
    } else if (rc != KF_ENOMEM) {
        abort();
    }
    kf_obj *o = NULL;
    for (int need = 0; need < 2; need++) {
        rc = kf_obj_parse((const char *)data, size, need, &o, &err);
        if (rc == KF_OK) {
            const char *s = NULL;
            int64_t n;
            int b;
            check_str(kf_obj_type(o));
            check_str(kf_obj_id(o));
            if (kf_obj_str(o, "text", 4096, 0, &s, &err) == KF_OK)
                check_str(s);
            kf_obj_int(o, "seq", 0, INT64_MAX, 0, &n, &err);
            kf_obj_bool(o, "helpful", 0, &b, &err);
            kf_obj_free(o);
            o = NULL;
        } else if (rc == KF_EPARSE && (!err.code || !err.code[0])) {
            abort();
        }
    }
    return 0;
}
