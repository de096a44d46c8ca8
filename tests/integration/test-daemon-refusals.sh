#!/bin/bash
# Bad input gets a clear error and changes nothing (DESIGN.md §6), through
# the real CLI and the real daemon: every case of §6 exits 3 with a reason,
# and afterwards the account's authorized_keys and the daemon's state.json
# are byte-identical, the audit log is the old log plus at most the one
# "refuse" record of that attempt, and the daemon still answers. Then
# protocol abuse straight at the socket (garbage, a non-object, unknown op
# and fields, a 70 KiB message, an empty message, a client that hangs up
# before the answer, clients that connect and stay silent while another is
# served): each gets its error or is closed, nothing changes, and the
# daemon keeps serving; a silent client is disconnected. Finally audit
# --verify passes over all the refusal records.
#
# usage: test-daemon-refusals.sh SSHLEASED SSHLEASE PYTHON3
# Needs root, openssh-client (ssh-keygen), passwd, python3.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

python=${3:-}
fixture_require_root
fixture_require_cmd ssh-keygen useradd usermod userdel cmp
[ -n "$python" ] && [ -x "$python" ] || fixture_fail "usage: $0 SSHLEASED SSHLEASE PYTHON3"
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user slrf
user=$FIXTURE_USER
home=$FIXTURE_HOME
fixture_add_user slro
outsider=$FIXTURE_USER
ak=$home/.ssh/authorized_keys
work=$FIXTURE_DIR/work
mkdir -p "$work"

fixture_keygen live
fixture_keygen support
fixture_keygen other
fixture_keygen owner
fixture_keygen ca
ssh-keygen -q -t rsa -b 2048 -N '' -C rsa2048 -f "$FIXTURE_DIR/rsa2048x" </dev/null >/dev/null ||
	fixture_fail "ssh-keygen rsa 2048 failed"
ssh-keygen -q -t dsa -N '' -C dsa -f "$FIXTURE_DIR/dsa" </dev/null >/dev/null ||
	fixture_fail "ssh-keygen dsa failed"
cp "$FIXTURE_DIR/support.pub" "$work/cert-key.pub"
ssh-keygen -q -s "$FIXTURE_DIR/ca" -I test-cert -n "$user" "$work/cert-key.pub" >/dev/null 2>&1 ||
	fixture_fail "ssh-keygen -s (certificate) failed"
read -r stype sblob _ <"$FIXTURE_DIR/support.pub"
read -r xtype xblob _ <"$FIXTURE_DIR/other.pub"
read -r otype oblob _ <"$FIXTURE_DIR/owner.pub"
[ "$(ssh-keygen -l -f "$FIXTURE_DIR/rsa2048x.pub" | cut -d' ' -f1)" = 2048 ] ||
	fixture_fail "the RSA test key does not have 2048 bits"

# The account's own file, with no final newline.
install -d -o "$user" -g "$(id -g "$user")" -m 0700 "$home/.ssh"
printf '# own keys\r\n%s %s owner@laptop' "$otype" "$oblob" >"$work/own"
install -o "$user" -g "$(id -g "$user")" -m 0600 "$work/own" "$ak"

daemon_config_write "[grant]" "users = $user" "max_duration = 7d"
daemon_start

# One live grant, so the files under watch hold something of ours.
sl grant --yes --user "$user" --for 1h --ticket LIVE-1 "@$FIXTURE_DIR/live.pub" \
	>/dev/null 2>"$work/err" || fixture_fail "the live grant failed: $(head -c 400 "$work/err")"
[ "$(grep -c 'sshlease:' "$ak")" -eq 1 ] || fixture_fail "the live grant has no line"
state=$DAEMON_STATE/state.json
[ -s "$state" ] || fixture_fail "no state file at $state"

snapshot() {
	cp "$ak" "$work/ak.saved"
	cp "$state" "$work/state.saved"
	cp "$DAEMON_AUDIT" "$work/audit.saved"
}

# Nothing changed but, at most, `records` refuse records appended.
expect_unchanged() { # what records
	local size new n
	cmp -s "$work/ak.saved" "$ak" ||
		fixture_fail "$1: authorized_keys changed:
$(fixture_hexdump "$ak")"
	cmp -s "$work/state.saved" "$state" || fixture_fail "$1: state.json changed"
	size=$(stat -c %s "$work/audit.saved")
	cmp -s -n "$size" "$work/audit.saved" "$DAEMON_AUDIT" ||
		fixture_fail "$1: the audit log's earlier lines changed"
	new=$work/audit.new
	tail -c +"$((size + 1))" "$DAEMON_AUDIT" >"$new"
	n=$(wc -l <"$new")
	[ "$n" -eq "$2" ] ||
		fixture_fail "$1: $n audit records appended, expected $2: $(head -c 600 "$new")"
	if [ "$n" -gt 0 ] && grep -v '"event":"refuse"' "$new" | grep -q .; then
		fixture_fail "$1: an appended audit record is not a refusal: $(head -c 600 "$new")"
	fi
	sl status >/dev/null 2>"$work/status.err" ||
		fixture_fail "$1: the daemon no longer answers: $(head -c 300 "$work/status.err")"
}

