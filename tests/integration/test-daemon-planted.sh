#!/bin/bash
# Keys a grantee plants (DESIGN.md §13) against a real sshd, sftp and ssh:
# while a grant of the account is live, a key line added to its
# authorized_keys or authorized_keys2 (through sftp, through a shell, or
# written after a restart of the daemon) is removed within a second,
# recorded (key_added, journal, state) and no longer lets anyone in. The
# account's own lines from before the grant keep every byte, also when the
# grantee edits around them, and a line the owner adds while no grant is
# live is never touched. show lists a removed line with the command that
# puts it back (root only), after which it is the account's own. With
# [grant] added_keys = report the line stays and is recorded.
#
# usage: test-daemon-planted.sh SSHLEASED SSHLEASE
# Needs root, openssh-server, openssh-client (ssh, sftp, ssh-keygen), passwd.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh sftp ssh-keygen useradd usermod userdel groupadd groupdel setpriv
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user slpl
user=$FIXTURE_USER
home=$FIXTURE_HOME
group=$(id -g "$user")
# A member of socket_group, who may grant but not put a key back.
daemon_add_group slpg
fixture_add_user slpm
member=$FIXTURE_USER
usermod -a -G "$DAEMON_GROUP" "$member" || fixture_fail "usermod -a -G $DAEMON_GROUP $member failed"
# shellcheck disable=SC2034 # read by daemon_config_write
DAEMON_SOCKET_GROUP=$DAEMON_GROUP
for k in support shell owner owner2 planted planted2 planted3 planted4 planted5 planted6 planted7 planted8 planted9; do
	fixture_keygen "$k"
done
ak=$home/.ssh/authorized_keys
ak2=$home/.ssh/authorized_keys2
install -d -o "$user" -g "$group" -m 0700 "$home/.ssh"
# The owner's file: a comment, a CRLF line, options, a line no key reads
# from, and no final newline.
{
	printf '# the owner'"'"'s keys\r\n'
	printf 'from="10.0.0.0/8" %s\r\n' "$(cat "$FIXTURE_DIR/owner.pub")"
	printf 'not a key line at all\n'
	printf '%s' "$(cat "$FIXTURE_DIR/owner2.pub")"
} >"$ak"
chown "$user:$group" "$ak"
chmod 0600 "$ak"
cp -p "$ak" "$FIXTURE_DIR/owner.bytes"
work=$FIXTURE_DIR/work
mkdir -p "$work"

# The member reaches the socket and the CLI (copied out of the build tree,
# whose parents may be closed): the temporary tree becomes searchable.
chmod 0711 "$FIXTURE_DIR"
mkdir -p "$FIXTURE_DIR/bin"
chmod 0755 "$FIXTURE_DIR/bin"
install -m 0755 "$SSHLEASE" "$FIXTURE_DIR/bin/sshlease"
as_member() { # args...
	setpriv --reuid="$member" --regid="$(id -g "$member")" --init-groups \
		env -i PATH=/usr/bin:/bin "$FIXTURE_DIR/bin/sshlease" --socket "$DAEMON_SOCKET" "$@"
}

log=$FIXTURE_DIR/sshd.log
# Both files, as sshd reads by default (and as the daemon's sshd -T says).
fixture_sshd_start_elog "$log" -o "AuthorizedKeysFile=.ssh/authorized_keys .ssh/authorized_keys2"
daemon_config_write "[grant]" "users = $user" "[sshd]" "log = $log"
daemon_start

