#!/bin/bash
# A grant's whole life through the real daemon, the real CLI and a real
# OpenSSH sshd (DESIGN.md §3, §7, §8):
#  - grant --yes: the key logs in; revoke: it is refused and its line gone;
#  - --for 3s: the daemon removes the line within 1.5 s of the deadline it
#    reported (expires_unix), not before, records "expire", and the key is
#    refused;
#  - extend (a 5 s grant by 1m) moves the deadline and the timer: after the
#    old deadline the line is still there with the new expiry-time and the
#    key logs in;
#  - daemon stopped before a deadline: sshd itself refuses the key after it
#    (expiry-time), and the restarted daemon has removed the line by the
#    time its socket first answers, with an "expire" record;
#  - the account's own lines (comments, a blank line, options, a CRLF line,
#    no final newline) are byte-identical after all of that, and its own key
#    still logs in;
#  - audit --verify passes, then fails with exit 3 naming the line after one
#    byte of the log is changed (the next line for an edit that keeps the
#    record valid, the line itself for one that breaks it), and passes again
#    once the byte is restored.
#
# usage: test-daemon-lifecycle.sh SSHLEASED SSHLEASE
# Needs root, openssh-server, openssh-client, passwd, coreutils.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh ssh-keygen useradd usermod userdel cmp dd grep sed awk
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user sllc
user=$FIXTURE_USER
home=$FIXTURE_HOME
group=$(id -g "$user")
ak=$home/.ssh/authorized_keys
work=$FIXTURE_DIR/work
mkdir -p "$work"

fixture_keygen support
fixture_keygen owner
fixture_keygen deploy
fixture_keygen ci
support=$FIXTURE_DIR/support
owner=$FIXTURE_DIR/owner
read -r stype sblob _ <"$support.pub"
read -r otype oblob _ <"$owner.pub"
read -r dtype dblob _ <"$FIXTURE_DIR/deploy.pub"
read -r ctype cblob _ <"$FIXTURE_DIR/ci.pub"

# The account's own file: a comment, a blank line, a plain key, a key with
# options on a CRLF line, and a last line with options and no final newline.
orig=$work/authorized_keys.orig
{
	printf '# keys of the shop owner\n\n'
	printf '%s %s owner@laptop\n' "$otype" "$oblob"
	printf 'no-port-forwarding,from="192.0.2.7" %s %s deploy@ci\r\n' "$dtype" "$dblob"
	printf 'command="echo hi",no-pty %s %s ci@build' "$ctype" "$cblob"
} >"$orig"
install -d -o "$user" -g "$group" -m 0700 "$home/.ssh"
install -o "$user" -g "$group" -m 0600 "$orig" "$ak"

fixture_sshd_start
daemon_config_write "[grant]" "users = $user" "max_duration = 7d"
daemon_start

# --- helpers ---

expect_login() { # key what
	local rc=0
	fixture_ssh_login "$1" "$user" echo logged-in >"$work/ssh.out" || rc=$?
	[ "$rc" -eq 0 ] && grep -qx 'logged-in' "$work/ssh.out" ||
		fixture_fail "$2: login refused or failed (ssh rc=$rc)"
}

expect_refused() { # key what
	local rc=0
	fixture_ssh_login "$1" "$user" || rc=$?
	[ "$rc" -eq 255 ] && grep -q 'Permission denied (publickey)' "$FIXTURE_SSH_ERR" ||
		fixture_fail "$2: expected 'Permission denied (publickey)' (ssh rc 255), got rc=$rc"
}

# Grant with --yes --json; sets G_ID and G_EXPIRES (unix seconds).
grant() { # args...
	local rc=0
	sl grant --yes --json "$@" >"$work/grant.json" 2>"$work/grant.err" || rc=$?
	[ "$rc" -eq 0 ] ||
		fixture_fail "grant $*: exit $rc: $(head -c 400 "$work/grant.err")"
	G_ID=$(json_field "$work/grant.json" id)
	G_EXPIRES=$(json_field "$work/grant.json" expires_unix)
	[[ $G_ID =~ ^[0-9a-f]{12}$ ]] ||
		fixture_fail "grant: no id in $(head -c 400 "$work/grant.json")"
	[[ $G_EXPIRES =~ ^[0-9]+$ ]] ||
		fixture_fail "grant: no expires_unix in $(head -c 400 "$work/grant.json")"
}

# The exact line the daemon must have written for the support key.
managed_line() { # id deadline
	printf 'restrict,pty,expiry-time="%s" %s %s sshlease:%s' \
		"$(date -u -d "@$2" +%Y%m%d%H%M%SZ)" "$stype" "$sblob" "$1"
}

expect_line() { # id deadline what
	grep -qxF "$(managed_line "$1" "$2")" "$ak" ||
		fixture_fail "$3: the line for grant $1 (expiry $2) is not in authorized_keys:
$(fixture_hexdump "$ak")"
	[ "$(grep -c "sshlease:" "$ak")" -eq 1 ] ||
		fixture_fail "$3: expected exactly one managed line:
$(fixture_hexdump "$ak")"
}

