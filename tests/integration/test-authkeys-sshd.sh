#!/bin/bash
# The lines the authorized_keys engine writes, judged by a real OpenSSH sshd
# (DESIGN.md §4): a key added with expiry-time one minute ahead logs in, and
# is refused once removed; the account's own lines stay byte-identical and
# keep working; a line whose expiry-time has passed is refused by sshd itself;
# SFTP-only lines give SFTP and no shell; from= is enforced; the local-time
# form of expiry-time lands on the right instant in zones with daylight
# saving time.
#
# usage: test-authkeys-sshd.sh AUTHKEYS_TOOL
# Needs root, openssh-server, openssh-client (ssh, sftp, ssh-keygen), passwd,
# tzdata.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"

tool=${1:-}
[ -n "$tool" ] && [ -x "$tool" ] || fixture_fail "usage: $0 AUTHKEYS_TOOL"
fixture_require_root
fixture_require_cmd ssh sftp ssh-keygen useradd usermod userdel cmp

fixture_init
fixture_add_user
user=$FIXTURE_USER
home=$FIXTURE_HOME
group=$(id -g "$user")
lock=$FIXTURE_DIR/lock
ak=$home/.ssh/authorized_keys
work=$FIXTURE_DIR/work
mkdir -p "$work"

fixture_keygen support
fixture_keygen owner
fixture_keygen deploy
support=$FIXTURE_DIR/support
owner=$FIXTURE_DIR/owner
read -r ktype kblob _ <"$support.pub"
read -r otype oblob _ <"$owner.pub"
read -r dtype dblob _ <"$FIXTURE_DIR/deploy.pub"

# The account's own file, as a merchant might have it: a comment, a blank
# line, their own key, a key with options and a CRLF line end.
orig=$work/orig
{
	printf '# keys of the shop owner\n\n'
	printf '%s %s owner@laptop\n' "$otype" "$oblob"
	printf 'no-port-forwarding,from="192.0.2.7" %s %s deploy@ci\r\n' "$dtype" "$dblob"
} >"$orig"
install -d -o "$user" -g "$group" -m 0700 "$home/.ssh"
install -o "$user" -g "$group" -m 0600 "$orig" "$ak"

tool_run() { # args... ; stdout in $work/out, stderr in $work/err, returns rc
	local rc=0
	"$tool" --lock-dir "$lock" "$@" >"$work/out" 2>"$work/err" || rc=$?
	return "$rc"
}

expect_rc() { # expected what args...
	local expected=$1 what=$2 rc=0
	shift 2
	tool_run "$@" || rc=$?
	[ "$rc" -eq "$expected" ] ||
		fixture_fail "$what: authkeys-tool $1 gave rc=$rc, expected $expected: $(head -c 400 "$work/err")"
}

expect_login() { # key what
	local rc=0
	fixture_ssh_login "$1" "$user" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "$2: login refused (ssh rc=$rc)"
}

expect_refused() { # key what
	local rc=0
	fixture_ssh_login "$1" "$user" || rc=$?
	[ "$rc" -eq 255 ] && grep -q 'Permission denied (publickey)' "$FIXTURE_SSH_ERR" ||
		fixture_fail "$2: expected 'Permission denied (publickey)' (ssh rc 255), got rc=$rc"
}

# Lines sshd logged since mark_log was called.
log_mark=0
mark_log() { log_mark=$(wc -l <"$FIXTURE_SSHD_LOG"); }
log_since_mark() { tail -n +"$((log_mark + 1))" "$FIXTURE_SSHD_LOG"; }

# Format a line for the support key; prints it.
format_line() { # id deadline [format options...]
	local id=$1 deadline=$2 rc=0
	shift 2
	"$tool" format "$id" "$ktype" "$kblob" "$deadline" "$@" >"$work/line" 2>"$work/err" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "format $* gave rc=$rc: $(head -c 400 "$work/err")"
	cat "$work/line"
}

# Add a line, log in or be refused, remove it, and check the file is back
# byte for byte.
remove_and_check() { # id what
	expect_rc 0 "$2: remove" remove "$user" "$1" "$kblob"
	[ "$(cat "$work/out")" = 1 ] || fixture_fail "$2: remove said '$(head -c 100 "$work/out")' lines, expected 1"
	cmp -s "$ak" "$orig" || fixture_fail "$2: after remove the file is not byte-identical to the original"
}

fixture_sshd_start

# ---- before: the owner logs in, support does not ----
expect_login "$owner" "owner's own key before any change"
expect_refused "$support" "support key before it was added"