opts() { # key
	printf '%s\n' -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes \
		-o IdentityAgent=none -o PreferredAuthentications=publickey \
		-o ConnectTimeout=5 -o LogLevel=ERROR -i "$1"
}
login() { # key: 0 when it gets in
	local -a lo
	mapfile -t lo < <(opts "$1")
	ssh "${lo[@]}" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" true </dev/null 2>/dev/null
}
as_user() { # command
	su -s /bin/sh "$user" -c "$1"
}
# The account itself appends a key to its authorized_keys (on a line of its own).
append_as_user() { # key.pub
	{ echo; cat "$1"; } | as_user "cat >>'$ak'" || fixture_fail "the account could not append $1"
}
grant() { # key args...
	local key=$1 rc=0
	shift
	sl grant --yes --json --user "$user" "$@" "@$key.pub" >"$work/grant.json" 2>"$work/grant.err" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "grant $*: exit $rc: $(head -c 400 "$work/grant.err")"
	G_ID=$(json_field "$work/grant.json" id)
}
fp() { ssh-keygen -l -E sha256 -f "$1.pub" | awk '{print $2}'; }
key_added() { # fingerprint
	grep '"event":"key_added"' "$DAEMON_AUDIT" | grep -qF "\"fingerprint\":\"$1\""
}
key_added_twice() { # fingerprint
	[ "$(grep '"event":"key_added"' "$DAEMON_AUDIT" | grep -cF "\"fingerprint\":\"$1\"")" -ge 2 ]
}
no_line() { # file key
	! grep -qF "$(awk '{print $2}' "$2.pub")" "$1" 2>/dev/null
}
# Every line of the owner's is there, byte for byte (CR included), in
# order, and no other line but sshlease's own: the line ends that grants
# and the grantee added around them aside.
owner_lines() { grep -av ' sshlease:[0-9a-f]\{12\}$' "$1" | awk 'length($0) > 0'; }
owner_bytes_kept() {
	cmp -s <(owner_lines "$ak") <(owner_lines "$FIXTURE_DIR/owner.bytes")
}

# --- a line the owner adds while no grant is live is the owner's ---
printf '\n%s' "$(cat "$FIXTURE_DIR/planted4.pub")" >>"$ak"
cp -p "$ak" "$FIXTURE_DIR/owner.bytes"

# --- a key file the engine cannot read (a link) when the first grant
#     would begin: refused, nothing changed ---
ln -s ../keys.txt "$ak2"
cp -p "$ak" "$work/before-link.bytes"
rc=0
sl grant --yes --user "$user" --for 10m "@$FIXTURE_DIR/support.pub" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] && grep -q "authorized_keys2 of $user cannot be read to watch it" "$work/err" ||
	fixture_fail "a grant with a symlinked authorized_keys2: exit $rc: $(head -c 300 "$work/err")"
cmp -s "$ak" "$work/before-link.bytes" || fixture_fail "the refused grant changed $ak"
grep -q '"key_watches"' "$DAEMON_STATE/state.json" && fixture_fail "the refused grant left a key watch"
rm "$ak2"
fixture_pass "a grant is refused while a key file is a symlink: no sweep could read it"

# --- an SFTP-only grant plants a key with two sftp commands ---
grant "$FIXTURE_DIR/support" --for 10m --sftp-only
sftp_id=$G_ID
fixture_wait_for "a key watch in the state after a grant" grep -q '"key_watches"' "$DAEMON_STATE/state.json"
mapfile -t o < <(opts "$FIXTURE_DIR/support")
sftp "${o[@]}" -P "$FIXTURE_SSHD_PORT" -b - "$user@127.0.0.1" >"$work/sftp.out" 2>&1 <<SFTP ||
get .ssh/authorized_keys $work/ak
SFTP
	fixture_fail "sftp get failed: $(head -c 300 "$work/sftp.out")"
# (the file may lack a final newline: a grant keeps that as it was)
{ echo; cat "$FIXTURE_DIR/planted.pub"; } >>"$work/ak"
sftp "${o[@]}" -P "$FIXTURE_SSHD_PORT" -b - "$user@127.0.0.1" >"$work/sftp.out" 2>&1 <<SFTP ||
put $work/ak .ssh/authorized_keys
SFTP
	fixture_fail "sftp put failed: $(head -c 300 "$work/sftp.out")"