# One bad grant: exit 3, reason on stderr, nothing changed. records: how
# many refuse records it appends (1 when the daemon refuses it, 0 when the
# CLI refuses it before asking).
bad_grant() { # what records reason-regex args...
	local what=$1 records=$2 reason=$3 rc=0
	shift 3
	snapshot
	sl grant --yes "$@" >"$work/out" 2>"$work/err" || rc=$?
	[ "$rc" -eq 3 ] ||
		fixture_fail "$what: exit $rc, expected 3 (refused): $(head -c 400 "$work/err")"
	grep -Eq "$reason" "$work/err" ||
		fixture_fail "$what: stderr does not match /$reason/: $(head -c 400 "$work/err")"
	[ ! -s "$work/out" ] || fixture_fail "$what: printed a grant: $(head -c 200 "$work/out")"
	expect_unchanged "$what" "$records"
	expected_refusals=$((expected_refusals + records))
	fixture_pass "refused: $what"
}

u=(--user "$user")
expected_refusals=0
key="$stype $sblob support@vendor"

# --- keys ---
bad_grant "key with options" 1 'refused' "${u[@]}" --for 1h "restrict $key"
bad_grant "key with command= option" 1 'refused' "${u[@]}" --for 1h "command=\"/bin/sh\" $key"
bad_grant "LF injection of a second key" 1 'refused' "${u[@]}" --for 1h \
	"$key"$'\n'"$xtype $xblob evil"
bad_grant "LF injection of options" 1 'refused' "${u[@]}" --for 1h \
	"$key"$'\n'"command=\"/bin/sh\" $xtype $xblob"
bad_grant "CR in the comment" 1 'refused' "${u[@]}" --for 1h "$key"$'\r'"x"
printf '%s\n%s %s evil\n' "$key" "$xtype" "$xblob" >"$work/two-lines.pub"
bad_grant "a file with two keys" 1 'refused' "${u[@]}" --for 1h "@$work/two-lines.pub"
bad_grant "DSA key" 1 'refused.*(DSA|dsa|ssh-dss)' "${u[@]}" --for 1h "@$FIXTURE_DIR/dsa.pub"
bad_grant "RSA 2048 key" 1 'RSA key has 2048 bits.*3072' "${u[@]}" --for 1h "@$FIXTURE_DIR/rsa2048x.pub"
bad_grant "bad base64" 1 'refused' "${u[@]}" --for 1h "$stype AAAA@@@@zzzz== x"
bad_grant "truncated blob" 1 'refused' "${u[@]}" --for 1h "$stype ${sblob:0:40} x"
bad_grant "type field not the blob's type" 1 'refused' "${u[@]}" --for 1h "ssh-rsa $sblob x"
bad_grant "certificate" 1 'refused.*cert' "${u[@]}" --for 1h "@$work/cert-key-cert.pub"
bad_grant "empty key" 1 'refused' "${u[@]}" --for 1h ""
bad_grant "over-long key line" 1 'refused' "${u[@]}" --for 1h "$key $(head -c 9000 /dev/zero | tr '\0' a)"
bad_grant "a key the account has already" 1 'already in' "${u[@]}" --for 1h "@$FIXTURE_DIR/owner.pub"
bad_grant "a key already granted" 1 'already has access' "${u[@]}" --for 1h "@$FIXTURE_DIR/live.pub"
bad_grant "malformed token" 1 'refused.*token' --for 1h "sl1.eyJ2IjoxfQ.AAAA"

# --- accounts ---
bad_grant "unknown account" 1 'no account named' --user "nosuch$(_fixture_random_hex 3)" --for 1h "$key"
bad_grant "root" 1 'uid 0.*allow_root' --user root --for 1h "$key"
bad_grant "account not in users" 1 "not in the configuration's users" --user "$outsider" --for 1h "$key"
bad_grant "invalid account name" 1 'not a valid account name' --user 'shop;id' --for 1h "$key"

# --- durations and deadlines ---
bad_grant "--for 0s" 1 'refused' "${u[@]}" --for 0s "$key"
bad_grant "--for 8d over max_duration" 1 'max_duration' "${u[@]}" --for 8d "$key"
bad_grant "--for junk" 1 'refused' "${u[@]}" --for junk "$key"
bad_grant "--for negative" 1 'refused' "${u[@]}" --for -1h "$key"
bad_grant "--for overflow" 1 'refused' "${u[@]}" --for 99999999999999999999w "$key"
bad_grant "--until in the past" 1 'refused' "${u[@]}" --until "2020-01-01 00:00Z" "$key"
bad_grant "--until over max_duration" 1 'max_duration' "${u[@]}" \
	--until "$(date -u -d '+30 days' '+%Y-%m-%d %H:%M')Z" "$key"