expect_no_line() { # id what
	! grep -q "sshlease:$1" "$ak" ||
		fixture_fail "$2: the line of grant $1 is still in authorized_keys"
}

expect_original() { # what
	cmp -s "$orig" "$ak" ||
		fixture_fail "$1: the account's own lines changed:
--- expected
$(fixture_hexdump "$orig")
--- found
$(fixture_hexdump "$ak")"
}

# The audit log has a record of event for grant id (after line `after`).
expect_audit() { # event id what [after-line]
	local n tries=0
	# The record follows the line's removal within one round of the
	# daemon's loop: wait for it (bounded), do not time it.
	while :; do
		n=$(grep -n "\"event\":\"$1\",\"id\":\"$2\"" "$DAEMON_AUDIT" | tail -n 1 | cut -d: -f1)
		[ -z "$n" ] && [ "$tries" -lt 100 ] || break
		tries=$((tries + 1))
		sleep 0.1
	done
	[ -n "$n" ] || fixture_fail "$3: no \"$1\" audit record for grant $2"
	[ "$n" -gt "${4:-0}" ] ||
		fixture_fail "$3: the \"$1\" record of $2 is at line $n, not after line $4"
}

# Wait until the line of id is gone; fail if it is still there 1.5 s after
# deadline (unix seconds) or gone before it. Sets GONE_NS.
wait_line_gone() { # id deadline what
	local deadline_ns=$(($2 * 1000000000))
	local limit_ns=$((deadline_ns + 1500000000))
	local now
	while grep -q "sshlease:$1" "$ak"; do
		now=$(now_ns)
		[ "$now" -le "$limit_ns" ] ||
			fixture_fail "$3: line of grant $1 still present 1.5 s after its deadline $2"
		sleep 0.05
	done
	GONE_NS=$(now_ns)
	[ "$GONE_NS" -ge "$deadline_ns" ] ||
		fixture_fail "$3: line of grant $1 removed before its deadline ($GONE_NS ns < $deadline_ns ns)"
}

# --- the account's own key works before anything happens ---
expect_login "$owner" "owner key before any grant"
expect_refused "$support" "support key before any grant"

# --- grant, log in, revoke ---
grant --user "$user" --for 10m --ticket T-1001 "@$support.pub"
id=$G_ID
expect_line "$id" "$G_EXPIRES" "after grant"
[ "$(json_field "$work/grant.json" user)" = "$user" ] || fixture_fail "grant --json: wrong user"
[ "$(json_field "$work/grant.json" ticket)" = "T-1001" ] || fixture_fail "grant --json: wrong ticket"
expect_login "$support" "granted key"
expect_login "$owner" "owner key beside a grant"
expect_audit grant "$id" "after grant"
sl list --json >"$work/list.json" || fixture_fail "list failed"
grep -q "\"id\":\"$id\"" "$work/list.json" || fixture_fail "list does not show grant $id"

sl revoke "$id" >"$work/revoke.out" 2>"$work/revoke.err" ||
	fixture_fail "revoke $id failed: $(head -c 400 "$work/revoke.err")"
grep -q "^Revoked $id" "$work/revoke.out" || fixture_fail "revoke did not say 'Revoked $id'"
expect_no_line "$id" "after revoke"
expect_original "after revoke"
expect_refused "$support" "revoked key"
expect_audit revoke "$id" "after revoke"
rc=0
sl revoke "$id" 2>"$work/revoke.err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "revoking a revoked grant: exit $rc, expected 3"
fixture_pass "grant, login, revoke"

# --- expiry by the daemon's timer ---
grant --user "$user" --for 3s "@$support.pub"
id=$G_ID
expires=$G_EXPIRES
expect_line "$id" "$expires" "after a 3 s grant"
wait_line_gone "$id" "$expires" "timer expiry"
fixture_log "grant $id: line gone $(((GONE_NS - expires * 1000000000) / 1000000)) ms after its deadline"
expect_original "after expiry"
expect_audit expire "$id" "after expiry"
expect_refused "$support" "expired key"
fixture_pass "expiry at the deadline"

# --- extend moves the deadline and the timer ---
# 5 s (not 3) leaves the extend a margin on a loaded machine.
grant --user "$user" --for 5s "@$support.pub"
id=$G_ID
old=$G_EXPIRES
sl extend "$id" --for 1m --json >"$work/extend.json" 2>"$work/extend.err" ||
	fixture_fail "extend failed: $(head -c 400 "$work/extend.err")"
new=$(json_field "$work/extend.json" expires_unix)
[[ $new =~ ^[0-9]+$ ]] && [ "$new" -ge $((old + 50)) ] ||
	fixture_fail "extend: expires_unix '$new' is not about a minute after $old"
[ "$(json_field "$work/extend.json" id)" = "$id" ] || fixture_fail "extend changed the grant id"
expect_line "$id" "$new" "after extend"
! grep -qF "expiry-time=\"$(date -u -d "@$old" +%Y%m%d%H%M%SZ)\"" "$ak" ||
	fixture_fail "after extend: the old expiry-time is still in the file"
