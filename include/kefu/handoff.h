/* SPDX-License-Identifier: MIT
 * The handoff desk's pure logic: the queue of cases waiting for a person (urgent first, then
 * by waiting time), agents' presence and load against their capacity, the choice of agent
 * for automatic assignment (least loaded, then the one who waited longest since their last
 * case), positions and estimated waits from recent handle times, and business hours.
 *
 * No sockets, no store, no clock: the server persists every change through the store and
 * tells this module about it, and after a restart rebuilds it from the store. Everything is
 * in memory and O(queue length) at worst, which is small (people answer it). */
#ifndef KEFU_HANDOFF_H
#define KEFU_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "kefu/err.h"

typedef enum {
    KF_PRESENCE_OFFLINE = 0,
    KF_PRESENCE_ONLINE = 1,
    KF_PRESENCE_AWAY = 2,
} kf_presence;

/* Handle times remembered for the wait estimate. */
#define KF_HANDOFF_RECENT 20
/* The handle time assumed before any case has ended (seconds). */
#define KF_HANDOFF_DEFAULT_HANDLE_S 300

typedef struct kf_handoff kf_handoff;

kf_handoff *kf_handoff_new(void);
void kf_handoff_free(kf_handoff *h); /* NULL is fine */

/* ---- agents ------------------------------------------------------------------- */

/* Adds an agent (offline, load 0) or updates its capacity. KF_ENOMEM. */
int kf_handoff_agent_set(kf_handoff *h, int64_t agent, int max_chats);
/* KF_ENOTFOUND for an unknown agent. */
int kf_handoff_presence_set(kf_handoff *h, int64_t agent, kf_presence p);
kf_presence kf_handoff_presence(const kf_handoff *h, int64_t agent); /* unknown: offline */
/* Conversations the agent holds (0 for an unknown agent). */
int kf_handoff_load(const kf_handoff *h, int64_t agent);
int kf_handoff_max_chats(const kf_handoff *h, int64_t agent);
/* 1 if the agent holds fewer conversations than max_chats. */
int kf_handoff_has_room(const kf_handoff *h, int64_t agent);
/* The agent takes / gives up one conversation (load +1 / -1). Taking also makes the agent the
 * most recently assigned. KF_ENOTFOUND for an unknown agent. Capacity is not checked here:
 * a transfer or a restore may exceed it knowingly; use has_room to decide. */
int kf_handoff_hold(kf_handoff *h, int64_t agent);
int kf_handoff_release(kf_handoff *h, int64_t agent);
/* The agent for the next automatic assignment: online (not away), with room, the fewest held
 * conversations; ties go to the one assigned longest ago, then the lowest id. 0: nobody. */
int64_t kf_handoff_pick(const kf_handoff *h);
/* Online agents (away agents do not count). */
size_t kf_handoff_online(const kf_handoff *h);
/* Free slots of online agents in all. */
size_t kf_handoff_free_slots(const kf_handoff *h);

/* ---- the queue ---------------------------------------------------------------- */

/* Adds a case: urgent cases before the others, each group by since_ms then case id.
 * KF_EINVAL if the case is already queued; KF_ENOMEM. */
int kf_handoff_enqueue(kf_handoff *h, int64_t case_id, int urgent, int64_t since_ms);
/* KF_ENOTFOUND when the case is not queued. */
int kf_handoff_dequeue(kf_handoff *h, int64_t case_id);
/* 1-based position, 0 when not queued. */
size_t kf_handoff_position(const kf_handoff *h, int64_t case_id);
size_t kf_handoff_queue_len(const kf_handoff *h);
/* The case at 0-based index i of the queue order (0 when out of range). */
int64_t kf_handoff_queue_at(const kf_handoff *h, size_t i);

/* ---- estimates ---------------------------------------------------------------- */

/* Records one handle time (assignment to end of a case), keeping the last
 * KF_HANDOFF_RECENT. Negative values are ignored. */
void kf_handoff_handle_time(kf_handoff *h, int64_t ms);
/* Mean of the recent handle times in seconds (the default before any). */
double kf_handoff_mean_handle_s(const kf_handoff *h);
/* Estimated wait in seconds for a visitor at a 1-based position: the position times the mean
 * handle time, divided among the online agents' slots (their max_chats summed); each agent
 * frees a slot every mean/max_chats seconds on average. -1 when nobody is online. */
int64_t kf_handoff_wait_s(const kf_handoff *h, size_t position);

/* ---- business hours ----------------------------------------------------------- */

/* One weekday's hours as minutes after midnight, [open, close). open < 0: closed all day. */
typedef struct kf_hours_day {
    int open, close;
} kf_hours_day;

/* Parses "HH:MM-HH:MM" (close may be 24:00; close > open), "closed" or "" (closed).
 * KF_EINVAL on anything else. */
int kf_handoff_hours_parse(const char *spec, kf_hours_day *out);
/* 1 if minute (0..1439) of a day with these hours is within them. */
int kf_handoff_hours_open(const kf_hours_day *day, int minute);

#endif
