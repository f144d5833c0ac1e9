/* SPDX-License-Identifier: MIT
 * The handoff desk's pure logic (handoff.h): arrays kept in order, small by nature. The
 * store has the truth; this is the in-memory view the server decides from. */
#include "kefu/handoff.h"

#include <stdio.h>
#include <string.h>

#include "kefu/mem.h"

typedef struct agent {
    int64_t id;
    int max_chats;
    int load;
    kf_presence presence;
    uint64_t last_assigned; /* a counter, not a clock: 0 = never */
} agent;

typedef struct qent {
    int64_t case_id;
    int urgent;
    int64_t since_ms;
} qent;

struct kf_handoff {
    agent *agents;
    size_t n_agents, cap_agents;
    qent *q;
    size_t n_q, cap_q;
    uint64_t assign_counter;
    int64_t recent[KF_HANDOFF_RECENT];
    size_t n_recent, recent_next;
};

kf_handoff *kf_handoff_new(void)
{
    return kf_calloc(1, sizeof(kf_handoff));
}

void kf_handoff_free(kf_handoff *h)
{
    if (!h)
        return;
    kf_free(h->agents);
    kf_free(h->q);
    kf_free(h);
}

/* ---- agents ------------------------------------------------------------------- */

static agent *find_agent(const kf_handoff *h, int64_t id)
{
    for (size_t i = 0; i < h->n_agents; i++)
        if (h->agents[i].id == id)
            return &h->agents[i];
    return NULL;
}

int kf_handoff_agent_set(kf_handoff *h, int64_t id, int max_chats)
{
    agent *a = find_agent(h, id);
    if (!a) {
        if (kf_grow(&h->agents, &h->cap_agents, h->n_agents + 1, sizeof(agent)))
            return KF_ENOMEM;
        a = &h->agents[h->n_agents++];
        memset(a, 0, sizeof(*a));
        a->id = id;
    }
    a->max_chats = max_chats;
    return KF_OK;
}

int kf_handoff_presence_set(kf_handoff *h, int64_t id, kf_presence p)
{
    agent *a = find_agent(h, id);
    if (!a)
        return KF_ENOTFOUND;
    a->presence = p;
    return KF_OK;
}

kf_presence kf_handoff_presence(const kf_handoff *h, int64_t id)
{
    const agent *a = find_agent(h, id);
    return a ? a->presence : KF_PRESENCE_OFFLINE;
}

int kf_handoff_load(const kf_handoff *h, int64_t id)
{
    const agent *a = find_agent(h, id);
    return a ? a->load : 0;
}

int kf_handoff_max_chats(const kf_handoff *h, int64_t id)
{
    const agent *a = find_agent(h, id);
    return a ? a->max_chats : 0;
}

int kf_handoff_has_room(const kf_handoff *h, int64_t id)
{
    const agent *a = find_agent(h, id);
    return a && a->load < a->max_chats;
}

int kf_handoff_hold(kf_handoff *h, int64_t id)
{
    agent *a = find_agent(h, id);
    if (!a)
        return KF_ENOTFOUND;
    a->load++;
    a->last_assigned = ++h->assign_counter;
    return KF_OK;
}

int kf_handoff_release(kf_handoff *h, int64_t id)
{
    agent *a = find_agent(h, id);
    if (!a)
        return KF_ENOTFOUND;
    if (a->load > 0)
        a->load--;
    return KF_OK;
}

int64_t kf_handoff_pick(const kf_handoff *h)
{
    const agent *best = NULL;
    for (size_t i = 0; i < h->n_agents; i++) {
        const agent *a = &h->agents[i];
        if (a->presence != KF_PRESENCE_ONLINE || a->load >= a->max_chats)
            continue;
        if (!best || a->load < best->load ||
            (a->load == best->load &&
             (a->last_assigned < best->last_assigned ||
              (a->last_assigned == best->last_assigned && a->id < best->id))))
            best = a;
    }
    return best ? best->id : 0;
}

size_t kf_handoff_online(const kf_handoff *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_agents; i++)
        n += h->agents[i].presence == KF_PRESENCE_ONLINE;
    return n;
}

size_t kf_handoff_free_slots(const kf_handoff *h)
{
    size_t n = 0;
    for (size_t i = 0; i < h->n_agents; i++) {
        const agent *a = &h->agents[i];
        if (a->presence == KF_PRESENCE_ONLINE && a->load < a->max_chats)
            n += (size_t)(a->max_chats - a->load);
    }
    return n;
}