# Past the old deadline (and past the second sshd would refuse it at).
while [ "$(now_ns)" -le $(((old + 1) * 1000000000 + 500000000)) ]; do sleep 0.1; done
expect_line "$id" "$new" "after the old deadline of an extended grant"
expect_login "$support" "extended key after its old deadline"
expect_audit extend "$id" "after extend"
sl revoke "$id" >/dev/null 2>"$work/revoke.err" ||
	fixture_fail "revoke after extend failed: $(head -c 400 "$work/revoke.err")"
expect_no_line "$id" "revoke after extend"
expect_original "after extend and revoke"
expect_refused "$support" "extended then revoked key"
fixture_pass "extend"

# --- daemon stopped over a deadline ---
grant --user "$user" --for 5s "@$support.pub"
id=$G_ID
expires=$G_EXPIRES
expect_line "$id" "$expires" "before stopping the daemon"
daemon_stop
# One line says it stopped (the stop event's sentence), not two.
stops=$(grep -c 'stopped' "$DAEMON_LOG")
[ "$stops" -eq 1 ] ||
	fixture_fail "stopping logged $stops lines saying stopped, not 1: $(grep 'stopped' "$DAEMON_LOG")"
# sshd refuses an entry once expiry-time < now, i.e. from deadline + 1 s.
while [ "$(date +%s)" -le "$expires" ]; do sleep 0.1; done
expect_line "$id" "$expires" "daemon stopped, after the deadline"
log_lines=$(wc -l <"$FIXTURE_SSHD_LOG")
expect_refused "$support" "expired key while the daemon is stopped"
tail -n +"$((log_lines + 1))" "$FIXTURE_SSHD_LOG" | grep -q 'entry expired at' ||
	fixture_fail "sshd did not refuse the key for its expiry-time ('entry expired at' not logged)"
audit_lines=$(wc -l <"$DAEMON_AUDIT")
daemon_start
# daemon_start returned at the first status answer: recovery ran before.
expect_no_line "$id" "the restarted daemon's first answer"
expect_original "after recovery"
expect_audit expire "$id" "recovery" "$audit_lines"
grep -q '"event":"start"' <(tail -n +"$((audit_lines + 1))" "$DAEMON_AUDIT") ||
	fixture_fail "no start record after the restart"
fixture_pass "expiry while the daemon is stopped"

# --- the account's own lines and key, after all of the above ---
expect_original "at the end"
expect_login "$owner" "owner key at the end"
fixture_pass "the account's own lines are byte-identical"

# --- audit --verify, then one changed byte ---
sl audit --verify >"$work/verify.out" 2>"$work/verify.err" ||
	fixture_fail "audit --verify failed on an untouched log: $(head -c 400 "$work/verify.err")"
lines=$(wc -l <"$DAEMON_AUDIT")
[ "$lines" -ge 4 ] || fixture_fail "the audit log has only $lines lines"

byte_at() { # file offset
	dd if="$1" bs=1 skip="$2" count=1 status=none
}
put_byte() { # file offset char
	printf '%s' "$3" | dd of="$1" bs=1 seek="$2" count=1 conv=notrunc status=none
}
expect_broken() { # line what
	local rc=0
	sl audit --verify >"$work/verify.out" 2>"$work/verify.err" || rc=$?
	[ "$rc" -eq 3 ] ||
		fixture_fail "$2: audit --verify exit $rc, expected 3: $(head -c 400 "$work/verify.err")"
	grep -q "line $1\b" "$work/verify.err" ||
		fixture_fail "$2: audit --verify does not name line $1: $(head -c 400 "$work/verify.err")"
}

# A digit of line 2's time: the record stays valid, so the break shows at
# line 3, whose prev no longer matches.
match=$(grep -b -o '"time":"[^"]*"' "$DAEMON_AUDIT" | sed -n 2p)
offset=$((${match%%:*} + 8 + 18))
digit=$(byte_at "$DAEMON_AUDIT" "$offset")
[[ $digit =~ ^[0-9]$ ]] || fixture_fail "expected a digit at offset $offset, found '$digit'"
put_byte "$DAEMON_AUDIT" "$offset" "$(((digit + 1) % 10))"
expect_broken 3 "one digit of line 2 changed"
put_byte "$DAEMON_AUDIT" "$offset" "$digit"
sl audit --verify >/dev/null 2>"$work/verify.err" ||
	fixture_fail "audit --verify fails after the byte was restored: $(head -c 400 "$work/verify.err")"

# The opening brace of line 2: no longer a record, reported at line 2.
line2=$(($(head -n 1 "$DAEMON_AUDIT" | wc -c)))
[ "$(byte_at "$DAEMON_AUDIT" "$line2")" = "{" ] || fixture_fail "line 2 does not start with {"
put_byte "$DAEMON_AUDIT" "$line2" "X"
expect_broken 2 "the first byte of line 2 changed"
sl status >/dev/null || fixture_fail "the daemon stopped serving after a verify failure"
put_byte "$DAEMON_AUDIT" "$line2" "{"
fixture_pass "audit --verify detects a changed byte"

daemon_stop
fixture_pass "daemon lifecycle end to end"
