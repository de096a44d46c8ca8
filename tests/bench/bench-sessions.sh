#!/bin/bash
# Figures for how fast open sessions end (DESIGN.md §13; not a test:
# nothing here passes or fails on a time), against the real sshleased and a
# real sshd on 127.0.0.1 whose -E log the daemon follows. Prints:
#  - deadline to connection closed: 24 grants with one deadline, one open
#    `ssh host sleep` session each; for each session the time from the
#    deadline to its ssh client's exit (the connection closed from the
#    server's side), median and maximum;
#  - revoke to connection closed: one grant with 24 open sessions, from the
#    start of `sshlease revoke` to each client's exit, median and maximum.
# A client's exit is taken by the shell that waited for it, so the figures
# include that shell's wake-up (a millisecond or so).
#
# usage: bench-sessions.sh SSHLEASED SSHLEASE
# Needs root, openssh-server, openssh-client, passwd. About a minute.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh ssh-keygen useradd usermod userdel awk
fixture_init
daemon_init "${1:-}" "${2:-}"
work=$FIXTURE_DIR/work
mkdir -p "$work"
n=24

fixture_add_user slbs
user=$FIXTURE_USER
log=$FIXTURE_DIR/sshd-info.log
fixture_sshd_start_elog "$log" -o LogLevel=INFO -o MaxStartups=100 -o MaxSessions=100
daemon_config_write "[grant]" "users = $user" "[sshd]" "log = $log"
daemon_start

# An open session with key KEY: its client runs in the background and
# writes the time it exited (ns) to FILE.
session_bg() { # key file
	(
		ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
			-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes \
			-o IdentityAgent=none -o PreferredAuthentications=publickey \
			-o LogLevel=ERROR -p "$FIXTURE_SSHD_PORT" -i "$1" \
			"$user@127.0.0.1" 'sleep 600' </dev/null >/dev/null 2>&1
		now_ns >"$2"
	) &
	fixture_on_exit "kill $! 2>/dev/null"
}

# Open sessions of the daemon's grants, from list --json.
open_total() {
	sl list --json | grep -o '"open_sessions":[0-9]*' | cut -d: -f2 | awk '{ s += $1 } END { print s + 0 }'
}

wait_open() { # n
	local i
	for ((i = 0; i < 300; i++)); do
		[ "$(open_total)" -ge "$1" ] && return 0
		sleep 0.1
	done
	fixture_fail "waited 30 s for $1 open sessions, $(open_total) are"
}

# Milliseconds from T0 (ns) to each time in the files; "median max".
figures() { # t0 file...
	local t0=$1
	shift
	cat "$@" | awk -v t0="$t0" '{ printf "%.1f\n", ($1 - t0) / 1e6 }' | sort -n |
		awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%s %s\n", m, v[NR] }'
}

wait_files() { # file...
	local i f missing
	for ((i = 0; i < 300; i++)); do
		missing=0
		for f in "$@"; do [ -s "$f" ] || missing=1; done
		[ "$missing" -eq 0 ] && return 0
		sleep 0.1
	done
	fixture_fail "waited 30 s for every client to exit"
}

# --- deadline to connection closed ---
deadline=$(($(date +%s) + 30))
until=$(date -u -d "@$deadline" +%Y-%m-%dT%H:%M:%SZ)
files=()
for ((i = 0; i < n; i++)); do
	fixture_keygen "k$i"
	sl grant --yes --json --user "$user" --until "$until" "@$FIXTURE_DIR/k$i.pub" \
		>/dev/null 2>"$work/grant.err" || fixture_fail "grant $i: $(cat "$work/grant.err")"
done
for ((i = 0; i < n; i++)); do
	session_bg "$FIXTURE_DIR/k$i" "$work/deadline-$i"
	files+=("$work/deadline-$i")
done
wait_open "$n"
[ "$(date +%s)" -lt "$deadline" ] || fixture_fail "the sessions opened only after the deadline"
wait_files "${files[@]}"
read -r median max < <(figures "${deadline}000000000" "${files[@]}")
printf 'deadline to connection closed (%d sessions, one deadline): median %s ms, max %s ms\n' \
	"$n" "$median" "$max"

# --- revoke to connection closed ---
fixture_keygen rv
sl grant --yes --json --user "$user" --for 10m "@$FIXTURE_DIR/rv.pub" >"$work/grant.json" \
	2>"$work/grant.err" || fixture_fail "grant: $(cat "$work/grant.err")"
id=$(json_field "$work/grant.json" id)
files=()
for ((i = 0; i < n; i++)); do
	session_bg "$FIXTURE_DIR/rv" "$work/revoke-$i"
	files+=("$work/revoke-$i")
done
wait_open "$n"
t0=$(now_ns)
sl revoke "$id" >/dev/null || fixture_fail "revoke $id failed"
wait_files "${files[@]}"
read -r median max < <(figures "$t0" "${files[@]}")
printf 'revoke to connection closed (%d sessions of one grant): median %s ms, max %s ms\n' \
	"$n" "$median" "$max"

daemon_stop
