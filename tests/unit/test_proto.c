/* SPDX-License-Identifier: MIT
 * proto: decoding of every visitor frame and its errors; encoding, restore and echo. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "kefu/mem.h"
#include "kefu/proto.h"

static int setup(void **state)
{
    (void)state;
    kf_proto_init();
    return 0;
}

static const char *decode_err(const char *s, size_t len, kf_proto_error *err)
{
    kf_in_frame f;
    int rc = kf_proto_decode(s, len, &f, err);
    if (rc == KF_OK) {
        kf_in_frame_cleanup(&f);
        return "ok";
    }
    return err->code;
}

#define ERR(s) decode_err(s, strlen(s), &err)

static void decode_errors(void **state)
{
    (void)state;
    kf_proto_error err;
    assert_string_equal(ERR(""), KF_PE_BAD_JSON);
    assert_string_equal(ERR("{"), KF_PE_BAD_JSON);
    assert_string_equal(ERR("[]"), KF_PE_BAD_JSON);
    assert_string_equal(ERR("{\"type\":\"a\",\"type\":\"b\"}"), KF_PE_BAD_JSON);
    assert_string_equal(ERR("{\"type\":\"message\",\"text\":\"a\\u0000b\"}"), KF_PE_BAD_JSON);
    assert_string_equal(decode_err("{\"type\":\"\xff\"}", 12, &err), KF_PE_BAD_UTF8);
    assert_string_equal(decode_err("\xed\xa0\x80", 3, &err), KF_PE_BAD_UTF8); /* surrogate */
    assert_string_equal(ERR("{\"v\":2,\"type\":\"hello\"}"), KF_PE_UNSUPPORTED_VERSION);
    assert_string_equal(ERR("{}"), KF_PE_MISSING_FIELD);
    assert_string_equal(ERR("{\"type\":7}"), KF_PE_BAD_FIELD);
    assert_string_equal(ERR("{\"type\":\"x\",\"id\":\"q\"}"), KF_PE_UNKNOWN_TYPE);
    assert_string_equal(err.id, "q");
    assert_string_equal(ERR("{\"type\":\"message\"}"), KF_PE_MISSING_FIELD);
    assert_string_equal(ERR("{\"type\":\"message\",\"text\":1}"), KF_PE_BAD_FIELD);
    assert_string_equal(ERR("{\"type\":\"choose\"}"), KF_PE_MISSING_FIELD);
    assert_string_equal(ERR("{\"type\":\"feedback\",\"helpful\":true}"), KF_PE_MISSING_FIELD);
    assert_string_equal(ERR("{\"type\":\"feedback\",\"seq\":3}"), KF_PE_MISSING_FIELD);
    assert_string_equal(ERR("{\"type\":\"feedback\",\"seq\":3,\"helpful\":1}"), KF_PE_BAD_FIELD);
    assert_string_equal(ERR("{\"type\":\"hello\",\"lang\":\"fr\"}"), KF_PE_BAD_FIELD);
    assert_string_equal(ERR("{\"type\":\"hello\",\"last_seq\":-1}"), KF_PE_BAD_FIELD);
    assert_string_equal(ERR("{\"type\":\"hello\",\"last_seq\":1.5}"), KF_PE_BAD_FIELD);
    assert_string_equal(ERR("{\"type\":\"hello\",\"fold_acks\":1}"), KF_PE_BAD_FIELD);
    assert_string_equal(ERR("{\"type\":\"typing\",\"active\":\"y\"}"), KF_PE_BAD_FIELD);
    char longid[200];
    snprintf(longid, sizeof(longid), "{\"type\":\"typing\",\"id\":\"%0100d\"}", 0);
    assert_string_equal(ERR(longid), KF_PE_BAD_FIELD);
    assert_string_equal(err.id, ""); /* too long to echo */
}

