/* SPDX-License-Identifier: MIT
 * `kefu serve`: the chat server (libwebsockets) over a configuration, a store and knowledge
 * snapshots. The server's files share src/server_int.h; this is all the rest of kefu sees. */
#ifndef KEFU_SERVER_H
#define KEFU_SERVER_H

#include "kefu/config.h"

/* Runs the server until SIGTERM or SIGINT: opens the store, loads the knowledge (any
 * file:line error stops the start), listens, prints "kefu listening on http://ADDR:PORT" on
 * stdout, serves, and on a signal flushes queues and closes every connection cleanly.
 * SIGHUP and changes in kb_dir / intents_dir reload the knowledge in the background.
 * Must be called from the main thread before any other thread exists (it blocks the
 * signals it handles). Returns the process exit status (0 after a clean shutdown). */
int kf_server_run(const kf_config *cfg);

/* The subcommands (argc/argv after the command's name; exit status). */
int kf_cli_serve(int argc, char **argv);
int kf_cli_config(int argc, char **argv);

#endif