bad_grant "--until junk" 0 'until' "${u[@]}" --until "next tuesday" "$key"
bad_grant "--until Feb 30" 0 'until' "${u[@]}" --until "2030-02-30 10:00Z" "$key"

# --- ticket and from ---
bad_grant "ticket with a space" 1 'ticket' "${u[@]}" --for 1h --ticket "T 1" "$key"
bad_grant "ticket with a quote" 1 'ticket' "${u[@]}" --for 1h --ticket 'T"1' "$key"
bad_grant "ticket of 65 chars" 1 'ticket' "${u[@]}" --for 1h --ticket "$(head -c 65 /dev/zero | tr '\0' 7)" "$key"
bad_grant "--from not an address" 1 'from' "${u[@]}" --for 1h --from 999.1.1.1 "$key"
bad_grant "--from bad prefix" 1 'from' "${u[@]}" --for 1h --from 10.0.0.0/33 "$key"
bad_grant "--from host name" 1 'from' "${u[@]}" --for 1h --from example.com "$key"
bad_grant "--from empty entry" 1 'from' "${u[@]}" --for 1h --from 10.0.0.1,,10.0.0.2 "$key"
bad_grant "--from quote injection" 1 'from' "${u[@]}" --for 1h --from '10.0.0.1" command="sh' "$key"
many=$(for i in $(seq 1 33); do printf '10.0.0.%d,' "$i"; done)
bad_grant "--from with 33 entries" 1 'from' "${u[@]}" --for 1h --from "${many%,}" "$key"

# --- protocol abuse straight at the socket ---
snapshot
"$python" - "$DAEMON_SOCKET" >"$work/abuse.out" 2>&1 <<'PY' || fixture_fail "socket abuse: $(tail -c 1500 "$work/abuse.out")"
import json, socket, sys, time

path = sys.argv[1]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(20)
    s.connect(path)
    return s

def ask(payload):
    """Send one message; the answer as an object, or None when closed."""
    s = connect()
    s.send(payload)
    data = s.recv(70 * 1024)
    s.close()
    return json.loads(data) if data else None

def expect_error(what, payload, code):
    reply = ask(payload)
    if reply is None or reply.get("ok") is not False or reply.get("error") != code:
        sys.exit(f"{what}: expected error {code}, got {reply!r}")
    print(f"{what}: {reply['error']}: {reply.get('message')}")

def expect_status(what):
    reply = ask(b'{"op":"status"}')
    if not reply or reply.get("ok") is not True:
        sys.exit(f"{what}: status did not answer ok: {reply!r}")

expect_error("garbage bytes", b"\x00\xff\xfegarbage{{{", "usage")
expect_status("after garbage")
expect_error("not an object", b"[1,2,3]", "usage")
expect_error("unknown op", b'{"op":"format-disk"}', "usage")
expect_error("no op", b'{"user":"x"}', "usage")
expect_error("unknown field", b'{"op":"list","evil":1}', "usage")
expect_error("wrong field type", b'{"op":"grant","key":5,"user":"x"}', "usage")
big = b'{"op":"status","pad":"' + b"a" * (70 * 1024) + b'"}'
expect_error("70 KiB message", big, "usage")
expect_status("after 70 KiB")

# An empty message reads as a hang-up: closed without an answer.
if ask(b"") is not None:
    sys.exit("empty message: got an answer")
expect_status("after an empty message")

# A client that hangs up before reading the answer.
s = connect()
s.send(b'{"op":"list"}')
s.close()
expect_status("after a client hung up")

# Silent clients hold connections; another client is served meanwhile, and
# a silent one is disconnected by the daemon.
silent = [connect() for _ in range(8)]
start = time.monotonic()
expect_status("while 8 clients are silent")
silent[0].settimeout(30)
try:
    data = silent[0].recv(1024)
except socket.timeout:
    sys.exit("a silent client was not disconnected within 30 s")
if data:
    sys.exit(f"a silent client got data: {data[:200]!r}")
print(f"silent client disconnected after {time.monotonic() - start:.1f} s")
for s in silent:
    s.close()
expect_status("after the silent clients")
PY
cat "$work/abuse.out"
expect_unchanged "socket abuse" 0
fixture_pass "protocol abuse at the socket"

# --- the audit chain holds every refusal ---
sl audit --verify >"$work/verify.out" 2>"$work/err" ||
	fixture_fail "audit --verify fails after the refusals: $(head -c 400 "$work/err")"
refusals=$(grep -c '"event":"refuse"' "$DAEMON_AUDIT")
[ "$refusals" -eq "$expected_refusals" ] ||
	fixture_fail "$refusals refuse records in the audit log, expected $expected_refusals"
[ "$(grep -c 'sshlease:' "$ak")" -eq 1 ] || fixture_fail "the live grant's line is gone"
daemon_stop
fixture_pass "bad input refused, nothing changed"
