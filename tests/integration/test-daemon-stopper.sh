#!/bin/bash
# The account cannot stall the work on its own files (become.h): while a
# process of the account loops kill(-1, SIGSTOP), and then kill(-1,
# SIGKILL), a revoke succeeds at once, its key no longer logs in, a key the
# grantee plants is still removed within a second, and the daemon never
# has to give up on an engine process ("did not answer"); a loop touching
# its authorized_keys does not keep a revoke from landing either. (The
# engine's ids themselves are read by the authkeys unit test.)
#
# usage: test-daemon-stopper.sh SSHLEASED SSHLEASE
# Needs root, openssh-server, openssh-client, passwd.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh ssh-keygen useradd userdel su pkill perl
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user slso
other=$FIXTURE_USER
other_ak=$FIXTURE_HOME/.ssh/authorized_keys
fixture_add_user slst
user=$FIXTURE_USER
home=$FIXTURE_HOME
for k in support1 support2 support3 planted1 planted2; do
	fixture_keygen "$k"
done
ak=$home/.ssh/authorized_keys
install -d -o "$user" -g "$(id -g "$user")" -m 0700 "$home/.ssh"
printf '# the owner\n' >"$ak"
chown "$user:$(id -g "$user")" "$ak"
chmod 0600 "$ak"
work=$FIXTURE_DIR/work
mkdir -p "$work"

log=$FIXTURE_DIR/sshd.log
fixture_sshd_start_elog "$log"
daemon_config_write "[grant]" "users = $user, $other" "[sshd]" "log = $log"
daemon_start

login() { # key: 0 when it gets in
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityAgent=none -o PreferredAuthentications=publickey \
		-o ConnectTimeout=5 -o LogLevel=ERROR -i "$FIXTURE_DIR/$1" \
		-p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" true </dev/null 2>/dev/null
}
grant() { # key
	local rc=0
	sl grant --yes --json --user "$user" --for 10m "@$FIXTURE_DIR/$1.pub" >"$work/grant.json" 2>"$work/grant.err" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "grant $1: exit $rc: $(head -c 400 "$work/grant.err")"
	G_ID=$(json_field "$work/grant.json" id)
}
no_line() { # key
	! grep -qF "$(awk '{print $2}' "$FIXTURE_DIR/$1.pub")" "$ak"
}
# Written by root as the account would: the account's own processes are
# being stopped or killed by the loop.
plant() { # key
	printf '%s\n' "$(cat "$FIXTURE_DIR/$1.pub")" >>"$ak"
}
stopper=
start_loop() { # signal
	su -s /bin/bash "$user" -c "while :; do kill -$1 -1 2>/dev/null; done" </dev/null >/dev/null 2>&1 &
	stopper=$!
	sleep 0.5
}
stop_loop() {
	kill "$stopper" 2>/dev/null
	pkill -KILL -u "$user" 2>/dev/null
	wait "$stopper" 2>/dev/null
	pkill -CONT -u "$user" 2>/dev/null
	stopper=
}
fixture_on_exit 'kill $stopper 2>/dev/null; pkill -KILL -u "'"$user"'" 2>/dev/null'
gave_up() { grep -q "did not answer within" "$DAEMON_LOG"; }

# Each signal: a grant made before the loop, revoked under it; a planted
# line removed under it; a grant made and revoked under it.
round() { # signal key-before planted key-during
	local before during rc=0
	grant "$2"
	before=$G_ID
	login "$2" || fixture_fail "$2: the grant's key does not log in"
	start_loop "$1"
	plant "$3"
	fixture_wait_for "the line planted under a SIG$1 loop to be removed" no_line "$3"
	sl revoke "$before" >"$work/out" 2>"$work/err" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "revoke under a SIG$1 loop: exit $rc: $(head -c 300 "$work/err")"
	no_line "$2" || fixture_fail "the revoke under a SIG$1 loop left the key in $ak"
	grant "$4"
	during=$G_ID
	rc=0
	sl revoke "$during" >"$work/out" 2>"$work/err" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "a grant made under a SIG$1 loop did not revoke: exit $rc: $(head -c 300 "$work/err")"
	no_line "$4" || fixture_fail "the revoke of the grant made under a SIG$1 loop left its key"
	gave_up && fixture_fail "the daemon gave up on an engine process under a SIG$1 loop: $(grep "did not answer" "$DAEMON_LOG" | head -n 2)"
	stop_loop
	login "$2" && fixture_fail "$2 still logs in after its revoke under a SIG$1 loop"
	login "$3" && fixture_fail "the line planted under a SIG$1 loop logs in"
	[ "$(head -n 1 "$ak")" = "# the owner" ] || fixture_fail "the owner's line is gone: $(head -c 200 "$ak")"
	return 0
}
round STOP support1 planted1 support2
fixture_pass "under a kill(-1, SIGSTOP) loop of the account's, revokes and the removal of a planted key are made at once"
round KILL support3 planted2 support1
fixture_pass "under a kill(-1, SIGKILL) loop of the account's, revokes and the removal of a planted key are made at once"

