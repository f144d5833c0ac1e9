/* SPDX-License-Identifier: MIT
 * handoff: queue order, positions, presence, capacity, least-loaded choice, wait estimates,
 * business hours, allocation failure. No sockets, no store. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "kefu/handoff.h"
#include "kefu/mem.h"

static int setup(void **state)
{
    *state = kf_handoff_new();
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    kf_handoff_free(*state);
    return 0;
}

static void queue_order(void **state)
{
    kf_handoff *h = *state;
    assert_int_equal(kf_handoff_enqueue(h, 1, 0, 1000), KF_OK);
    assert_int_equal(kf_handoff_enqueue(h, 2, 0, 900), KF_OK);  /* waited longer */
    assert_int_equal(kf_handoff_enqueue(h, 3, 1, 5000), KF_OK); /* urgent: first */
    assert_int_equal(kf_handoff_enqueue(h, 4, 0, 1000), KF_OK); /* same time as 1: by id */
    assert_int_equal(kf_handoff_enqueue(h, 5, 1, 4000), KF_OK);
    assert_int_equal(kf_handoff_enqueue(h, 1, 0, 1), KF_EINVAL);
    int64_t want[] = {5, 3, 2, 1, 4};
    assert_int_equal(kf_handoff_queue_len(h), 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(kf_handoff_queue_at(h, i), want[i]);
    assert_int_equal(kf_handoff_queue_at(h, 5), 0);
    assert_int_equal(kf_handoff_position(h, 2), 3);
    assert_int_equal(kf_handoff_position(h, 99), 0);
    assert_int_equal(kf_handoff_dequeue(h, 3), KF_OK);
    assert_int_equal(kf_handoff_dequeue(h, 3), KF_ENOTFOUND);
    assert_int_equal(kf_handoff_position(h, 2), 2);
    assert_int_equal(kf_handoff_position(h, 4), 4);
}

static void presence_and_capacity(void **state)
{
    kf_handoff *h = *state;
    assert_int_equal(kf_handoff_presence_set(h, 7, KF_PRESENCE_ONLINE), KF_ENOTFOUND);
    assert_int_equal(kf_handoff_agent_set(h, 7, 2), KF_OK);
    assert_int_equal(kf_handoff_presence(h, 7), KF_PRESENCE_OFFLINE);
    assert_int_equal(kf_handoff_pick(h), 0); /* offline */
    kf_handoff_presence_set(h, 7, KF_PRESENCE_AWAY);
    assert_int_equal(kf_handoff_pick(h), 0); /* away takes no new case */
    assert_int_equal(kf_handoff_online(h), 0);
    kf_handoff_presence_set(h, 7, KF_PRESENCE_ONLINE);
    assert_int_equal(kf_handoff_online(h), 1);
    assert_int_equal(kf_handoff_pick(h), 7);
    assert_int_equal(kf_handoff_free_slots(h), 2);
    kf_handoff_hold(h, 7);
    kf_handoff_hold(h, 7);
    assert_false(kf_handoff_has_room(h, 7));
    assert_int_equal(kf_handoff_pick(h), 0); /* full */
    assert_int_equal(kf_handoff_free_slots(h), 0);
    kf_handoff_release(h, 7);
    assert_int_equal(kf_handoff_load(h, 7), 1);
    assert_int_equal(kf_handoff_pick(h), 7);
    kf_handoff_release(h, 7);
    kf_handoff_release(h, 7); /* never below zero */
    assert_int_equal(kf_handoff_load(h, 7), 0);
    assert_int_equal(kf_handoff_hold(h, 99), KF_ENOTFOUND);
}

static void least_loaded(void **state)
{
    kf_handoff *h = *state;
    for (int64_t id = 1; id <= 3; id++) {
        kf_handoff_agent_set(h, id, 3);
        kf_handoff_presence_set(h, id, KF_PRESENCE_ONLINE);
    }
    /* all equal, never assigned: lowest id; then round robin by last assignment */
    int64_t order[6];
    for (int i = 0; i < 6; i++) {
        order[i] = kf_handoff_pick(h);
        kf_handoff_hold(h, order[i]);
    }
    int64_t want[] = {1, 2, 3, 1, 2, 3};
    for (int i = 0; i < 6; i++)
        assert_int_equal(order[i], want[i]);
    /* 2 frees a slot: it is now the least loaded */
    kf_handoff_release(h, 2);
    assert_int_equal(kf_handoff_pick(h), 2);
    /* capacity changes take effect */
    kf_handoff_agent_set(h, 2, 1);
    assert_int_equal(kf_handoff_pick(h), 1); /* 2 is full; 1 and 3 at 2 of 3, 1 waited longer */
}

