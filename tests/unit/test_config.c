/* SPDX-License-Identifier: MIT
 * config: defaults, parsing with file:line errors, --set, variables, rendering, example. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kefu/config.h"
#include "kefu/engine.h"
#include "kefu/mem.h"

static void defaults(void **state)
{
    (void)state;
    kf_config c;
    kf_engine_config ec;
    kf_engine_config_defaults(&ec);
    assert_int_equal(kf_config_init(&c), KF_OK);
    assert_string_equal(c.listen_addr, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_int_equal(c.max_frame, 4096);
    assert_true(c.answer_min == ec.answer_min);
    assert_true(c.margin_min == ec.margin_min);
    assert_true(c.clarify_min == ec.clarify_min);
    assert_int_equal(c.log_text, 0);
    assert_string_equal(c.tls_cert, "");
    kf_config_cleanup(&c);
}

static void parse_ok_and_errors(void **state)
{
    (void)state;
    kf_config c;
    kf_diag d;
    const char *text = "# comment\n"
                       "listen = [::1]:0\n"
                       "max_frame = 8192\n"
                       "shop_name = \" 小店 \"\n"
                       "var.phone = 400-1\n"
                       "log_text = yes\n"
                       "bogus = 1\n"
                       "max_frame = 12\n"
                       "answer_min = 2\n"
                       "no equals sign\n"
                       "log_level = loud\n";
    assert_int_equal(kf_config_init(&c), KF_OK);
    kf_diag_init(&d);
    assert_int_equal(kf_config_parse(&c, "k.conf", text, strlen(text), &d), KF_EPARSE);
    assert_int_equal(d.n, 5);
    assert_string_equal(d.items[0].file, "k.conf");
    assert_int_equal(d.items[0].line, 7);
    assert_string_equal(d.items[0].msg, "unknown key 'bogus'");
    assert_int_equal(d.items[1].line, 8);
    assert_non_null(strstr(d.items[1].msg, "256..1048576"));
    assert_int_equal(d.items[2].line, 9);
    assert_int_equal(d.items[3].line, 10);
    assert_int_equal(d.items[4].line, 11);
    assert_string_equal(c.listen_addr, "::1");
    assert_int_equal(c.listen_port, 0);
    assert_int_equal(c.max_frame, 8192); /* the bad value changed nothing */
    assert_string_equal(c.shop_name, " 小店 ");
    assert_int_equal(c.log_text, 1);
    assert_string_equal(kf_config_var_get(&c, "phone"), "400-1");
    kf_diag_cleanup(&d);
    kf_config_cleanup(&c);
}

static void set_and_render(void **state)
{
    (void)state;
    kf_config c;
    char err[256];
    assert_int_equal(kf_config_init(&c), KF_OK);
    assert_int_equal(kf_config_set(&c, "listen", "0.0.0.0:70000", err, sizeof(err)), KF_EINVAL);
    assert_non_null(strstr(err, "bad port"));
    assert_int_equal(kf_config_set(&c, "listen", "nocolon", err, sizeof(err)), KF_EINVAL);
    assert_int_equal(kf_config_set(&c, "var.bad name", "x", err, sizeof(err)), KF_EINVAL);
    assert_int_equal(kf_config_set(&c, "shop_name", "A店", err, sizeof(err)), KF_OK);
    assert_int_equal(kf_config_set(&c, "var.hours", "9-21", err, sizeof(err)), KF_OK);
    assert_int_equal(kf_config_set(&c, "var.hours", "9-22", err, sizeof(err)), KF_OK);
    char *r = kf_config_render(&c, "{{shop}} {{hours}} {{unknown}} {{ open");
    assert_string_equal(r, "A店 9-22 {{unknown}} {{ open");
    kf_free(r);
    assert_true(
        kf_config_list_has("https://a.example, https://b.example", "https://b.example", 17));
    assert_false(kf_config_list_has("https://a.example", "https://a.exampl", 16));
    kf_config_cleanup(&c);
}

static void check_and_example(void **state)
{
    (void)state;
    kf_config c, c2;
    kf_diag d;
    char err[256];
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(kf_config_init(&c), KF_OK);
    kf_diag_init(&d);
    kf_config_set(&c, "tls_cert", "cert.pem", err, sizeof(err));
    assert_int_equal(kf_config_check(&c, &d), KF_EINVAL);
    kf_diag_cleanup(&d);
    kf_config_cleanup(&c);
    /* the example parses back to the defaults */
    FILE *f = open_memstream(&buf, &len);
    kf_config_write_example(f);
    fclose(f);
    assert_int_equal(kf_config_init(&c2), KF_OK);
    kf_diag_init(&d);
    assert_int_equal(kf_config_parse(&c2, "example", buf, len, &d), KF_OK);
    assert_int_equal(d.n, 0);
    assert_int_equal(c2.max_queue, 64);
    assert_string_equal(c2.allowed_origins, "");
    kf_diag_cleanup(&d);
    kf_config_cleanup(&c2);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(parse_ok_and_errors),
        cmocka_unit_test(set_and_render),
        cmocka_unit_test(check_and_example),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