fixture_wait_for "the key planted through sftp to be removed" no_line "$ak" "$FIXTURE_DIR/planted"
key_added "$(fp "$FIXTURE_DIR/planted")" || fixture_fail "no key_added record of the key planted through sftp"
login "$FIXTURE_DIR/planted" && fixture_fail "the key planted through sftp logs in"
mapfile -t o < <(opts "$FIXTURE_DIR/support")
echo 'ls .ssh' | sftp "${o[@]}" -P "$FIXTURE_SSHD_PORT" -b - "$user@127.0.0.1" >/dev/null 2>&1 ||
	fixture_fail "the grant's own key no longer logs in"
owner_bytes_kept || fixture_fail "the owner's lines changed: $(od -c "$ak" | head -n 20)"
grep -q 'a line was added to ~/.ssh/authorized_keys while grant' "$DAEMON_LOG" ||
	fixture_fail "no journal warning for the planted key"
grep -q "$(fp "$FIXTURE_DIR/planted")" "$DAEMON_STATE/state.json" ||
	fixture_fail "the planted key is not in the state"
fixture_pass "a key planted through sftp is removed, recorded and refused; the owner's bytes are kept"

# --- the same grant puts a symlink, then a hard link, in place of a key
#     file, to a file of its own with a key in it: each is moved out of
#     sshd's way (the link only: what it leads to keeps every byte) ---
moved_record() { # pattern
	grep '"event":"key_file_moved"' "$DAEMON_AUDIT" | grep -q "$1"
}
not_link() { # path
	[ ! -L "$1" ] && { [ ! -e "$1" ] || [ "$(stat -c %h "$1")" -eq 1 ]; }
}
sftp "${o[@]}" -P "$FIXTURE_SSHD_PORT" -b - "$user@127.0.0.1" >"$work/sftp.out" 2>&1 <<SFTP ||
put $FIXTURE_DIR/planted8.pub keys.txt
symlink ../keys.txt .ssh/authorized_keys2
SFTP
	fixture_fail "sftp symlink failed: $(head -c 300 "$work/sftp.out")"
fixture_wait_for "the symlink in place of authorized_keys2 to be moved aside" not_link "$ak2"
# (the record follows the rename: wait for it too)
fixture_wait_for "a key_file_moved record of the symlink" moved_record 'a symlink was put in place of ~/.ssh/authorized_keys2'

[ -L "$(echo "$home"/.ssh/authorized_keys2.sshlease-moved-*)" ] ||
	fixture_fail "the symlink is not kept under its new name: $(ls -la "$home/.ssh")"
cmp -s "$home/keys.txt" "$FIXTURE_DIR/planted8.pub" || fixture_fail "the file the symlink led to was changed"
login "$FIXTURE_DIR/planted8" && fixture_fail "the key behind the moved symlink logs in"
rm "$home"/.ssh/authorized_keys2.sshlease-moved-*
sftp "${o[@]}" -P "$FIXTURE_SSHD_PORT" -b - "$user@127.0.0.1" >"$work/sftp.out" 2>&1 <<SFTP ||
ln keys.txt .ssh/authorized_keys2
SFTP
	fixture_fail "sftp ln (a hard link) failed: $(head -c 300 "$work/sftp.out")"
# (the name gets a copy of its own, and that copy is swept)
fixture_wait_for "the hard link in place of authorized_keys2 to become a file of its own" not_link "$ak2"
fixture_wait_for "a key_file_moved record of the hard link" moved_record 'a hard link was put in place of ~/.ssh/authorized_keys2'
fixture_wait_for "the key in the copy to be removed" no_line "$ak2" "$FIXTURE_DIR/planted8"
cmp -s "$home/keys.txt" "$FIXTURE_DIR/planted8.pub" || fixture_fail "the file the hard link shared was changed"
login "$FIXTURE_DIR/planted8" && fixture_fail "the key behind the hard link logs in"
rm -f "$ak2" "$home/keys.txt"
owner_bytes_kept || fixture_fail "the owner's lines changed while links were moved"
fixture_pass "a symlink or hard link put in place of a key file through sftp is moved out of sshd's way"