# ---- a key added for one minute ----
id=$("$tool" newid) || fixture_fail "newid failed"
[[ $id =~ ^[0-9a-f]{12}$ ]] || fixture_fail "newid printed '$id', expected 12 lower-case hex digits"
deadline=$(($(date +%s) + 60))
line=$(format_line "$id" "$deadline")
[[ $line =~ ^restrict,pty,expiry-time=\"[0-9]{14}Z\"\ "$ktype $kblob sshlease:$id"$ ]] ||
	fixture_fail "unexpected managed line: $line"
[ "$(TZ=UTC date -d @"$deadline" +%Y%m%d%H%M%S)Z" = "$(sed 's/.*expiry-time="\([^"]*\)".*/\1/' <<<"$line")" ] ||
	fixture_fail "expiry-time of '$line' is not $deadline in UTC"
expect_rc 0 "add" add "$user" "$line"
{ cat "$orig"; printf '%s\n' "$line"; } >"$work/with"
cmp -s "$ak" "$work/with" || fixture_fail "after add the file is not the original plus the line"
[ "$(stat -c '%U %a' "$ak")" = "$user 600" ] || fixture_fail "after add: owner/mode $(stat -c '%U %a' "$ak")"
expect_rc 0 "list" list "$user"
[ "$(cat "$work/out")" = "$id $ktype $kblob $deadline" ] ||
	fixture_fail "list printed '$(head -c 300 "$work/out")', expected '$id $ktype $kblob $deadline'"
expect_login "$support" "support key with expiry-time one minute ahead"
expect_login "$owner" "owner's own key while the grant is in place"
fixture_pass "a key added with expiry-time one minute ahead logs in"

expect_rc 4 "adding the same key again" add "$user" "$line"
cmp -s "$ak" "$work/with" || fixture_fail "a refused duplicate add changed the file"
# The owner's own key is "already present" too, under any id.
oline=$("$tool" format "$("$tool" newid)" "$otype" "$oblob" "$deadline")
expect_rc 4 "adding the owner's own key as a grant" add "$user" "$oline"
cmp -s "$ak" "$work/with" || fixture_fail "a refused add of the owner's key changed the file"

remove_and_check "$id" "one-minute key"
expect_refused "$support" "support key after remove"
expect_login "$owner" "owner's own key after remove"
expect_rc 0 "second remove" remove "$user" "$id" "$kblob"
[ "$(cat "$work/out")" = 0 ] || fixture_fail "second remove said '$(head -c 100 "$work/out")', expected 0"
cmp -s "$ak" "$orig" || fixture_fail "a remove of nothing changed the file"
fixture_pass "removed: sshd refuses the key, the owner's lines are byte-identical and work"

# ---- expiry-time already past: sshd itself refuses ----
id=$("$tool" newid)
past=$(($(date +%s) - 120))
line=$(format_line "$id" "$past")
expect_rc 0 "add with a past expiry" add "$user" "$line"
mark_log
expect_refused "$support" "support key whose expiry-time has passed"
log_since_mark | grep -q "entry expired" ||
	fixture_fail "sshd refused the past key, but not for its expiry-time"
remove_and_check "$id" "past key"
fixture_pass "sshd itself refuses a line whose expiry-time has passed"

# ---- SFTP only: SFTP works, a shell command does not run ----
id=$("$tool" newid)
line=$(format_line "$id" $(($(date +%s) + 600)) --sftp)
[[ $line == restrict,command=\"internal-sftp\",* ]] || fixture_fail "unexpected sftp line: $line"
expect_rc 0 "add sftp-only" add "$user" "$line"
rc=0
fixture_ssh_login "$support" "$user" echo shell-ran >"$work/ssh-out" || rc=$?
! grep -q shell-ran "$work/ssh-out" || fixture_fail "an SFTP-only key ran a shell command"
rc=0
printf 'pwd\n' | sftp -F /dev/null -b - -o StrictHostKeyChecking=no \
	-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o IdentityAgent=none \
	-o ConnectTimeout=5 -i "$support" -P "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" \
	>"$work/sftp-out" 2>"$work/sftp-err" || rc=$?
[ "$rc" -eq 0 ] && grep -q "Remote working directory: $home" "$work/sftp-out" ||
	fixture_fail "SFTP with an SFTP-only key failed (rc=$rc): $(head -c 400 "$work/sftp-err")"
remove_and_check "$id" "sftp key"
fixture_pass "an SFTP-only line gives SFTP and no shell"

# ---- from= ----
id=$("$tool" newid)
line=$(format_line "$id" $(($(date +%s) + 600)) --from 127.0.0.1/32)
expect_rc 0 "add from=127.0.0.1/32" add "$user" "$line"
expect_login "$support" "key restricted to 127.0.0.1/32"
remove_and_check "$id" "from=127.0.0.1/32"
id=$("$tool" newid)
line=$(format_line "$id" $(($(date +%s) + 600)) --from 192.0.2.0/24,2001:db8::/32)
expect_rc 0 "add from=192.0.2.0/24" add "$user" "$line"
mark_log
expect_refused "$support" "key restricted to 192.0.2.0/24 from 127.0.0.1"
log_since_mark | grep -q "not from a permitted host" ||
	fixture_fail "sshd refused the key, but not for its from= restriction"
remove_and_check "$id" "from=192.0.2.0/24"
fixture_pass "from= is written so that sshd enforces it"

# ---- an account file without a final newline ----
# The engine adds "\n" + line and no newline after it (authkeys.h); sshd
# must still read both the owner's last line and ours, and a remove must
# give back the very same bytes.
nonl=$work/orig-no-newline
printf '# no final newline\n%s %s owner@laptop' "$otype" "$oblob" >"$nonl"
install -o "$user" -g "$group" -m 0600 "$nonl" "$ak"
id=$("$tool" newid)
line=$(format_line "$id" $(($(date +%s) + 600)))
expect_rc 0 "add to a file without a final newline" add "$user" "$line"
{ cat "$nonl"; printf '\n%s' "$line"; } >"$work/nonl-with"
cmp -s "$ak" "$work/nonl-with" ||
	fixture_fail "add to a file without a final newline did not give its bytes + \\n + line"
expect_login "$support" "support key as the last line without a newline"
expect_login "$owner" "owner's key that had no final newline"
expect_rc 0 "remove from a file without a final newline" remove "$user" "$id" "$kblob"
[ "$(cat "$work/out")" = 1 ] || fixture_fail "remove said '$(head -c 100 "$work/out")', expected 1"
cmp -s "$ak" "$nonl" || fixture_fail "add then remove did not give back a file without a final newline byte for byte"
expect_refused "$support" "support key removed from a file without a final newline"
install -o "$user" -g "$group" -m 0600 "$orig" "$ak"
fixture_pass "a file without a final newline: both lines work, and remove restores its bytes"
fixture_sshd_stop

# ---- local-time expiry-time (OpenSSH 7.7-9.0 form) in DST zones ----
# sshd reads the local form with mktime(tm_isdst = 0). New York and Sydney
# have daylight saving time at opposite seasons, so one of them is in it
# now: a line one minute ahead must log in, and one ten minutes past must be
# refused (an hour's error in either direction fails one of the two).
for tz in America/New_York Australia/Sydney; do
	[ -e "/usr/share/zoneinfo/$tz" ] || fixture_fail "no zone $tz (Debian 12: apt-get install tzdata)"
	FIXTURE_SSHD_ENV="TZ=$tz" fixture_sshd_start
	id=$("$tool" newid)
	deadline=$(($(date +%s) + 60))
	line=$(TZ=$tz format_line "$id" "$deadline" --expiry local)
	[[ $line =~ ^restrict,pty,expiry-time=\"[0-9]{14}\"\  ]] || fixture_fail "unexpected local-time line: $line"
	expect_rc 0 "add local expiry ($tz)" add "$user" "$line"
	TZ=$tz tool_run list "$user" || fixture_fail "list failed ($tz)"
	[ "$(cat "$work/out")" = "$id $ktype $kblob $deadline" ] ||
		fixture_fail "list in $tz printed '$(head -c 300 "$work/out")', expected expiry $deadline"
	expect_login "$support" "local expiry-time one minute ahead in $tz (isdst now: $(TZ=$tz date +%Z))"
	remove_and_check "$id" "local expiry ($tz)"

	id=$("$tool" newid)
	line=$(TZ=$tz format_line "$id" $(($(date +%s) - 600)) --expiry local)
	expect_rc 0 "add past local expiry ($tz)" add "$user" "$line"
	mark_log
	expect_refused "$support" "local expiry-time ten minutes past in $tz ($(TZ=$tz date +%Z))"
	log_since_mark | grep -q "entry expired" ||
		fixture_fail "sshd in $tz refused the past local key, but not for its expiry-time"
	remove_and_check "$id" "past local expiry ($tz)"
	fixture_sshd_stop
	fixture_pass "local-time expiry-time is read right by sshd in $tz ($(TZ=$tz date +%Z))"
done

cmp -s "$ak" "$orig" || fixture_fail "the account's file is not byte-identical at the end"
fixture_pass "all sshd checks"