static void decode_frames(void **state)
{
    (void)state;
    kf_in_frame f;
    kf_proto_error err;
    const char *h = "{\"v\":1,\"type\":\"hello\",\"token\":\"abc\",\"lang\":\"en\",\"page\":\"/p\","
                    "\"last_seq\":7}";
    assert_int_equal(kf_proto_decode(h, strlen(h), &f, &err), KF_OK);
    assert_int_equal(f.type, KF_IN_HELLO);
    assert_string_equal(f.token, "abc");
    assert_string_equal(f.lang, "en");
    assert_string_equal(f.page, "/p");
    assert_int_equal(f.last_seq, 7);
    kf_in_frame_cleanup(&f);
    const char *h2 = "{\"type\":\"hello\",\"lang\":\"auto\"}";
    assert_int_equal(kf_proto_decode(h2, strlen(h2), &f, &err), KF_OK);
    assert_null(f.lang);
    assert_int_equal(f.last_seq, -1);
    assert_int_equal(f.fold_acks, 0);
    kf_in_frame_cleanup(&f);
    const char *h3 = "{\"type\":\"hello\",\"fold_acks\":true}";
    assert_int_equal(kf_proto_decode(h3, strlen(h3), &f, &err), KF_OK);
    assert_int_equal(f.fold_acks, 1);
    kf_in_frame_cleanup(&f);
    const char *h4 = "{\"type\":\"hello\",\"fold_acks\":false}";
    assert_int_equal(kf_proto_decode(h4, strlen(h4), &f, &err), KF_OK);
    assert_int_equal(f.fold_acks, 0);
    kf_in_frame_cleanup(&f);
    const char *m = "{\"type\":\"message\",\"text\":\"退货\",\"id\":\"m1\"}";
    assert_int_equal(kf_proto_decode(m, strlen(m), &f, &err), KF_OK);
    assert_int_equal(f.type, KF_IN_MESSAGE);
    assert_string_equal(f.text, "退货");
    assert_int_equal(f.text_len, strlen("退货"));
    assert_string_equal(f.id, "m1");
    kf_in_frame_cleanup(&f);
    const char *fb = "{\"type\":\"feedback\",\"entry\":\"e\",\"helpful\":false}";
    assert_int_equal(kf_proto_decode(fb, strlen(fb), &f, &err), KF_OK);
    assert_int_equal(f.type, KF_IN_FEEDBACK);
    assert_int_equal(f.helpful, 0);
    assert_string_equal(f.entry, "e");
    kf_in_frame_cleanup(&f);
    const char *t = "{\"type\":\"typing\"}";
    assert_int_equal(kf_proto_decode(t, strlen(t), &f, &err), KF_OK);
    assert_int_equal(f.active, 1);
    kf_in_frame_cleanup(&f);
}

static void encode(void **state)
{
    (void)state;
    size_t len = 0;
    kf_proto_option opts[] = {{"a", "A?"}, {"b", "B?"}};
    kf_out *o = kf_proto_clarify("which?", opts, 2, 0);
    char *buf = kf_out_dump(o, 5, 16, &len);
    assert_string_equal(buf + 16, "{\"v\":1,\"type\":\"clarify\",\"seq\":5,\"text\":\"which?\","
                                  "\"options\":[{\"entry\":\"a\",\"text\":\"A?\"},{\"entry\":\"b\","
                                  "\"text\":\"B?\"}]}");
    assert_int_equal(len, strlen(buf + 16));
    char *stored = kf_out_dump_stored(o);
    assert_null(strstr(stored, "seq"));
    char *again = kf_proto_restore(stored, 5, 4, 0, &len);
    assert_string_equal(again, "{\"v\":1,\"type\":\"clarify\",\"seq\":5,\"text\":\"which?\","
                               "\"options\":[{\"entry\":\"a\",\"text\":\"A?\"},{\"entry\":\"b\","
                               "\"text\":\"B?\"}],\"reply_to\":4,\"replay\":true}");
    assert_null(kf_proto_restore("not json", 1, 0, 0, &len));
    kf_free(again);
    kf_free(stored);
    kf_free(buf);
    kf_out_free(o);
    char *echo = kf_proto_echo(3, "message", "m1", "hi", NULL, 0, &len);
    assert_string_equal(echo,
                        "{\"v\":1,\"type\":\"ack\",\"seq\":3,\"of\":\"message\",\"id\":\"m1\","
                        "\"text\":\"hi\",\"replay\":true}");
    kf_free(echo);
    o = kf_proto_err_frame(KF_PE_RATE_LIMITED, "slow down", "");
    buf = kf_out_dump(o, 0, 0, &len);
    assert_string_equal(buf, "{\"v\":1,\"type\":\"error\",\"seq\":0,\"code\":\"rate_limited\","
                             "\"message\":\"slow down\"}");
    kf_free(buf);
    kf_out_free(o);
    o = kf_proto_handoff("complaint", 1, "sorry", 9);
    buf = kf_out_dump(o, 10, 0, &len);
    assert_string_equal(buf, "{\"v\":1,\"type\":\"handoff\",\"seq\":10,\"reason\":\"complaint\","
                             "\"urgent\":true,\"text\":\"sorry\",\"reply_to\":9}");
    kf_free(buf);
    kf_out_free(o);
}

