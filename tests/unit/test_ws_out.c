/* SPDX-License-Identifier: MIT
 * Unit tests of a WebSocket connection's outgoing queue (src/ws_out.c): frames come out in
 * the order they went in while its ring grows and wraps around, the bound holds, and the
 * ring is given back whenever the queue empties. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../src/ws_out.h"
#include "kefu/err.h"
#include "kefu/mem.h"

static char *frame(int i)
{
    char *b = kf_malloc(16);
    assert_non_null(b);
    snprintf(b, 16, "%d", i);
    return b;
}

static int pop(kf_wsq *q)
{
    kf_wsq_item it;
    assert_int_equal(kf_wsq_pop(q, &it), 1);
    int v = 0;
    sscanf(it.buf, "%d", &v);
    assert_int_equal(it.len, strlen(it.buf));
    kf_free(it.buf);
    return v;
}

static void push(kf_wsq *q, int i)
{
    char *b = frame(i);
    assert_int_equal(kf_wsq_push(q, b, strlen(b)), KF_OK);
}

static void order_bound_release(void **state)
{
    (void)state;
    size_t base = kf_mem_in_use();
    kf_wsq q;
    kf_wsq_init(&q, 64);
    assert_null(q.v); /* nothing before the first frame */
    int in = 0, out = 0;
    /* two frames in, two out, one always waiting: the first ring (4) wraps around */
    push(&q, in++);
    assert_int_equal(q.rcap, 4);
    for (int k = 0; k < 10; k++) {
        push(&q, in++);
        push(&q, in++);
        assert_int_equal(pop(&q), out++);
        assert_int_equal(pop(&q), out++);
    }
    assert_int_equal(q.rcap, 4);
    /* the head in the middle of the ring when it grows, then a backlog up to the bound */
    push(&q, in++);
    push(&q, in++);
    push(&q, in++);
    assert_int_equal(pop(&q), out++);
    assert_int_equal(pop(&q), out++);
    while (q.n < q.cap)
        push(&q, in++);
    assert_int_equal(q.rcap, 64);
    char *b = frame(-1);
    assert_int_equal(kf_wsq_push(&q, b, strlen(b)), KF_ELIMIT); /* taken and freed */
    for (int k = 0; k < 30; k++)                                /* wrap around the grown ring */
        assert_int_equal(pop(&q), out++);
    for (int k = 0; k < 30; k++)
        push(&q, in++);
    while (q.n)
        assert_int_equal(pop(&q), out++);
    assert_int_equal(out, in);
    kf_wsq_item it;
    assert_int_equal(kf_wsq_pop(&q, &it), 0);
    assert_null(q.v); /* the ring is given back once empty */
    assert_int_equal(q.rcap, 0);
    push(&q, in++);
    kf_wsq_clear(&q); /* frees the frame and the ring */
    assert_int_equal(q.n, 0);
    assert_null(q.v);
    kf_wsq_cleanup(&q);
    assert_null(q.v);
    assert_int_equal(kf_mem_in_use(), base);
}

/* A queue bounded below the ring's first size. */
static void tiny_bound(void **state)
{
    (void)state;
    size_t base = kf_mem_in_use();
    kf_wsq q;
    kf_wsq_init(&q, 2);
    push(&q, 1);
    push(&q, 2);
    char *b = frame(3);
    assert_int_equal(kf_wsq_push(&q, b, strlen(b)), KF_ELIMIT);
    assert_int_equal(pop(&q), 1);
    push(&q, 4);
    assert_int_equal(pop(&q), 2);
    assert_int_equal(pop(&q), 4);
    kf_wsq_cleanup(&q);
    assert_int_equal(kf_mem_in_use(), base);
}

static int fail_all(size_t n)
{
    (void)n;
    return 1;
}

/* No memory for the ring: the frame is freed and nothing is queued. */
static void out_of_memory(void **state)
{
    (void)state;
    size_t base = kf_mem_in_use();
    kf_wsq q;
    kf_wsq_init(&q, 8);
    char *b = frame(1);
    kf_mem_set_fail_hook(fail_all);
    int rc = kf_wsq_push(&q, b, strlen(b));
    kf_mem_set_fail_hook(NULL);
    assert_int_equal(rc, KF_ENOMEM);
    assert_int_equal(q.n, 0);
    kf_wsq_cleanup(&q);
    assert_int_equal(kf_mem_in_use(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(order_bound_release),
        cmocka_unit_test(tiny_bound),
        cmocka_unit_test(out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