static void estimates(void **state)
{
    kf_handoff *h = *state;
    assert_int_equal(kf_handoff_wait_s(h, 1), -1); /* nobody online */
    kf_handoff_agent_set(h, 1, 2);
    kf_handoff_presence_set(h, 1, KF_PRESENCE_ONLINE);
    assert_true(kf_handoff_mean_handle_s(h) == KF_HANDOFF_DEFAULT_HANDLE_S);
    assert_int_equal(kf_handoff_wait_s(h, 1), 150); /* 300 s / 2 slots */
    kf_handoff_handle_time(h, 60000);
    kf_handoff_handle_time(h, 120000);
    kf_handoff_handle_time(h, -5); /* ignored */
    assert_true(kf_handoff_mean_handle_s(h) == 90.0);
    assert_int_equal(kf_handoff_wait_s(h, 3), 135);
    kf_handoff_agent_set(h, 2, 1);
    kf_handoff_presence_set(h, 2, KF_PRESENCE_ONLINE);
    assert_int_equal(kf_handoff_wait_s(h, 3), 90);
    /* only the recent ones count */
    for (int i = 0; i < KF_HANDOFF_RECENT; i++)
        kf_handoff_handle_time(h, 30000);
    assert_true(kf_handoff_mean_handle_s(h) == 30.0);
}

static void hours(void **state)
{
    (void)state;
    kf_hours_day d;
    assert_int_equal(kf_handoff_hours_parse("09:00-21:00", &d), KF_OK);
    assert_int_equal(d.open, 540);
    assert_int_equal(d.close, 1260);
    assert_false(kf_handoff_hours_open(&d, 539));
    assert_true(kf_handoff_hours_open(&d, 540));
    assert_true(kf_handoff_hours_open(&d, 1259));
    assert_false(kf_handoff_hours_open(&d, 1260));
    assert_int_equal(kf_handoff_hours_parse("00:00-24:00", &d), KF_OK);
    assert_true(kf_handoff_hours_open(&d, 1439));
    assert_int_equal(kf_handoff_hours_parse("closed", &d), KF_OK);
    assert_false(kf_handoff_hours_open(&d, 600));
    assert_int_equal(kf_handoff_hours_parse("", &d), KF_OK);
    assert_false(kf_handoff_hours_open(&d, 600));
    const char *bad[] = {"9:00-21:00",  "21:00-09:00", "09:00-09:00", "09:60-10:00", "24:00-24:00",
                         "09:00-24:30", "09:00 21:00", "open",        "09:00-21:00x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kf_handoff_hours_parse(bad[i], &d), KF_EINVAL);
}

static int fail_all(size_t n)
{
    (void)n;
    return 1;
}

static void out_of_memory(void **state)
{
    kf_handoff *h = *state;
    kf_mem_set_fail_hook(fail_all);
    int a = kf_handoff_agent_set(h, 1, 1);
    int q = kf_handoff_enqueue(h, 1, 0, 0);
    kf_handoff *none = kf_handoff_new();
    kf_mem_set_fail_hook(NULL);
    assert_int_equal(a, KF_ENOMEM);
    assert_int_equal(q, KF_ENOMEM);
    assert_null(none);
    assert_int_equal(kf_handoff_queue_len(h), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(queue_order, setup, teardown),
        cmocka_unit_test_setup_teardown(presence_and_capacity, setup, teardown),
        cmocka_unit_test_setup_teardown(least_loaded, setup, teardown),
        cmocka_unit_test_setup_teardown(estimates, setup, teardown),
        cmocka_unit_test(hours),
        cmocka_unit_test_setup_teardown(out_of_memory, setup, teardown),
    };
    return cmocka_run_group_tests_name("handoff", tests, NULL, NULL);
}