/* with_seq's bytes (parsed again and rebuilt field by field, through kf_proto_restore),
 * without the "replay" mark: what the spliced encoders must give. */
static char *rebuilt(const char *stored, int64_t seq, int64_t reply_to)
{
    size_t len = 0;
    char *r = kf_proto_restore(stored, seq, reply_to, 0, &len);
    assert_non_null(r);
    const char *mark = ",\"replay\":true}";
    assert_true(len > strlen(mark));
    assert_string_equal(r + len - strlen(mark), mark);
    strcpy(r + len - strlen(mark), "}");
    return r;
}

/* kf_out_dump and kf_out_dump_from_stored put "v", "type" and "seq" (and reply_to) around
 * jansson's dump of the frame instead of building a copy of it: byte for byte what the copy
 * gives, for every kind of frame, escapes and non-ASCII text included. A frame that does not
 * fit the layout (a "v" field) or no stored text takes the copy's path. */
static void encode_spliced(void **state)
{
    (void)state;
    kf_proto_option opts[] = {{"a\"b", "引号\"\n?"}, {"b", "B?"}};
    kf_out *frames[] = {
        kf_proto_answer("refund", "退款\t\"ok\" \\ \u2028", "zh", 1, opts, 2, 0.8125, 0),
        kf_proto_answer("e", "plain", "en", 0, NULL, 0, 1.0, 0),
        kf_proto_clarify("which?", opts, 2, 0),
        kf_proto_fallback("sorry", 0),
        kf_proto_handoff("asked", 0, "wait", 0),
        kf_proto_reply("hours", "9-5", 0),
        kf_proto_ack("id \"1\" 号", "message"),
        kf_proto_ack(NULL, "feedback"),
        kf_proto_err_frame(KF_PE_RATE_LIMITED, "slow", "x"),
        kf_proto_welcome("tok", 1, "en", 0),
        kf_proto_welcome("tok", 0, NULL, 1),
    };
    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        kf_out *o = frames[i];
        assert_non_null(o);
        size_t len = 0;
        char *stored = kf_out_dump_stored(o);
        char *want = rebuilt(stored, 77, 0);
        char *got = kf_out_dump(o, 77, 16, &len);
        assert_string_equal(got + 16, want);
        assert_int_equal(len, strlen(want));
        kf_free(want);
        kf_free(got);
        want = rebuilt(stored, 1234567890123, 1234567890122);
        got = kf_out_dump_from_stored(o, stored, 1234567890123, 1234567890122, NULL, 8, &len);
        assert_string_equal(got + 8, want);
        assert_int_equal(len, strlen(want));
        kf_free(want);
        kf_free(got);
        /* folded ack: the visitor frame's id after reply_to (replies have no id of their own) */
        if (strstr(stored, "\"id\":")) {
            kf_free(stored);
            kf_out_free(o);
            continue;
        }
        want = rebuilt(stored, 12, 11);
        want = kf_realloc(want, strlen(want) + 32);
        strcpy(want + strlen(want) - 1, ",\"id\":\"m-1 号\"}");
        got = kf_out_dump_from_stored(o, stored, 12, 11, "m-1 号", 8, &len);
        assert_string_equal(got + 8, want);
        assert_int_equal(len, strlen(want));
        kf_free(want);
        kf_free(got);
        kf_free(stored);
        kf_out_free(o);
    }
    /* an id to escape takes the copy's path, with jansson's escapes; so does no reply_to */
    static const struct {
        const char *id, *want;
    } ids[] = {
        {"a\"b", "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"w\",\"reply_to\":2,"
                 "\"id\":\"a\\\"b\"}"},
        {"t\t\\", "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"w\",\"reply_to\":2,"
                  "\"id\":\"t\\t\\\\\"}"},
        {"plain", "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"w\",\"reply_to\":2,"
                  "\"id\":\"plain\"}"},
    };
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        kf_out *w = kf_proto_fallback("w", 0);
        size_t n = 0;
        char *g = kf_out_dump_from_stored(w, "{\"type\":\"fallback\",\"text\":\"w\"}", 3, 2,
                                          ids[i].id, 0, &n);
        assert_string_equal(g, ids[i].want);
        assert_int_equal(n, strlen(ids[i].want));
        kf_free(g);
        kf_out_free(w);
    }
    kf_out *w = kf_proto_fallback("w", 0);
    size_t wn = 0;
    char *wg =
        kf_out_dump_from_stored(w, "{\"type\":\"fallback\",\"text\":\"w\"}", 3, 0, "x", 0, &wn);
    assert_string_equal(wg,
                        "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"w\",\"id\":\"x\"}");
    kf_free(wg);
    kf_out_free(w);
    /* not the layout: the copy's path, with the same result as before the splice */
    kf_out *o = kf_proto_fallback("x", 0);
    assert_int_equal(kf_out_set_int(o, "v", 9), KF_OK);
    size_t len = 0;
    char *got = kf_out_dump(o, 3, 0, &len);
    assert_string_equal(got, "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"x\"}");
    kf_free(got);
    got = kf_out_dump_from_stored(o, "{\"type\":\"fallback\",\"text\":\"x\"}", 3, 2, NULL, 0, &len);
    assert_string_equal(got,
                        "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"x\",\"reply_to\":2}");
    kf_free(got);
    kf_out_free(o);
    o = kf_proto_fallback("y", 0);
    got = kf_out_dump_from_stored(o, NULL, 3, 2, NULL, 0, &len); /* no stored text */
    assert_string_equal(got,
                        "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"y\",\"reply_to\":2}");
    kf_free(got);
    kf_out_free(o);
    o = kf_proto_fallback("z", 0);
    got = kf_out_dump_from_stored(o, "[1]", 3, 0, NULL, 0, &len); /* not its dump */
    assert_string_equal(got, "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"z\"}");
    kf_free(got);
    kf_out_free(o);
}

