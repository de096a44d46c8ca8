#!/bin/bash
# sshlease doctor against a real OpenSSH sshd and the real sshleased
# (issue 5):
#  - a healthy setup (fixture sshd, a fresh account, sshleased running):
#    --json reports "ok": true with no failed check, sshd-reachable and
#    daemon-answers ok, exit 0; the text form prints one "ok  NAME  message"
#    line per check; without --socket the daemon's socket is taken from
#    --config;
#  - the daemon stopped: daemon-answers fails with the start hint, exit 1;
#    started again: it passes;
#  - sshd with PubkeyAuthentication no for the account (a Match block):
#    pubkey-authentication fails and blocks a grant, exit 1, and the text
#    form says that a grant for the account would be refused;
#  - a config with problems is reported as a failed "config" check;
#  - --sshd naming no sshd makes sshd-config fail; --sshd must be absolute;
#  - not root: the note on stderr and sshd-config only warns.
#
# usage: test-cli-doctor.sh SSHLEASE SSHLEASED
# Needs root, openssh-server, openssh-client (ssh-keygen), passwd.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh-keygen useradd usermod userdel setpriv grep sed
fixture_init
daemon_init "${2:-}" "${1:-}"
fixture_add_user sldr
user=$FIXTURE_USER
work=$FIXTURE_DIR/work
sshd_config=$FIXTURE_DIR/sshd/sshd_config
mkdir -p "$work"

# doctor through the CLI; stdout in $work/out, stderr in $work/err; rc.
doctor() { # args...
	"$SSHLEASE" doctor --config "$DAEMON_CONFIG" --sshd-config "$sshd_config" \
		"$@" >"$work/out" 2>"$work/err"
}

expect_doctor() { # rc what args...
	local want=$1 what=$2 rc=0
	shift 2
	doctor "$@" || rc=$?
	[ "$rc" -eq "$want" ] ||
		fixture_fail "$what: doctor exited $rc, expected $want
stdout: $(head -c 3000 "$work/out")
stderr: $(head -c 600 "$work/err")"
}

check_status() { # name status what: the --json output has this check so
	grep -qF "{\"name\":\"$1\",\"status\":\"$2\"," "$work/out" ||
		fixture_fail "$3: check $1 is not $2: $(head -c 3000 "$work/out")"
}

no_failure() { # what
	! grep -qF '"status":"fail"' "$work/out" && grep -q '^{"ok":true,' "$work/out" ||
		fixture_fail "$1: a check failed: $(head -c 3000 "$work/out")"
}

fixture_sshd_start
daemon_config_write
daemon_start

# 1. Healthy.
expect_doctor 0 "healthy" --user "$user" --json
no_failure "healthy"
for name in sshd-reachable sshd-config pubkey-authentication authorized-keys-file \
	user-allowed account login-shell home-permissions daemon-answers; do
	check_status "$name" ok "healthy"
done
grep -qF "answers on 127.0.0.1 port $FIXTURE_SSHD_PORT" "$work/out" ||
	fixture_fail "healthy: sshd-reachable does not name the fixture port: $(head -c 600 "$work/out")"
grep -qF "answers on $DAEMON_SOCKET" "$work/out" ||
	fixture_fail "healthy: daemon-answers did not ask the config's socket: $(head -c 3000 "$work/out")"
expect_doctor 0 "healthy, text" --user "$user"
grep -Eq '^ok +daemon-answers +sshleased .* answers on ' "$work/out" &&
	grep -Eq '^ok +pubkey-authentication +PubkeyAuthentication is yes' "$work/out" &&
	grep -Eq '^[0-9]+ ok, [0-9]+ warnings?, 0 failures\.$' "$work/out" ||
	fixture_fail "healthy, text: $(cat "$work/out")"
! grep -q $'\033' "$work/out" || fixture_fail "colour codes in output that is not a terminal"
"$SSHLEASE" --socket "$DAEMON_SOCKET" doctor --config "$DAEMON_CONFIG" \
	--sshd-config "$sshd_config" --sshd /usr/sbin/sshd --json >"$work/out" 2>"$work/err" ||
	fixture_fail "healthy, host-wide, --socket: $(head -c 3000 "$work/out")"
check_status daemon-answers ok "--socket"
grep -qF '"name":"account"' "$work/out" && fixture_fail "host-wide: an account check without --user"
fixture_pass "healthy setup: no failure, exit 0; sshd and the daemon answer"

