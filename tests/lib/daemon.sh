# shellcheck shell=bash
# Bash helpers for tests that run the real sshleased and sshlease: a
# temporary config, the daemon in the foreground as a background job, and
# the CLI pointed at its socket. Source after tests/lib/fixture.sh and call
# after fixture_init:
#
#     . "$(dirname "$0")/../lib/daemon.sh"
#     daemon_init "$sshleased" "$sshlease"   # paths from meson
#     daemon_config_write "[grant]" "users = $FIXTURE_USER"
#     daemon_start                           # $DAEMON_PID; socket answers
#     sl grant --yes --user "$FIXTURE_USER" --for 1h @key.pub
#     daemon_stop                            # SIGTERM, wait, exit code 0
#
# Paths (all inside $FIXTURE_DIR, so tests running in parallel never meet):
#   DAEMON_CONFIG   the config file
#   DAEMON_SOCKET   control socket ($FIXTURE_DIR/run/sshlease.sock)
#   DAEMON_STATE    state_dir; the state file is $DAEMON_STATE/state.json
#   DAEMON_AUDIT    audit_log
#   DAEMON_LOG      stderr of the running (or last) sshleased
#   DAEMON_PID      pid of the running sshleased, empty when stopped
#   SSHLEASED SSHLEASE  the binaries given to daemon_init
#   DAEMON_WRAP     (array, set by the test) a command that runs sshleased
#                   and must exec it, so that $DAEMON_PID is the daemon's:
#                   DAEMON_WRAP=(unshare -m sh -c '...; exec "$0" "$@"')
#
# A daemon started here is stopped by the fixture's EXIT trap, and its log is
# printed when the test fails.

DAEMON_CONFIG=
DAEMON_SOCKET=
DAEMON_STATE=
DAEMON_AUDIT=
DAEMON_LOG=
DAEMON_PID=
SSHLEASED=
SSHLEASE=
DAEMON_WRAP=()
_daemon_runs=0

daemon_init() { # sshleased sshlease
	[ -n "$FIXTURE_DIR" ] || fixture_fail "daemon_init: call fixture_init first"
	[ -x "${1:-}" ] || fixture_fail "daemon_init: sshleased '${1:-}' is not an executable"
	[ -x "${2:-}" ] || fixture_fail "daemon_init: sshlease '${2:-}' is not an executable"
	# Absolute, so a test may change directory.
	SSHLEASED=$(realpath "$1")
	SSHLEASE=$(realpath "$2")
	DAEMON_CONFIG=$FIXTURE_DIR/sshlease.conf
	DAEMON_SOCKET=$FIXTURE_DIR/run/sshlease.sock
	DAEMON_STATE=$FIXTURE_DIR/state
	DAEMON_AUDIT=$FIXTURE_DIR/log/audit.jsonl
	fixture_on_exit "daemon_stop_quiet"
}

# Write the config: the [daemon] section with the paths above and
# socket_group ($DAEMON_SOCKET_GROUP, default a group that does not exist,
# so the socket is root's only), then every argument as one line (sections
# included).
daemon_config_write() { # [line...]
	local line
	{
		echo "[daemon]"
		echo "socket = $DAEMON_SOCKET"
		echo "socket_group = ${DAEMON_SOCKET_GROUP:-sshlease-test-nogroup}"
		echo "state_dir = $DAEMON_STATE"
		echo "audit_log = $DAEMON_AUDIT"
		for line in "$@"; do echo "$line"; done
	} >"$DAEMON_CONFIG" || fixture_fail "cannot write $DAEMON_CONFIG"
	chmod 0600 "$DAEMON_CONFIG"
}

# The CLI on this test's socket. Its exit code is returned.
sl() { # args...
	"$SSHLEASE" --socket "$DAEMON_SOCKET" "$@"
}

# Grant user 10 minutes with the key FIXTURE_DIR/KEY.pub; the test fails
# when it is refused. The reply in FIXTURE_DIR/grant.json, the id in G_ID.
daemon_grant() { # user key
	local rc=0
	sl grant --yes --json --user "$1" --for 10m "@$FIXTURE_DIR/$2.pub" >"$FIXTURE_DIR/grant.json" 2>"$FIXTURE_DIR/grant.err" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "grant $2: exit $rc: $(head -c 400 "$FIXTURE_DIR/grant.err")"
	G_ID=$(json_field "$FIXTURE_DIR/grant.json" id)
}

# Start sshleased in the foreground as a background job and wait (bounded)
# until its socket answers a status request. Fails the test when it exits
# or does not answer within 20 s.
daemon_start() {
	local i
	[ -z "$DAEMON_PID" ] || fixture_fail "daemon_start: sshleased already running"
	[ -f "$DAEMON_CONFIG" ] || fixture_fail "daemon_start: call daemon_config_write first"
	_daemon_runs=$((_daemon_runs + 1))
	DAEMON_LOG=$FIXTURE_DIR/sshleased-$_daemon_runs.log
	# fixture.sh prints the logs in this list when the test fails.
	_fixture_logs+=("$DAEMON_LOG")
	"${DAEMON_WRAP[@]}" "$SSHLEASED" --config "$DAEMON_CONFIG" </dev/null >"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	for ((i = 0; i < 400; i++)); do
		if sl status >/dev/null 2>&1; then
			return 0
		fi
		if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			local rc=0
			wait "$DAEMON_PID" || rc=$?
			DAEMON_PID=
			fixture_fail "sshleased exited with $rc before answering: $(tail -c 600 "$DAEMON_LOG")"
		fi
		sleep 0.05
	done
	fixture_fail "sshleased did not answer on $DAEMON_SOCKET within 20 s"
}

# Stop it with SIGTERM and wait; fail unless it exits 0 and its socket is
# gone.
daemon_stop() {
	local rc=0 pid=$DAEMON_PID
	[ -n "$pid" ] || fixture_fail "daemon_stop: sshleased is not running"
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	DAEMON_PID=
	[ "$rc" -eq 0 ] || fixture_fail "sshleased exited with $rc after SIGTERM"
	[ ! -e "$DAEMON_SOCKET" ] || fixture_fail "sshleased left its socket behind"
}

daemon_stop_quiet() {
	local pid=$DAEMON_PID
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	DAEMON_PID=
	return 0
}

# A throwaway group (removed at exit); its name in $DAEMON_GROUP.
daemon_add_group() { # [prefix]
	local name attempt
	name="${1:-slgr}$(_fixture_random_hex 4)"
	for ((attempt = 1; ; attempt++)); do
		groupadd "$name" 2>"$FIXTURE_DIR/groupadd.err" && break
		[ "$attempt" -lt 5 ] ||
			fixture_fail "groupadd $name failed: $(head -c 300 "$FIXTURE_DIR/groupadd.err")"
		sleep 1
	done
	fixture_on_exit "daemon_del_group '$name'"
	# shellcheck disable=SC2034 # read by the sourcing test
	DAEMON_GROUP=$name
}

daemon_del_group() { # name
	local attempt
	for ((attempt = 1; attempt <= 5; attempt++)); do
		groupdel "$1" 2>/dev/null || true
		getent group "$1" >/dev/null || return 0
		sleep 1
	done
	echo "warning: could not remove group $1" >&2
}

# The value of one top-level field of a one-line JSON object (a string
# without escapes, a number, true/false/null), from a file.
json_field() { # file field
	sed -n 's/.*"'"$2"'":\("[^"]*"\|[^,}]*\).*/\1/p' "$1" | head -n 1 | tr -d '"'
}

# Time now in nanoseconds since the epoch.
now_ns() {
	date +%s%N
}