# --- a shell grant plants into authorized_keys2 and edits its own line ---
grant "$FIXTURE_DIR/shell" --for 10m
shell_id=$G_ID
mapfile -t o < <(opts "$FIXTURE_DIR/shell")
ssh "${o[@]}" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" \
	"cat >>.ssh/authorized_keys2 && chmod 600 .ssh/authorized_keys2" <"$FIXTURE_DIR/planted2.pub" ||
	fixture_fail "the shell grant could not write authorized_keys2"
fixture_wait_for "the key planted in authorized_keys2 to be removed" no_line "$ak2" "$FIXTURE_DIR/planted2"
key_added "$(fp "$FIXTURE_DIR/planted2")" || fixture_fail "no key_added record of the key in authorized_keys2"
login "$FIXTURE_DIR/planted2" && fixture_fail "the key planted in authorized_keys2 logs in"
# Its own line without its restrictions (and no marker) is a new line.
ssh "${o[@]}" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" \
	"grep sshlease:$sftp_id .ssh/authorized_keys | sed 's/^restrict[^ ]* //; s/ sshlease:.*//' >x; { echo; cat x; } >>.ssh/authorized_keys" ||
	fixture_fail "the shell grant could not copy a line"
fixture_wait_for "the SFTP grant's line copied without its restrictions to be removed" \
	bash -c "[ \$(grep -cF '$(awk '{print $2}' "$FIXTURE_DIR/support.pub")' '$ak') -eq 1 ]"
owner_bytes_kept || fixture_fail "the owner's lines changed after the shell grant's edits"
fixture_pass "a shell grant's key in authorized_keys2 and a grant line stripped of its options are removed"

# --- a login made with a planted key before it was removed ends: seen
#     before the sweep (the watcher held up), or swept before its log line
#     was read (the daemon held up); the grant's own session goes on ---
bg_login() { # key out: a login that stays, its ssh's pid in BG_PID
	local -a lo
	mapfile -t lo < <(opts "$1")
	ssh "${lo[@]}" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" 'echo in; exec sleep 60' \
		</dev/null >"$2" 2>&1 &
	BG_PID=$!
	fixture_wait_for "a login with $(basename "$1")" grep -q '^in$' "$2"
}
gone() { ! kill -0 "$1" 2>/dev/null; }
ended_planted() { # fingerprint
	grep '"event":"session_end"' "$DAEMON_AUDIT" | grep -F "\"fingerprint\":\"$1\"" |
		grep -q 'used a key added during the grant'
}
bg_login "$FIXTURE_DIR/shell" "$work/own.out"
own_pid=$BG_PID
mapfile -t watchers < <(ps -o pid= --ppid "$DAEMON_PID")
[ "${#watchers[@]}" -eq 1 ] || fixture_fail "expected one key watcher under sshleased, found: ${watchers[*]}"
kill -STOP "${watchers[0]}"
append_as_user "$FIXTURE_DIR/planted5.pub"
bg_login "$FIXTURE_DIR/planted5" "$work/p5.out"
p5_pid=$BG_PID
kill -CONT "${watchers[0]}"
fixture_wait_for "the key planted behind the held-up watcher to be removed" no_line "$ak" "$FIXTURE_DIR/planted5"
fixture_wait_for "the login with the key planted behind the held-up watcher to end" gone "$p5_pid"
ended_planted "$(fp "$FIXTURE_DIR/planted5")" ||
	fixture_fail "no session_end record of the login with the planted key: $(grep planted "$DAEMON_LOG" | tail -n 3)"
kill -STOP "$DAEMON_PID"
append_as_user "$FIXTURE_DIR/planted6.pub"
bg_login "$FIXTURE_DIR/planted6" "$work/p6.out"
p6_pid=$BG_PID
kill -CONT "$DAEMON_PID"
fixture_wait_for "the key planted while sshleased was held up to be removed" no_line "$ak" "$FIXTURE_DIR/planted6"
fixture_wait_for "the login with the key planted while sshleased was held up to end" gone "$p6_pid"
ended_planted "$(fp "$FIXTURE_DIR/planted6")" || fixture_fail "no session_end record of the second planted login"
gone "$own_pid" && fixture_fail "the grant's own session ended with the planted logins: $(cat "$work/own.out")"
kill "$own_pid" 2>/dev/null
wait "$own_pid" 2>/dev/null
owner_bytes_kept || fixture_fail "the owner's lines changed while planted logins were ended"
fixture_pass "logins made with a planted key end with its removal; the grant's own session goes on"