# 2. The daemon stopped, then started again.
daemon_stop
expect_doctor 1 "daemon stopped" --user "$user" --json
check_status daemon-answers fail "daemon stopped"
grep -q '^{"ok":false,' "$work/out" && grep -qF 'sudo systemctl start sshleased' "$work/out" ||
	fixture_fail "daemon stopped: no start hint: $(head -c 3000 "$work/out")"
[ "$(grep -o '"status":"fail"' "$work/out" | wc -l)" -eq 1 ] ||
	fixture_fail "daemon stopped: more than daemon-answers failed: $(head -c 3000 "$work/out")"
expect_doctor 1 "daemon stopped, text" --user "$user"
grep -Eq '^fail +daemon-answers +sshleased does not answer on ' "$work/out" &&
	grep -Eq '^ +fix: Start it: sudo systemctl start sshleased' "$work/out" ||
	fixture_fail "daemon stopped, text: $(cat "$work/out")"
daemon_start
expect_doctor 0 "daemon started again" --user "$user" --json
check_status daemon-answers ok "daemon started again"
fixture_pass "daemon-answers fails with the daemon stopped (exit 1) and passes once it runs"

# 3. PubkeyAuthentication no for the account.
fixture_sshd_stop
fixture_sshd_start "Match User $user" "PubkeyAuthentication no"
expect_doctor 1 "PubkeyAuthentication no" --user "$user" --json
check_status pubkey-authentication fail "PubkeyAuthentication no"
grep -qF '{"name":"pubkey-authentication","status":"fail",' "$work/out" &&
	grep -q '"name":"pubkey-authentication","status":"fail","message":"[^"]*","fix":"[A-Z][^"]*\.","blocks_grant":true}' "$work/out" ||
	fixture_fail "PubkeyAuthentication no: not a grant blocker with a fix: $(head -c 3000 "$work/out")"
[ "$(grep -o '"status":"fail"' "$work/out" | wc -l)" -eq 1 ] ||
	fixture_fail "PubkeyAuthentication no: more than one failure: $(head -c 3000 "$work/out")"
expect_doctor 1 "PubkeyAuthentication no, text" --user "$user"
grep -Eq '^fail +pubkey-authentication ' "$work/out" &&
	grep -qF "A grant for $user would be refused because of: pubkey-authentication" "$work/out" ||
	fixture_fail "PubkeyAuthentication no, text: $(cat "$work/out")"
fixture_sshd_stop
fixture_sshd_start
expect_doctor 0 "PubkeyAuthentication back" --user "$user" --json
no_failure "PubkeyAuthentication back"
fixture_pass "PubkeyAuthentication no: pubkey-authentication fails and blocks a grant"

# 4. A config with problems; an sshd that is not there.
printf '[grant]\nno_such_key = 1\n' >"$work/broken.conf"
chmod 0600 "$work/broken.conf"
rc=0
"$SSHLEASE" --socket "$DAEMON_SOCKET" doctor --config "$work/broken.conf" \
	--sshd-config "$sshd_config" --json >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 1 ] || fixture_fail "broken config: exit $rc"
check_status config fail "broken config"
grep -qF 'no_such_key' "$work/out" || fixture_fail "broken config: the problem is not named: $(cat "$work/out")"
expect_doctor 1 "no sshd binary" --sshd "$FIXTURE_DIR/no-sshd" --json
check_status sshd-config fail "no sshd binary"
expect_doctor 2 "relative --sshd" --sshd sbin/sshd
grep -q -- '--sshd needs an absolute path' "$work/err" || fixture_fail "relative --sshd: $(cat "$work/err")"
fixture_pass "a broken config and a missing sshd binary are failures; --sshd must be absolute"

# 5. Not root: the unprivileged checks warn, and doctor says why.
if setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$SSHLEASE"; then
	rc=0
	setpriv --reuid=65534 --regid=65534 --clear-groups "$SSHLEASE" \
		--socket "$DAEMON_SOCKET" doctor --sshd-config "$sshd_config" \
		--config /dev/null >"$work/out" 2>"$work/err" || rc=$?
	grep -q '^sshlease: note: not running as root' "$work/err" &&
		grep -Eq '^warn +sshd-config +sshd -T needs root' "$work/out" ||
		fixture_fail "not root (exit $rc): stdout: $(cat "$work/out") stderr: $(cat "$work/err")"
	fixture_pass "not root: a note, and sshd-config warns instead of failing"
else
	echo "skipped: the unprivileged run (nobody cannot execute $SSHLEASE)"
fi
