#!/bin/bash
# The CLI as a person meets it (issue: daemon and CLI, point 3): --help for
# every command, usage errors (exit 2), the daemon unreachable (exit 5 with
# the reason and how to start it), the confirmation on a real terminal (no
# → exit 1 and nothing granted, y → granted), no terminal and no --yes →
# exit 2 and nothing granted, the key from an argument, @FILE and stdin,
# the fields of grant --json, check-config's file:line reports, and SIGHUP
# (a bad new config keeps the old one) and SIGTERM (clean exit).
#
# usage: test-cli-basics.sh SSHLEASED SSHLEASE PYTHON3
# Needs root, openssh-client (ssh-keygen), passwd, python3 (for a pty).

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh-keygen useradd userdel cmp
fixture_init
daemon_init "${1:-}" "${2:-}"
python=${3:-python3}
fixture_add_user slcb
user=$FIXTURE_USER
fixture_keygen support
fixture_keygen other
fixture_keygen third
out=$FIXTURE_DIR/out
err=$FIXTURE_DIR/err

run() { # expected-rc what args...
	local want=$1 what=$2 rc=0
	shift 2
	"$@" >"$out" 2>"$err" </dev/null || rc=$?
	[ "$rc" -eq "$want" ] ||
		fixture_fail "$what: exit $rc, expected $want; stderr: $(head -c 400 "$err")"
}

# --- help and usage, no daemon needed ---
for cmd in grant revoke extend list show status audit check-config doctor token; do
	run 0 "$cmd --help" "$SSHLEASE" "$cmd" --help
	grep -q "^Usage: sshlease $cmd" "$out" ||
		fixture_fail "$cmd --help does not start with its usage: $(head -c 200 "$out")"
done
run 0 "--help" "$SSHLEASE" --help
grep -q "Exit codes: 0 done, 1 failure, 2 usage error, 3 refused," "$out" ||
	fixture_fail "--help does not list the exit codes"
run 2 "unknown command" "$SSHLEASE" frobnicate
grep -q "unknown command 'frobnicate'" "$err" || fixture_fail "unknown command: $(cat "$err")"
run 2 "unknown option" "$SSHLEASE" list --bogus
grep -q "unknown option '--bogus'" "$err" || fixture_fail "unknown option: $(cat "$err")"
run 2 "--for and --until" "$SSHLEASE" grant --user "$user" --for 1h --until "2099-01-01 00:00" --yes @"$FIXTURE_DIR/support.pub"
run 2 "grant without --user" "$SSHLEASE" grant --yes @"$FIXTURE_DIR/support.pub"
fixture_pass "--help of every command, usage errors exit 2"

# --- daemon not reachable ---
run 5 "no daemon" "$SSHLEASE" --socket "$FIXTURE_DIR/nowhere.sock" list
grep -q "cannot reach sshleased at $FIXTURE_DIR/nowhere.sock" "$err" &&
	grep -q "systemctl start sshleased" "$err" ||
	fixture_fail "unreachable daemon: message lacks the reason or the start hint: $(cat "$err")"
SSHLEASE_SOCKET=$FIXTURE_DIR/nowhere.sock run 5 "no daemon via SSHLEASE_SOCKET" "$SSHLEASE" status
fixture_pass "an unreachable daemon gives exit 5 with the reason and the start command"

daemon_config_write
daemon_start
ak=$FIXTURE_HOME/.ssh/authorized_keys
# daemon.sh names a socket_group that does not exist: the daemon says so
# and serves root only.
grep -q "group sshlease-test-nogroup does not exist; the socket is for root only" "$DAEMON_LOG" ||
	fixture_fail "no word about the missing socket_group: $(head -c 600 "$DAEMON_LOG")"
[ "$(stat -c '%a %U' "$DAEMON_SOCKET")" = "600 root" ] ||
	fixture_fail "socket without its group: $(stat -c '%a %U:%G' "$DAEMON_SOCKET"), expected 600 root"
fixture_pass "a missing socket_group is reported and the socket is root's only (0600)"
state=$DAEMON_STATE/state.json

no_grants() { # what
	sl list --json >"$out" 2>"$err" || fixture_fail "$1: list failed: $(cat "$err")"
	[ "$(cat "$out")" = "[]" ] || fixture_fail "$1: grants exist: $(head -c 300 "$out")"
	[ ! -s "$ak" ] || ! grep -q sshlease: "$ak" || fixture_fail "$1: a line was written"
}