/* Each type's name is what a client sends: decoding a frame of that name gives the type. */
static void type_names(void **state)
{
    (void)state;
    static const char *const frames[] = {
        "{\"type\":\"hello\"}", "{\"type\":\"message\",\"text\":\"x\"}",
        "{\"type\":\"typing\",\"active\":true}", "{\"type\":\"choose\",\"entry\":\"e\"}"};
    for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
        kf_in_frame f;
        kf_proto_error err;
        assert_int_equal(kf_proto_decode(frames[i], strlen(frames[i]), &f, &err), KF_OK);
        char want[32];
        snprintf(want, sizeof(want), "{\"type\":\"%s\"", kf_proto_in_type_name(f.type));
        assert_memory_equal(frames[i], want, strlen(want));
        kf_in_frame_cleanup(&f);
    }
    assert_string_equal(kf_proto_in_type_name(KF_IN_FEEDBACK), "feedback");
    assert_string_equal(kf_proto_in_type_name(KF_IN_SURVEY), "survey");
    assert_string_equal(kf_proto_in_type_name(KF_IN_LEAVE_MESSAGE), "leave_message");
}

static int fail_all(size_t n)
{
    (void)n;
    return 1;
}

static void out_of_memory(void **state)
{
    (void)state;
    kf_in_frame f;
    kf_proto_error err;
    kf_mem_set_fail_hook(fail_all);
    assert_null(kf_proto_fallback("x", 1));
    int rc = kf_proto_decode("{\"type\":\"typing\"}", 17, &f, &err);
    kf_mem_set_fail_hook(NULL);
    assert_int_equal(rc, KF_ENOMEM);
}

/* Fails the allocation whose turn comes when fail_in reaches 0; the others succeed. */
static long fail_in;

static int fail_nth(size_t n)
{
    (void)n;
    return fail_in-- == 0;
}

/* jansson's lexer ignores a failed save of a byte into its string buffer: a frame decoded
 * while one of its buffer's growths failed came back whole but for one byte ("退款多久到账"
 * stored as invalid UTF-8, found by the out-of-memory test). Each allocation failing in
 * turn: out of memory, or the text exactly; then a stored frame read back the same way. */
