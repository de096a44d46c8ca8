/*
 * The local OpenSSH server as sshlease needs to know it: the version that
 * answers (so expiry-time is written in a form it reads, DESIGN.md §4), its
 * host key fingerprints (for the block the merchant pastes into the ticket),
 * and its effective settings from `sshd -T` (for doctor). One header for
 * the callers that want all of it; each part has its own:
 *
 *   sshd-version.h  banner and `sshd -V` parsing, the expiry-time form
 *   sshd-config.h   finding and running sshd, `sshd -T` and its rules
 *   sshd-listen.h   who listens on a port (/proc/net/tcp)
 *   sshd-probe.h    the SSH wire probe and its JSON
 *
 * Nothing here changes the system: sshd is only connected to (no login is
 * tried) and only run with -T or -V, through proc_run, so callers must not
 * reap children they did not start (no SIGCHLD = SIG_IGN).
 */
#ifndef SSHLEASE_SSHD_H
#define SSHLEASE_SSHD_H

#include "sshd-config.h"
#include "sshd-listen.h"
#include "sshd-probe.h"
#include "sshd-version.h"

#endif