# --- the account touches its authorized_keys in a loop (utimensat): the
#     compare-and-swap goes by the bytes, so the revoke still lands ---
grant support3
touched=$G_ID
# perl (perl-base, in every Debian) for a loop fast enough to change the
# times between every read and rename.
su -s /bin/sh "$user" -c "exec perl -e 'utime(undef, undef, \$ARGV[0]) while 1' '$ak'" </dev/null >/dev/null 2>&1 &
stopper=$!
sleep 0.5
rc=0
sl revoke "$touched" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 0 ] || fixture_fail "revoke under a touch loop: exit $rc: $(head -c 300 "$work/err")"
no_line support3 || fixture_fail "the revoke under a touch loop left the key"
stop_loop
# ...or keeps changing its mode (through 64 modes sshd accepts, so that
# the mode seldom is the one read when the edit is checked).
grant support3
touched=$G_ID
su -s /bin/sh "$user" -c "exec perl -e 'my @m = grep { (\$_ & 0400) && !(\$_ & 022) } 0 .. 0777; for (my \$i = 0;; \$i++) { chmod(\$m[\$i % @m], \$ARGV[0]) }' '$ak'" </dev/null >/dev/null 2>&1 &
stopper=$!
sleep 0.5
rc=0
sl revoke "$touched" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 0 ] || fixture_fail "revoke under a chmod loop: exit $rc: $(head -c 300 "$work/err")"
no_line support3 || fixture_fail "the revoke under a chmod loop left the key"
stop_loop
chmod 0600 "$ak"
fixture_pass "a revoke lands while the account touches or chmods its authorized_keys in a loop"

# --- the account makes its ~/.ssh read-only: the revoke cannot remove
#     the line. It says why; the failure is on record and in status and
#     list; the other account's grant is revoked all the same; and once
#     the directory is writable again the daemon's retry removes the line
#     without anyone asking ---
grant support1
blocked=$G_ID
sl grant --yes --json --user "$other" --for 10m "@$FIXTURE_DIR/support2.pub" >"$work/grant.json" 2>"$work/grant.err" ||
	fixture_fail "grant to $other: $(head -c 300 "$work/grant.err")"
su -s /bin/sh "$user" -c "chmod 0500 '$home/.ssh'" || fixture_fail "the account could not chmod its ~/.ssh"
rc=0
sl revoke --all >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -ne 0 ] || fixture_fail "revoke --all succeeded although $user's ~/.ssh is read-only"
grep -q "cannot remove the line of grant $blocked now: .*tries again in" "$work/err" ||
	fixture_fail "the failed revoke did not say why and what comes next: $(head -c 400 "$work/err")"
grep -qF "$(awk '{print $2}' "$FIXTURE_DIR/support2.pub")" "$other_ak" &&
	fixture_fail "the other account's grant was not revoked with the failing one"
no_line support1 && fixture_fail "the line went although ~/.ssh is read-only (nothing was tested)"
grep '"event":"removal_failed"' "$DAEMON_AUDIT" | grep -qF "\"id\":\"$blocked\"" ||
	fixture_fail "no removal_failed record for $blocked"
# Asked again while it waits for its next try: the same answer at once,
# without another edit (no second removal_failed record).
rc=0
sl revoke "$blocked" >"$work/out" 2>"$work/err2" || rc=$?
[ "$rc" -ne 0 ] && grep -q "already failing, 1 attempt" "$work/err2" ||
	fixture_fail "a second revoke of the failing grant: exit $rc: $(head -c 300 "$work/err2")"
[ "$(grep '"event":"removal_failed"' "$DAEMON_AUDIT" | grep -cF "\"id\":\"$blocked\"")" -eq 1 ] ||
	fixture_fail "the second revoke ran the edit again"
sl status >"$work/status" || fixture_fail "status failed"
grep -q "failing: *1 grant ended but its line could not be removed yet" "$work/status" ||
	fixture_fail "status does not show the failing removal: $(cat "$work/status")"
sl list >"$work/list" || fixture_fail "list failed"
grep -q "grant $blocked has ended, but its line could not be removed yet" "$work/list" ||
	fixture_fail "list does not show the failing removal: $(cat "$work/list")"
su -s /bin/sh "$user" -c "chmod 0700 '$home/.ssh'"
# The tries come 5, 10, 20 s apart: up to 40 s.
for ((i = 0; i < 400; i++)); do
	no_line support1 && break
	sleep 0.1
done
no_line support1 || fixture_fail "the line is still there 40 s after ~/.ssh became writable again"
fixture_wait_for "the grant's end record" grep -q "\"event\":\"expire\".*\"id\":\"$blocked\"" "$DAEMON_AUDIT"
login support1 && fixture_fail "the key still logs in after the retry removed it"
[ "$(head -n 1 "$ak")" = "# the owner" ] || fixture_fail "the owner's line is gone: $(head -c 200 "$ak")"
fixture_pass "a revoke the account blocks says why, is on record and in status and list, spares no other grant, and is retried until the line is gone"