static void decoder_never_loses_a_byte(void **state)
{
    (void)state;
    char text[1200] = "", frame[1400];
    while (strlen(text) + strlen("退款多久到账") < sizeof(text))
        strcat(text, "退款多久到账");
    snprintf(frame, sizeof(frame), "{\"type\":\"message\",\"id\":\"m1\",\"text\":\"%s\"}", text);
    int failed = 0, whole = 0, lost = 0;
    for (long k = 0; k < 40; k++) {
        kf_in_frame f;
        kf_proto_error err;
        fail_in = k;
        kf_mem_set_fail_hook(fail_nth);
        int rc = kf_proto_decode(frame, strlen(frame), &f, &err);
        kf_mem_set_fail_hook(NULL);
        if (rc == KF_ENOMEM) {
            failed++;
            continue;
        }
        assert_int_equal(rc, KF_OK);
        if (f.text_len == strlen(text) && !strcmp(f.text, text))
            whole++;
        else
            lost++;
        kf_in_frame_cleanup(&f);
    }
    assert_true(failed > 0 && whole > 0);
    assert_int_equal(lost, 0);
    /* a stored frame (an answer with that text) restored for the replay */
    snprintf(frame, sizeof(frame), "{\"type\":\"answer\",\"text\":\"%s\"}", text);
    failed = whole = lost = 0;
    for (long k = 0; k < 40; k++) {
        size_t len = 0;
        fail_in = k;
        kf_mem_set_fail_hook(fail_nth);
        char *out = kf_proto_restore(frame, 7, 0, 0, &len);
        kf_mem_set_fail_hook(NULL);
        if (!out) {
            failed++;
            continue;
        }
        if (strstr(out, text))
            whole++;
        else
            lost++;
        kf_free(out);
    }
    assert_true(failed > 0 && whole > 0);
    assert_int_equal(lost, 0);
}

/* A stored text that is not UTF-8 (a row an older kefu stored after losing a byte, or another
 * program's) still makes its frame, with U+FFFD where the bad bytes were: otherwise its
 * replay and the agent's transcript failed on it every time. */
static void invalid_utf8_shown_replaced(void **state)
{
    (void)state;
    kf_out *o = kf_out_new("ack");
    assert_non_null(o);
    assert_int_equal(
        kf_out_set_str(o, "text", "\xE6\x80\x8E\xE4\xB9\x88\xE5\xBC\x80\xE5\x8F\x91\xE7\xA5"),
        KF_OK);
    assert_int_equal(kf_out_set_str(o, "a", "x\xFFy\xE5\x88"), KF_OK);
    size_t len = 0;
    char *txt = kf_out_dump_plain(o, 0, &len);
    assert_non_null(txt);
    assert_non_null(strstr(txt, "\"text\":\"怎么开发\xEF\xBF\xBD\xEF\xBF\xBD\""));
    assert_non_null(strstr(txt, "\"a\":\"x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBD\""));
    kf_free(txt);
    kf_out_free(o);
}

/* jansson's encoder does not check the write of an object's key: a failed one followed by a
 * write that fits gave {...,":"v"} and a success. Objects whose long key lands on each point
 * of the buffer's growth, each early allocation failing in turn: no text, or JSON. */
static void dumps_never_broken(void **state)
{
    (void)state;
    char key[301], val[1300];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    int broken = 0, failed = 0, whole = 0;
    for (size_t n = 50; n < sizeof(val); n += 7) {
        memset(val, 'x', n);
        val[n] = '\0';
        json_t *o = json_object();
        assert_int_equal(json_object_set_new(o, "a", json_string(val)), 0);
        assert_int_equal(json_object_set_new(o, key, json_string("v")), 0);
        for (long k = 0; k < 6; k++) {
            fail_in = k;
            kf_mem_set_fail_hook(fail_nth);
            char *txt = kf_proto_dumps(o, JSON_COMPACT);
            kf_mem_set_fail_hook(NULL);
            if (!txt) {
                failed++;
                continue;
            }
            json_t *back = json_loads(txt, 0, NULL);
            if (back && json_object_size(back) == 2)
                whole++;
            else
                broken++;
            json_decref(back);
            kf_free(txt);
        }
        json_decref(o);
    }
    assert_true(failed > 0 && whole > 0);
    assert_int_equal(broken, 0);
}

