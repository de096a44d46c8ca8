#!/bin/bash
# Grants follow their account's uid, not its name: an account renamed
# (usermod -l, same uid and home) while the daemon is stopped keeps its
# grant under the new name (recorded as account_renamed), and revoke
# removes the line; renamed while the daemon runs, the revoke still finds
# the line; and when a new account takes the old name, the line is removed
# from the renamed account's file, never looked for in the newcomer's.
#
# usage: test-daemon-rename.sh SSHLEASED SSHLEASE
# Needs root, openssh-server, openssh-client, passwd.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh ssh-keygen useradd usermod userdel
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user slrn
user=$FIXTURE_USER
home=$FIXTURE_HOME
uid=$(id -u "$user")
new1=${user}a
new2=${user}b
# Whatever name the account ends with, it goes at exit; so does the
# newcomer that takes the old name.
fixture_on_exit "userdel -r '$new1' 2>/dev/null; userdel -r '$new2' 2>/dev/null; userdel -r '$user' 2>/dev/null"
for k in support1 support2 support3; do
	fixture_keygen "$k"
done
ak=$home/.ssh/authorized_keys
install -d -o "$user" -g "$(id -g "$user")" -m 0700 "$home/.ssh"
printf '# the owner\n' >"$ak"
chown "$user:$(id -g "$user")" "$ak"
chmod 0600 "$ak"
work=$FIXTURE_DIR/work
mkdir -p "$work"

fixture_sshd_start
daemon_config_write "[grant]" "users = $user"
daemon_start

grant() { daemon_grant "$user" "$1"; } # key
has_line() { grep -qF "$(awk '{print $2}' "$FIXTURE_DIR/$1.pub")" "$ak"; }
login() { # key name: 0 when it gets in
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityAgent=none -o PreferredAuthentications=publickey \
		-o ConnectTimeout=5 -o LogLevel=ERROR -i "$FIXTURE_DIR/$1" \
		-p "$FIXTURE_SSHD_PORT" "$2@127.0.0.1" true </dev/null 2>/dev/null
}
# usermod refuses while a process of the account runs (one that is ending
# may still be there a moment): a few tries, then say which.
rename_account() { # old new
	local attempt
	for ((attempt = 0; attempt < 60; attempt++)); do
		usermod -l "$2" "$1" 2>"$work/usermod.err" && return 0
		# Nothing of the account's needs to run now (a login's sshd
		# may still be on its way out).
		pkill -KILL -U "$(id -u "$1")" 2>/dev/null
		sleep 0.25
	done
	local pid
	pid=$(grep -o 'process [0-9]*' "$work/usermod.err" | awk '{print $2}')
	fixture_fail "usermod -l $2 $1 failed: $(cat "$work/usermod.err"); $(grep -E '^(Name|State|PPid|Uid)' "/proc/$pid/status" 2>&1 | tr '\n' ' ')"
}
revoke_ok() { # id
	local rc=0
	sl revoke "$1" >"$work/out" 2>"$work/err" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "revoke $1: exit $rc: $(head -c 300 "$work/err")"
}

# --- renamed while the daemon is stopped ---
grant support1
id1=$G_ID
grant support2
id2=$G_ID
daemon_stop
rename_account "$user" "$new1"
[ "$(id -u "$new1")" = "$uid" ] || fixture_fail "the renamed account has another uid"
daemon_start
grep '"event":"account_renamed"' "$DAEMON_AUDIT" | grep -F "\"id\":\"$id1\"" | grep -qF "is now named $new1" ||
	fixture_fail "no account_renamed record for $id1: $(grep account_renamed "$DAEMON_AUDIT" | head -c 400)"
sl list --json >"$work/list.json" || fixture_fail "list failed"
grep -qF "\"user\":\"$new1\"" "$work/list.json" || fixture_fail "list does not show the new name: $(head -c 400 "$work/list.json")"
has_line support1 || fixture_fail "the start took the renamed account's grant line out"
login support1 "$new1" || fixture_fail "the grant's key does not log in to the renamed account"
revoke_ok "$id1"
has_line support1 && fixture_fail "the revoke left the renamed account's line"
login support1 "$new1" && fixture_fail "the revoked key still logs in"
fixture_pass "an account renamed while the daemon was stopped keeps its grants under the new name, on record, and revoke removes the line"

# --- renamed while the daemon runs, and a newcomer takes the name the
#     grant has: the line is removed from the file of the grant's uid ---
rename_account "$new1" "$new2"
useradd -m -s /bin/bash "$new1" || fixture_fail "useradd $new1 failed"
install -d -o "$new1" -g "$(id -g "$new1")" -m 0700 "$(getent passwd "$new1" | cut -d: -f6)/.ssh"
newcomer_ak=$(getent passwd "$new1" | cut -d: -f6)/.ssh/authorized_keys
printf '# the newcomer\n' >"$newcomer_ak"
chown "$new1:" "$newcomer_ak"
chmod 0600 "$newcomer_ak"
cp -p "$newcomer_ak" "$work/newcomer.bytes"
revoke_ok "$id2"
has_line support2 && fixture_fail "the revoke after a rename left the line in the account of the grant's uid"
cmp -s "$newcomer_ak" "$work/newcomer.bytes" || fixture_fail "the newcomer's file changed"
[ "$(head -n 1 "$ak")" = "# the owner" ] || fixture_fail "the owner's line is gone: $(head -c 200 "$ak")"
login support2 "$new2" && fixture_fail "the revoked key still logs in after the rename"
fixture_pass "renamed while the daemon runs, with a newcomer under the old name: the line goes from the file of the grant's uid, the newcomer's is untouched"