# --- no terminal, no --yes: refused, nothing granted ---
run 2 "grant without a terminal" sl grant --user "$user" --for 1h @"$FIXTURE_DIR/support.pub"
grep -q "no terminal to confirm on; re-run with --yes" "$err" ||
	fixture_fail "no terminal: $(cat "$err")"
no_grants "no terminal"
fixture_pass "without a terminal and without --yes nothing is granted (exit 2)"

# --- a real terminal: answer no, then yes ---
confirm() { # answer → exit code of sshlease, its terminal output in $out
	"$python" - "$1" "$out" "$SSHLEASE" --socket "$DAEMON_SOCKET" grant --user "$user" \
		--for 2h --ticket T-42 @"$FIXTURE_DIR/support.pub" <<'PY'
import os, pty, sys, select, time
answer, log, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
seen, sent, deadline = b"", False, time.time() + 30
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        seen += data
    if not sent and b"Grant this access? [y/N]" in seen:
        os.write(fd, answer.encode() + b"\n")
        sent = True
_, status = os.waitpid(pid, 0)
open(log, "wb").write(seen)
sys.exit(os.waitstatus_to_exitcode(status) if sent else 99)
PY
}
rc=0; confirm n || rc=$?
[ "$rc" -eq 1 ] || fixture_fail "answer n: exit $rc, expected 1: $(tail -c 400 "$out")"
for want in "account:     $user" "SHA256:" "ticket:      T-42" "Nothing was changed."; do
	grep -qF "$want" "$out" || fixture_fail "answer n: the terminal did not show '$want': $(tail -c 600 "$out")"
done
no_grants "answer n"
rc=0; confirm y || rc=$?
[ "$rc" -eq 0 ] || fixture_fail "answer y: exit $rc: $(tail -c 400 "$out")"
grep -q "BEGIN SSHLEASE GRANT" "$out" && grep -q "revoke with: sudo sshlease revoke" "$out" ||
	fixture_fail "answer y: no ticket block: $(tail -c 600 "$out")"
id=$(sed -n 's/.*grant id: *\([0-9a-f]\{12\}\).*/\1/p' "$out" | head -n 1)
[ -n "$id" ] && grep -q "sshlease:$id" "$ak" || fixture_fail "answer y: the line of grant '$id' is not in authorized_keys"
grep -q "granted $user access for key SHA256:.* (ticket T-42, grant $id, by root)" "$DAEMON_LOG" ||
	fixture_fail "the grant is not logged as one sentence: $(tail -c 600 "$DAEMON_LOG")"
fixture_pass "on a terminal: 'n' changes nothing (exit 1), 'y' grants and prints the ticket block"

# --- the key from stdin and @FILE, --json fields ---
sl grant --yes --json --user "$user" --for 1h --ticket T-43 - <"$FIXTURE_DIR/other.pub" >"$out" 2>"$err" ||
	fixture_fail "grant from stdin failed: $(cat "$err")"
for field in id user key_type fingerprint expires ticket mode from; do
	grep -q "\"$field\":" "$out" || fixture_fail "grant --json lacks \"$field\": $(head -c 400 "$out")"
done
[ "$(json_field "$out" user)" = "$user" ] && [ "$(json_field "$out" ticket)" = T-43 ] &&
	[ "$(json_field "$out" mode)" = shell ] ||
	fixture_fail "grant --json values: $(head -c 400 "$out")"
want_fp=$(ssh-keygen -l -E sha256 -f "$FIXTURE_DIR/other.pub" | cut -d' ' -f2)
[ "$(json_field "$out" fingerprint)" = "$want_fp" ] ||
	fixture_fail "grant --json fingerprint $(json_field "$out" fingerprint), ssh-keygen says $want_fp"
json_field "$out" expires | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' ||
	fixture_fail "grant --json expires is not RFC 3339 UTC: $(json_field "$out" expires)"
sl grant --yes --user "$user" --for 1h "$(cat "$FIXTURE_DIR/third.pub")" >"$out" 2>"$err" ||
	fixture_fail "grant with the key as an argument failed: $(cat "$err")"
[ "$(grep -c 'sshlease:' "$ak")" -eq 3 ] || fixture_fail "expected 3 managed lines: $(cat "$ak")"
fixture_pass "a key from an argument, @FILE and stdin; grant --json has the documented fields"