/* The encoder out of memory at each of its allocations in turn (the buffer, its growth past
 * the first 1 KB for a long answer): no frame rather than a broken one, and nothing leaked;
 * then, with memory enough, the whole frame. */
static void encoder_out_of_memory(void **state)
{
    (void)state;
    char text[3001];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    kf_out *o = kf_proto_handoff("complaint", 1, text, 9);
    assert_non_null(o);
    size_t base = kf_mem_in_use(), len = 0;
    char *buf = NULL;
    long k;
    for (k = 0; k < 1000 && !buf; k++) {
        fail_in = k;
        kf_mem_set_fail_hook(fail_nth);
        buf = kf_out_dump(o, 10, 16, &len);
        kf_mem_set_fail_hook(NULL);
        if (!buf)
            assert_int_equal(kf_mem_in_use(), base);
    }
    assert_non_null(buf);
    assert_true(k > 2); /* it did fail at several allocations before succeeding */
    assert_int_equal(len, strlen(buf + 16));
    const char *head = "{\"v\":1,\"type\":\"handoff\",\"seq\":10,";
    assert_memory_equal(buf + 16, head, strlen(head));
    assert_non_null(strstr(buf + 16, text));
    kf_free(buf);
    /* the same from the stored text, with reply_to: the frame itself is left as it was */
    kf_out_free(o);
    o = kf_proto_fallback(text, 0);
    char *stored = kf_out_dump_stored(o);
    assert_non_null(stored);
    base = kf_mem_in_use();
    buf = NULL;
    for (k = 0; k < 1000 && !buf; k++) {
        fail_in = k;
        kf_mem_set_fail_hook(fail_nth);
        buf = kf_out_dump_from_stored(o, stored, 10, 9, "m9", 16, &len);
        kf_mem_set_fail_hook(NULL);
        if (!buf)
            assert_int_equal(kf_mem_in_use(), base);
    }
    assert_non_null(buf);
    assert_true(k > 1); /* one allocation, of the size needed, and it failed once */
    assert_int_equal(len, strlen(buf + 16));
    assert_string_equal(buf + 16 + len - strlen(",\"reply_to\":9,\"id\":\"m9\"}"),
                        ",\"reply_to\":9,\"id\":\"m9\"}");
    assert_non_null(strstr(buf + 16, text));
    kf_free(buf);
    kf_free(stored);
    kf_out_free(o);
}

/* An answer made from its encoded head (the answer cache's path) is byte for byte the answer
 * kf_proto_answer builds, whatever the confidence, and behaves as one: its type, its stored
 * form, its wire form with and without reply_to and a folded id, a setter (the "unsaved" mark
 * of a failed store) and the plain dump. */