# --- the daemon restarted during the grants: the watch comes back with
#     the snapshot of before (the owner's lines still the owner's) ---
daemon_stop
append_as_user "$FIXTURE_DIR/planted3.pub"
grep -qF "$(awk '{print $2}' "$FIXTURE_DIR/planted3.pub")" "$ak" || fixture_fail "the key added while the daemon was down is not there"
daemon_start
fixture_wait_for "the key added while the daemon was down to be removed" no_line "$ak" "$FIXTURE_DIR/planted3"
key_added "$(fp "$FIXTURE_DIR/planted3")" || fixture_fail "no key_added record of the key added while the daemon was down"
owner_bytes_kept || fixture_fail "the owner's lines changed after the restart"
append_as_user "$FIXTURE_DIR/planted.pub"
fixture_wait_for "a key planted after the restart to be recorded" key_added_twice "$(fp "$FIXTURE_DIR/planted")"
fixture_wait_for "a key planted after the restart to be removed" no_line "$ak" "$FIXTURE_DIR/planted"
fixture_pass "after a restart the watch is back and the snapshot from before is kept"

# --- a removed key: listed by show with the command that puts it back,
#     which only root may run; back, it is the account's own line ---
p3=$(fp "$FIXTURE_DIR/planted3")
sl show "$shell_id" >"$work/show.out" || fixture_fail "show $shell_id failed"
grep -qF "put back with: sshlease restore-key $user $p3" "$work/show.out" ||
	fixture_fail "show lists no way to put back the removed key: $(cat "$work/show.out")"
sl show --json "$shell_id" | grep -oE '\{"file":"authorized_keys","fingerprint":"[^"]*",[^}]*"removed":true' |
	grep -qF "\"$p3\"" ||
	fixture_fail "show --json lists no removed key $p3"
cp -p "$ak" "$work/before-restore.bytes"
rc=0
as_member restore-key "$user" "$p3" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 4 ] && grep -q "only root may put a key back" "$work/err" ||
	fixture_fail "a member of socket_group putting a key back: exit $rc: $(head -c 300 "$work/err")"
rc=0
sl restore-key "$user" "SHA256:$(printf 'A%.0s' {1..43})" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] && grep -q "no removed key" "$work/err" ||
	fixture_fail "restore-key of a key never removed: exit $rc: $(head -c 300 "$work/err")"
cmp -s "$ak" "$work/before-restore.bytes" || fixture_fail "a refused restore-key changed $ak"
sl restore-key "$user" "$p3" >"$work/out" 2>"$work/err" ||
	fixture_fail "restore-key $user $p3 failed: $(head -c 300 "$work/err")"
grep -qF "Put the key $p3 back into ~$user/.ssh/authorized_keys" "$work/out" ||
	fixture_fail "restore-key said: $(cat "$work/out")"
cmp -s <(owner_lines "$ak") <(owner_lines "$FIXTURE_DIR/owner.bytes"; cat "$FIXTURE_DIR/planted3.pub") ||
	fixture_fail "the key is not back at the end, the owner's lines before it: $(od -c "$ak" | tail -n 8)"
grep '"event":"key_restored"' "$DAEMON_AUDIT" | grep -qF "\"fingerprint\":\"$p3\"" ||
	fixture_fail "no key_restored record"