# --- revoke --all, then refusals change nothing ---
run 0 "revoke --all" sl revoke --all
no_grants "after revoke --all"
cp "$state" "$FIXTURE_DIR/state.saved"
run 3 "revoke an unknown id" sl revoke 0123456789ab
run 2 "revoke a malformed id" sl revoke not-an-id
cmp -s "$state" "$FIXTURE_DIR/state.saved" || fixture_fail "a refused revoke changed the state"
fixture_pass "revoke --all empties the file; refused revokes change nothing"

# --- check-config ---
printf '[grant]\nmax_duration = 7x\nbogus = 1\n' >"$FIXTURE_DIR/bad.conf"
chmod 0600 "$FIXTURE_DIR/bad.conf"
run 3 "check-config of a bad file" "$SSHLEASE" check-config "$FIXTURE_DIR/bad.conf"
grep -q "^$FIXTURE_DIR/bad.conf:2: " "$err" && grep -q "^$FIXTURE_DIR/bad.conf:3: " "$err" ||
	fixture_fail "check-config did not report both lines as file:line: $(cat "$err")"
run 0 "check-config of the test's config" "$SSHLEASE" check-config "$DAEMON_CONFIG"
run 3 "sshleased --check of a bad file" "$SSHLEASED" --check --config "$FIXTURE_DIR/bad.conf"
grep -q "^$FIXTURE_DIR/bad.conf:2: " "$err" && grep -q "^$FIXTURE_DIR/bad.conf:3: " "$err" ||
	fixture_fail "sshleased --check did not report both lines as file:line: $(cat "$err")"
run 0 "sshleased --check of the test's config" "$SSHLEASED" --check --config "$DAEMON_CONFIG"
run 1 "sshleased --check of a missing file" "$SSHLEASED" --check --config "$FIXTURE_DIR/missing.conf"
fixture_pass "check-config and sshleased --check report every problem as file:line (exit 3)"

# --- SIGHUP: a good config applies, a bad one keeps the old in force ---
wait_log() { # pattern what
	local i
	for ((i = 0; i < 200; i++)); do
		grep -q "$1" "$DAEMON_LOG" && return 0
		sleep 0.05
	done
	fixture_fail "$2: the daemon never logged '$1': $(tail -c 600 "$DAEMON_LOG")"
}
daemon_config_write "[grant]" "default_duration = 1h" "max_duration = 2h"
kill -HUP "$DAEMON_PID"
wait_log "configuration reloaded" "good reload"
run 3 "over the reloaded max_duration" sl grant --yes --user "$user" --for 3h @"$FIXTURE_DIR/support.pub"
grep -q "max_duration" "$err" || fixture_fail "over max_duration: $(cat "$err")"
daemon_config_write "[grant]" "default_duration = 1h" "max_duration = soon"
kill -HUP "$DAEMON_PID"
wait_log "the configuration was not reloaded" "bad reload"
grep -q "$DAEMON_CONFIG:[0-9]*: " "$DAEMON_LOG" ||
	fixture_fail "bad reload: no file:line problem in the log: $(tail -c 600 "$DAEMON_LOG")"
kill -0 "$DAEMON_PID" 2>/dev/null || fixture_fail "the daemon died on a bad config"
run 3 "the old max_duration still in force" sl grant --yes --user "$user" --for 3h @"$FIXTURE_DIR/support.pub"
run 0 "a grant within the old max_duration" sl grant --yes --user "$user" --for 1h @"$FIXTURE_DIR/support.pub"
fixture_pass "SIGHUP applies a good config and keeps the old one when the new one is bad"

# --- idle: one grant an hour away, nothing due, so no wake-ups at all ---
switches() { sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' "/proc/$DAEMON_PID/status"; }
# The grant's own after-work (the start of the account's key watch, see
# sshlease(1) PLANTED KEYS) ends within moments of the reply: let it end,
# then any wake-up in two seconds is one too many.
before=$(switches)
for ((i = 0; i < 20; i++)); do
	sleep 0.25
	now=$(switches)
	[ "$now" = "$before" ] && break
	before=$now
done
# A step of the system clock wakes it on purpose (deadlines are checked
# against the new time, and it logs that): a window with one is measured
# again, at most three times.
clock_sets() { grep -c "the system clock was set" "$DAEMON_LOG"; }
for ((try = 0; try < 3; try++)); do
	sets=$(clock_sets)
	sleep 2
	after=$(switches)
	[ "$(clock_sets)" = "$sets" ] && break
	before=$after
done
[ "$before" = "$after" ] ||
	fixture_fail "idle daemon woke up: voluntary context switches went from $before to $after in 2 s"
fixture_pass "with nothing due the daemon does not wake up"

daemon_stop
fixture_pass "CLI basics"