static void encode_from_head(void **state)
{
    (void)state;
    kf_proto_option opts[] = {{"a\"b", "引号\"\n?"}, {"b", "B?"}};
    static const double confs[] = {0,   0.0004, 0.0005, 0.1234, 1.0 / 3, 0.5,
                                   0.9, 0.9994, 0.9995, 1,      1.25,    12345.678};
    for (int variant = 0; variant < 3; variant++) {
        kf_out *base = variant == 0
                           ? kf_proto_answer("refund", "退款\t\"ok\" \\ \u2028 \"confidence\":1}",
                                             "zh", 1, opts, 2, 0.5, 0)
                       : variant == 1 ? kf_proto_answer("e", "plain", "en", 0, NULL, 0, 0.5, 0)
                                      : kf_proto_answer("p", "x", "en", 0, opts, 1, 0.25, 0);
        assert_non_null(base);
        size_t hl = 0;
        char *head = kf_proto_answer_head(base, &hl);
        assert_non_null(head);
        assert_int_equal(hl, strlen(head));
        for (size_t i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
            kf_out *want =
                variant == 0 ? kf_proto_answer("refund", "退款\t\"ok\" \\ \u2028 \"confidence\":1}",
                                               "zh", 1, opts, 2, confs[i], 0)
                : variant == 1 ? kf_proto_answer("e", "plain", "en", 0, NULL, 0, confs[i], 0)
                               : kf_proto_answer("p", "x", "en", 0, opts, 1, confs[i], 0);
            kf_out *got = kf_proto_answer_with(head, hl, confs[i]);
            assert_non_null(got);
            assert_string_equal(kf_out_type(got), "answer");
            char *a = kf_out_dump_stored(want), *b = kf_out_dump_stored(got);
            assert_string_equal(b, a);
            size_t la = 0, lb = 0;
            char *wa = kf_out_dump(want, 9, 16, &la), *wb = kf_out_dump(got, 9, 16, &lb);
            assert_string_equal(wb + 16, wa + 16);
            assert_int_equal(lb, la);
            kf_free(wa);
            kf_free(wb);
            wa = kf_out_dump_plain(want, 0, &la);
            wb = kf_out_dump_plain(got, 0, &lb);
            assert_string_equal(wb, wa);
            kf_free(wa);
            kf_free(wb);
            /* folded ack, from the stored text and from the frame's own (stored NULL) */
            wa = kf_out_dump_from_stored(want, a, 12, 11, "m1", 8, &la);
            wb = kf_out_dump_from_stored(got, NULL, 12, 11, "m1", 8, &lb);
            assert_string_equal(wb + 8, wa + 8);
            kf_free(wa);
            kf_free(wb);
            kf_out_free(want);
            kf_out_free(got);
            /* a setter parses it: "unsaved" then the wire form, as for the built frame */
            want = kf_proto_answer("e", "plain", "en", 0, NULL, 0, confs[i], 0);
            char *h2 = kf_proto_answer_head(want, &hl);
            got = kf_proto_answer_with(h2, hl, confs[i]);
            assert_int_equal(kf_out_set_int(want, "unsaved", 1), KF_OK);
            assert_int_equal(kf_out_set_int(got, "unsaved", 1), KF_OK);
            wa = kf_out_dump(want, 3, 0, &la);
            wb = kf_out_dump(got, 3, 0, &lb);
            assert_string_equal(wb, wa);
            assert_non_null(strstr(wb, ",\"unsaved\":1}"));
            kf_free(wa);
            kf_free(wb);
            kf_free(h2);
            kf_out_free(want);
            kf_out_free(got);
            kf_free(a);
            kf_free(b);
            hl = strlen(head);
        }
        kf_free(head);
        kf_out_free(base);
    }
    /* not an answer, or an answer with reply_to (confidence is not its last member): no head */
    size_t hl = 0;
    kf_out *o = kf_proto_fallback("x", 0);
    assert_null(kf_proto_answer_head(o, &hl));
    kf_out_free(o);
    o = kf_proto_answer("e", "t", "en", 0, NULL, 0, 0.5, 7);
    assert_null(kf_proto_answer_head(o, &hl));
    kf_out_free(o);
    /* an encoded frame whose text has keys the splice cannot take goes the slow way, still right */
    o = kf_out_encoded("fallback", kf_strdup("{\"type\":\"fallback\",\"seq\":5,\"text\":\"y\"}"));
    assert_non_null(o);
    size_t len = 0;
    char *got = kf_out_dump(o, 3, 0, &len);
    assert_string_equal(got, "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"y\"}");
    kf_free(got);
    kf_out_free(o);
    o = kf_out_encoded("fallback",
                       kf_strdup("{\"type\":\"fallback\",\"text\":\"y\",\"reply_to\":1}"));
    got = kf_out_dump_from_stored(o, NULL, 3, 2, NULL, 0, &len); /* one reply_to, not two */
    assert_string_equal(got,
                        "{\"v\":1,\"type\":\"fallback\",\"seq\":3,\"text\":\"y\",\"reply_to\":2}");
    kf_free(got);
    kf_out_free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(decode_errors),  cmocka_unit_test(decode_frames),
        cmocka_unit_test(encode),         cmocka_unit_test(type_names),
        cmocka_unit_test(out_of_memory),  cmocka_unit_test(encoder_out_of_memory),
        cmocka_unit_test(dumps_never_broken),
        cmocka_unit_test(decoder_never_loses_a_byte),
        cmocka_unit_test(invalid_utf8_shown_replaced),
        cmocka_unit_test(encode_spliced), cmocka_unit_test(encode_from_head),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
