#!/bin/bash
# Nothing is lost from the audit log without a record of it: with the
# log's file system full, the records that cannot be written are held and
# written, after an audit_delayed record, as soon as there is room again
# (audit --verify: intact); a log deleted with its head file while the
# daemon is stopped is noticed at start from the position the state
# remembers, recorded as audit_gap, and reported by audit --verify.
#
# usage: test-daemon-audit-gaps.sh SSHLEASED SSHLEASE
# Needs root (mount), openssh-client (ssh-keygen), passwd.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh-keygen useradd userdel mount umount dd
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user slag
user=$FIXTURE_USER
for k in a b c; do
	fixture_keygen "$k"
done
work=$FIXTURE_DIR/work
mkdir -p "$work"
logdir=$(dirname "$DAEMON_AUDIT")
mkdir -p "$logdir"
chmod 0750 "$logdir"
mount -t tmpfs -o size=512k,mode=0750 sshlease-test "$logdir" || fixture_fail "cannot mount a tmpfs on $logdir"
fixture_on_exit "umount '$logdir' 2>/dev/null"

daemon_config_write "[grant]" "users = $user"
daemon_start

grant() { # key: exit code
	sl grant --yes --json --user "$user" --for 10m "@$FIXTURE_DIR/$1.pub" >"$work/grant.json" 2>"$work/grant.err"
}
grant a || fixture_fail "grant a: $(head -c 300 "$work/grant.err")"
id_a=$(json_field "$work/grant.json" id)

# --- the disk fills up ---
dd if=/dev/zero of="$logdir/filler" bs=4k 2>/dev/null
# The log's last page may still have room: refusals (each recorded) use it
# up until a record no longer fits.
for ((i = 0; i < 40; i++)); do
	before=$(wc -l <"$DAEMON_AUDIT")
	sl grant --yes --user root --for 10m "@$FIXTURE_DIR/a.pub" >/dev/null 2>&1
	[ "$(wc -l <"$DAEMON_AUDIT")" -eq "$before" ] && break
done
lines_full=$(wc -l <"$DAEMON_AUDIT")
sl revoke "$id_a" >"$work/out" 2>"$work/err" || fixture_fail "revoke with the log's disk full: $(head -c 300 "$work/err")"
[ "$(wc -l <"$DAEMON_AUDIT")" -eq "$lines_full" ] || fixture_fail "a record was written although the disk is full (nothing was tested)"
rc=0
grant b || rc=$?
[ "$rc" -ne 0 ] || fixture_fail "a grant was made although its record could not be written"
rm -f "$logdir/filler"
grant c || fixture_fail "grant c after the disk had room again: $(head -c 300 "$work/grant.err")"
id_c=$(json_field "$work/grant.json" id)
grep -q '"event":"audit_delayed".*could not be written from' "$DAEMON_AUDIT" ||
	fixture_fail "no audit_delayed record: $(tail -n 3 "$DAEMON_AUDIT")"
tail -n +"$((lines_full + 1))" "$DAEMON_AUDIT" | grep -o '"event":"[a-z_-]*","id":"[0-9a-f]*"\|"event":"audit_delayed"' >"$work/after"
grep -q "\"event\":\"revoke\",\"id\":\"$id_a\"" "$work/after" || fixture_fail "the held revoke record was not written: $(cat "$work/after")"
grep -q "\"event\":\"grant\",\"id\":\"$id_c\"" "$work/after" || fixture_fail "the grant record is missing: $(cat "$work/after")"
[ "$(head -n 1 "$work/after")" = '"event":"audit_delayed"' ] ||
	fixture_fail "the held records do not follow the audit_delayed record: $(cat "$work/after")"
# The grant refused on the full disk is on record once written, and so is
# its withdrawal: no grant record without an end or a live grant.
sl list --json >"$work/list.json" || fixture_fail "list failed"
for g in $(grep -o '"event":"grant","id":"[0-9a-f]*"' "$DAEMON_AUDIT" | sed 's/.*"id":"//; s/"//'); do
	grep -qE "\"event\":\"(revoke|expire|line-missing)\",\"id\":\"$g\"" "$DAEMON_AUDIT" ||
		grep -qF "\"id\":\"$g\"" "$work/list.json" ||
		fixture_fail "grant $g has a grant record, no end record and no live grant"
done
[ "$(grep -c '"event":"grant"' "$DAEMON_AUDIT")" -eq 3 ] ||
	fixture_fail "expected the grant records of a, b (refused, written late) and c: $(grep -c '"event":"grant"' "$DAEMON_AUDIT")"
sl audit --verify >"$work/out" 2>"$work/err" || fixture_fail "audit --verify after the delay: $(head -c 300 "$work/err")"
fixture_pass "records that could not be written on a full disk are written, after an audit_delayed record, once there is room; the chain is intact"

# --- the log and its head deleted while the daemon is stopped ---
daemon_stop
rm -f "$DAEMON_AUDIT" "$DAEMON_AUDIT.head"
daemon_start
grep -q '"event":"audit_gap".*the audit log lost records: the state was saved after record' "$DAEMON_AUDIT" ||
	fixture_fail "no audit_gap record after the log was deleted: $(head -c 400 "$DAEMON_AUDIT")"
rc=0
sl audit --verify >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "audit --verify of a log that lost records: exit $rc, expected 3: $(cat "$work/out" "$work/err" | head -c 300)"
grep -q "records were lost" "$work/out" "$work/err" ||
	fixture_fail "audit --verify does not say records were lost: $(cat "$work/out" "$work/err" | head -c 300)"
fixture_pass "a log deleted with its head file is noticed at start (audit_gap), and audit --verify reports it"