/* ---- the queue ---------------------------------------------------------------- */

/* 1 if x goes before y. */
static int before(const qent *x, const qent *y)
{
    if (x->urgent != y->urgent)
        return x->urgent > y->urgent;
    if (x->since_ms != y->since_ms)
        return x->since_ms < y->since_ms;
    return x->case_id < y->case_id;
}

int kf_handoff_enqueue(kf_handoff *h, int64_t case_id, int urgent, int64_t since_ms)
{
    if (kf_handoff_position(h, case_id))
        return KF_EINVAL;
    if (kf_grow(&h->q, &h->cap_q, h->n_q + 1, sizeof(qent)))
        return KF_ENOMEM;
    qent e = {case_id, urgent ? 1 : 0, since_ms};
    size_t i = h->n_q;
    while (i > 0 && before(&e, &h->q[i - 1])) {
        h->q[i] = h->q[i - 1];
        i--;
    }
    h->q[i] = e;
    h->n_q++;
    return KF_OK;
}

int kf_handoff_dequeue(kf_handoff *h, int64_t case_id)
{
    size_t pos = kf_handoff_position(h, case_id);
    if (!pos)
        return KF_ENOTFOUND;
    memmove(&h->q[pos - 1], &h->q[pos], (h->n_q - pos) * sizeof(qent));
    h->n_q--;
    return KF_OK;
}

size_t kf_handoff_position(const kf_handoff *h, int64_t case_id)
{
    for (size_t i = 0; i < h->n_q; i++)
        if (h->q[i].case_id == case_id)
            return i + 1;
    return 0;
}

size_t kf_handoff_queue_len(const kf_handoff *h)
{
    return h->n_q;
}

int64_t kf_handoff_queue_at(const kf_handoff *h, size_t i)
{
    return i < h->n_q ? h->q[i].case_id : 0;
}

/* ---- estimates ---------------------------------------------------------------- */

void kf_handoff_handle_time(kf_handoff *h, int64_t ms)
{
    if (ms < 0)
        return;
    h->recent[h->recent_next] = ms;
    h->recent_next = (h->recent_next + 1) % KF_HANDOFF_RECENT;
    if (h->n_recent < KF_HANDOFF_RECENT)
        h->n_recent++;
}

double kf_handoff_mean_handle_s(const kf_handoff *h)
{
    if (h->n_recent == 0)
        return KF_HANDOFF_DEFAULT_HANDLE_S;
    double sum = 0;
    for (size_t i = 0; i < h->n_recent; i++)
        sum += (double)h->recent[i];
    return sum / (double)h->n_recent / 1000.0;
}

int64_t kf_handoff_wait_s(const kf_handoff *h, size_t position)
{
    size_t slots = 0;
    for (size_t i = 0; i < h->n_agents; i++)
        if (h->agents[i].presence == KF_PRESENCE_ONLINE)
            slots += (size_t)(h->agents[i].max_chats > 0 ? h->agents[i].max_chats : 0);
    if (slots == 0)
        return -1;
    double w = kf_handoff_mean_handle_s(h) * (double)position / (double)slots;
    return (int64_t)(w + 0.999);
}

/* ---- business hours ----------------------------------------------------------- */

static int hhmm(const char *s, int *out)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
        s[3] > '5' || s[4] < '0' || s[4] > '9')
        return KF_EINVAL;
    int hh = (s[0] - '0') * 10 + (s[1] - '0'), mm = (s[3] - '0') * 10 + (s[4] - '0');
    if (hh > 24 || (hh == 24 && mm != 0))
        return KF_EINVAL;
    *out = hh * 60 + mm;
    return KF_OK;
}

int kf_handoff_hours_parse(const char *spec, kf_hours_day *out)
{
    int o, c;
    if (!spec[0] || !strcmp(spec, "closed")) {
        out->open = out->close = -1;
        return KF_OK;
    }
    if (strlen(spec) != 11 || spec[5] != '-' || hhmm(spec, &o) || hhmm(spec + 6, &c) || c <= o ||
        o >= 24 * 60)
        return KF_EINVAL;
    out->open = o;
    out->close = c;
    return KF_OK;
}

int kf_handoff_hours_open(const kf_hours_day *day, int minute)
{
    return day->open >= 0 && minute >= day->open && minute < day->close;
}