login "$FIXTURE_DIR/planted3" || fixture_fail "the key put back does not log in"
# The next sweep (another line planted) leaves it.
append_as_user "$FIXTURE_DIR/planted7.pub"
fixture_wait_for "a key planted after the restore to be removed" no_line "$ak" "$FIXTURE_DIR/planted7"
no_line "$ak" "$FIXTURE_DIR/planted3" && fixture_fail "the sweep after the restore took the key put back out again"
rc=0
sl restore-key "$user" "$p3" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "a second restore-key of the same key: exit $rc, expected 3 (no longer on record)"
fixture_pass "a removed key is listed by show and put back by root alone; the next sweep keeps it"

# --- the shell grant replaces ~/.ssh by a symlink to a copy with a key
#     of its own: the symlink is moved aside, and the copy, put back in
#     place, is swept ---
mapfile -t o < <(opts "$FIXTURE_DIR/shell")
ssh "${o[@]}" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" \
	'cp -a .ssh .ssh-copy && cat >>.ssh-copy/authorized_keys && mv .ssh .ssh-old && ln -s .ssh-copy .ssh' \
	<"$FIXTURE_DIR/planted9.pub" || fixture_fail "the shell grant could not replace ~/.ssh"
fixture_wait_for "the symlink in place of ~/.ssh to be moved aside" bash -c "[ ! -L '$home/.ssh' ]"
fixture_wait_for "a key_file_moved record of ~/.ssh" moved_record '~/.ssh was replaced by a symlink'

login "$FIXTURE_DIR/planted9" && fixture_fail "the key behind the moved ~/.ssh symlink logs in"
rm "$home"/.ssh.sshlease-moved-*
mv "$home/.ssh-copy" "$home/.ssh"
fixture_wait_for "the key in the copy put back as ~/.ssh to be removed" no_line "$ak" "$FIXTURE_DIR/planted9"
rm -r "$home/.ssh-old"
owner_lines_restored() {
	cmp -s <(owner_lines "$ak") <(owner_lines "$FIXTURE_DIR/owner.bytes"; cat "$FIXTURE_DIR/planted3.pub")
}
owner_lines_restored || fixture_fail "the owner's lines changed: $(od -c "$ak" | tail -n 8)"
login "$FIXTURE_DIR/shell" || fixture_fail "the grant's own key no longer logs in"
fixture_pass "a symlink in place of ~/.ssh is moved aside, and a copy put back is swept"

# --- no grant live: a line the owner adds stays ---
sl revoke --user "$user" --all >/dev/null || fixture_fail "revoke --all failed"
fixture_wait_for "the key watch to end with the last grant" \
	bash -c "! grep -q '\"key_watches\"' '$DAEMON_STATE/state.json'"
append_as_user "$FIXTURE_DIR/planted.pub"
cp -p "$ak" "$work/after.bytes"
sleep 1.5
cmp -s "$ak" "$work/after.bytes" || fixture_fail "a line the owner added with no grant live was touched"
login "$FIXTURE_DIR/planted" || fixture_fail "the owner's own new key does not log in: $(tail -c 300 "$ak" | od -c | tail -n 5) $(tail -n 3 "$log")"
grep '"report":' "$DAEMON_AUDIT" | grep -F "\"id\":\"$sftp_id\"" |
	grep -qE 'key lines added \([0-9]+ removed, 0 kept\), 3 links in place of key files moved aside' ||
	fixture_fail "the SFTP grant's end report does not count the keys and links: $(grep '"report":' "$DAEMON_AUDIT" | tail -n 2)"
fixture_pass "with no grant live, a line the owner adds is never touched"

# --- added_keys = report: found and recorded, not removed ---
daemon_stop
daemon_config_write "[grant]" "users = $user" "added_keys = report" "[sshd]" "log = $log"
daemon_start
grant "$FIXTURE_DIR/shell" --for 10m
append_as_user "$FIXTURE_DIR/planted2.pub"
fixture_wait_for "the key added under report to be recorded" key_added_twice "$(fp "$FIXTURE_DIR/planted2")"
no_line "$ak" "$FIXTURE_DIR/planted2" && fixture_fail "added_keys = report removed the line"
fixture_pass "added_keys = report records the added line and keeps it"
sl revoke --all >/dev/null
daemon_stop
