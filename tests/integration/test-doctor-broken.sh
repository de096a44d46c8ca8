#!/bin/bash
# doctor against a real OpenSSH sshd broken on purpose, one setting at a
# time (issue 5): PubkeyAuthentication no (in a Match block, so sshd -T -C
# must evaluate it), AllowUsers without the account, no Subsystem sftp, a
# locked account (UsePAM no), a group-writable home. Each is reported as a
# failure of exactly the right check, doctor exits 1, the grant blockers
# name it where a grant could not work, and a real login (or sftp session)
# with a key in authorized_keys is indeed refused. Restored, the same setup
# reports no failure and logs in.
#
# usage: test-doctor-broken.sh DOCTOR_TOOL
# Needs root, openssh-server, openssh-client (ssh, sftp, ssh-keygen), passwd.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"

tool=${1:-}
[ -n "$tool" ] && [ -x "$tool" ] || fixture_fail "usage: $0 DOCTOR_TOOL"
fixture_require_root
fixture_require_cmd ssh sftp ssh-keygen useradd usermod userdel

fixture_init
fixture_add_user
user=$FIXTURE_USER
home=$FIXTURE_HOME
group=$(id -g "$user")
work=$FIXTURE_DIR/work
config=$FIXTURE_DIR/sshd/sshd_config
sshd_real=$FIXTURE_SSHD
mkdir -p "$work"

fixture_keygen client
install -d -o "$user" -g "$group" -m 0700 "$home/.ssh"
install -o "$user" -g "$group" -m 0600 "$FIXTURE_DIR/client.pub" "$home/.ssh/authorized_keys"

# doctor on the running fixture sshd; output in $work/doctor, returns rc.
doctor() { # [--sshd-config FILE] [more args...]
	local cfg=$config rc=0
	if [ "${1:-}" = --sshd-config ]; then
		cfg=$2
		shift 2
	fi
	"$tool" run --user "$user" --port "$FIXTURE_SSHD_PORT" --sshd-config "$cfg" \
		"$@" >"$work/doctor" 2>&1 || rc=$?
	return "$rc"
}

# The names of the failed checks, one line.
failed_checks() {
	sed -n 's/^fail \([a-z-]*\): .*/\1/p' "$work/doctor" | tr '\n' ' ' | sed 's/ $//'
}

expect_only_failure() { # check-name what [doctor args...]
	local name=$1 what=$2 rc=0
	shift 2
	doctor "$@" || rc=$?
	[ "$rc" -eq 1 ] || fixture_fail "$what: doctor exited $rc, expected 1:
$(cat "$work/doctor")"
	[ "$(failed_checks)" = "$name" ] ||
		fixture_fail "$what: failed checks are '$(failed_checks)', expected '$name':
$(cat "$work/doctor")"
	grep -q "^fail $name: .* | fix: [A-Z].*\.$" "$work/doctor" ||
		fixture_fail "$what: the failure of $name has no one-sentence fix:
$(grep "^fail $name" "$work/doctor")"
	# The JSON form agrees.
	rc=0
	"$tool" run --json --user "$user" --port "$FIXTURE_SSHD_PORT" \
		--sshd-config "${cfg_for_json:-$config}" "$@" >"$work/doctor.json" 2>&1 || rc=$?
	[ "$rc" -eq 1 ] && grep -q '^{"ok":false,' "$work/doctor.json" &&
		grep -q "{\"name\":\"$name\",\"status\":\"fail\"," "$work/doctor.json" ||
		fixture_fail "$what: --json does not report $name failed: $(head -c 800 "$work/doctor.json")"
}

expect_no_failure() { # what [doctor args...]
	local what=$1 rc=0
	shift
	doctor "$@" || rc=$?
	[ "$rc" -eq 0 ] && [ -z "$(failed_checks)" ] ||
		fixture_fail "$what: doctor exited $rc with failures '$(failed_checks)':
$(cat "$work/doctor")"
}

expect_blocker() { # check-name|none what [--mode M] [--sshd-config FILE]
	local name=$1 what=$2 rc=0
	shift 2
	local cfg=$config mode=shell
	while [ $# -gt 0 ]; do
		case $1 in
		--mode) mode=$2 ;;
		--sshd-config) cfg=$2 ;;
		esac
		shift 2
	done
	"$tool" blockers --user "$user" --mode "$mode" --port "$FIXTURE_SSHD_PORT" \
		--sshd-config "$cfg" >"$work/blockers" 2>&1 || rc=$?
	if [ "$name" = none ]; then
		[ "$rc" -eq 0 ] && [ "$(cat "$work/blockers")" = none ] ||
			fixture_fail "$what: blockers rc $rc: $(cat "$work/blockers")"
	else
		[ "$rc" -eq 3 ] && grep -q "^blocker $name: " "$work/blockers" ||
			fixture_fail "$what: blockers rc $rc, expected $name: $(cat "$work/blockers")"
	fi
}

expect_login() { # what
	local rc=0
	fixture_ssh_login "$FIXTURE_DIR/client" "$user" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "$1: login refused (ssh rc $rc)"
}

expect_refused() { # what
	local rc=0
	fixture_ssh_login "$FIXTURE_DIR/client" "$user" || rc=$?
	[ "$rc" -eq 255 ] && grep -q 'Permission denied' "$FIXTURE_SSH_ERR" ||
		fixture_fail "$1: expected the login to be refused, ssh rc $rc: $(head -c 300 "$FIXTURE_SSH_ERR")"
}

sftp_session() { # returns sftp's exit code; stderr in $work/sftp.err
	sftp -F /dev/null -b - -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes \
		-o IdentityAgent=none -o ConnectTimeout=5 -o LogLevel=ERROR \
		-i "$FIXTURE_DIR/client" -P "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" \
		<<<"pwd" >/dev/null 2>"$work/sftp.err"
}

# 0. Healthy: no failure, logins and sftp work.
fixture_sshd_start
expect_no_failure "healthy"
expect_no_failure "healthy, sftp" --mode sftp
expect_blocker none "healthy"
expect_login "healthy"
sftp_session || fixture_fail "healthy: sftp fails: $(head -c 300 "$work/sftp.err")"
fixture_pass "healthy setup: no failure, ssh and sftp work"
fixture_sshd_stop

# 1. PubkeyAuthentication no, for this account only (a Match block).
fixture_sshd_start "Match User $user" "PubkeyAuthentication no"
expect_only_failure pubkey-authentication "PubkeyAuthentication no"
grep -q "^fail pubkey-authentication: PubkeyAuthentication is no for $user" "$work/doctor" ||
	fixture_fail "pubkey message: $(grep pubkey-authentication "$work/doctor")"
expect_blocker pubkey-authentication "PubkeyAuthentication no"
expect_refused "PubkeyAuthentication no"
fixture_pass "PubkeyAuthentication no: pubkey-authentication fails, login refused"
fixture_sshd_stop

# 2. AllowUsers without the account.
fixture_sshd_start "AllowUsers someone-else root"
expect_only_failure user-allowed "AllowUsers without the account"
grep -q "^fail user-allowed: AllowUsers is set and admits neither $user" "$work/doctor" ||
	fixture_fail "AllowUsers message: $(grep user-allowed "$work/doctor")"
expect_blocker user-allowed "AllowUsers without the account"
expect_refused "AllowUsers without the account"
fixture_pass "AllowUsers without the account: user-allowed fails, login refused"
fixture_sshd_stop
# ... and DenyUsers with a wildcard naming it.
fixture_sshd_start "DenyUsers ${user:0:4}*"
expect_only_failure user-allowed "DenyUsers wildcard"
expect_blocker user-allowed "DenyUsers wildcard"
expect_refused "DenyUsers wildcard"
fixture_pass "DenyUsers ${user:0:4}*: user-allowed fails, login refused"
fixture_sshd_stop

# 3. No Subsystem sftp. The fixture always writes one and sshd takes the
# first of a keyword, so a wrapper hands the real sshd the config without it.
nosftp=$FIXTURE_DIR/sshd-nosftp
cat >"$nosftp" <<EOF
#!/bin/bash
# sshd with the Subsystem lines of its -f config removed (for this test).
args=() cfg=
while [ \$# -gt 0 ]; do
	if [ "\$1" = -f ]; then cfg=\$2; shift 2; continue; fi
	args+=("\$1"); shift
done
grep -v '^Subsystem ' "\$cfg" >"\$cfg.nosftp" || exit 1
exec $sshd_real "\${args[@]}" -f "\$cfg.nosftp"
EOF
chmod 0755 "$nosftp"
FIXTURE_SSHD=$nosftp
fixture_sshd_start
FIXTURE_SSHD=$sshd_real
[ -f "$config.nosftp" ] && ! grep -q '^Subsystem' "$config.nosftp" ||
	fixture_fail "the wrapper did not strip Subsystem"
cfg_for_json=$config.nosftp
expect_only_failure sftp-subsystem "no Subsystem sftp, SFTP mode" \
	--sshd-config "$config.nosftp" --mode sftp
cfg_for_json=
expect_blocker sftp-subsystem "no Subsystem sftp, SFTP mode" --mode sftp \
	--sshd-config "$config.nosftp"
# In shell mode it is only a warning, and no blocker.
expect_no_failure "no Subsystem sftp, shell mode" --sshd-config "$config.nosftp"
grep -q '^warn sftp-subsystem: ' "$work/doctor" ||
	fixture_fail "shell mode: no sftp-subsystem warning: $(cat "$work/doctor")"
expect_blocker none "no Subsystem sftp, shell mode" --sshd-config "$config.nosftp"
expect_login "no Subsystem sftp"
rc=0
sftp_session || rc=$?
[ "$rc" -ne 0 ] || fixture_fail "no Subsystem sftp: sftp worked anyway"
fixture_pass "no Subsystem sftp: sftp-subsystem fails in SFTP mode, sftp really fails"
fixture_sshd_stop

# 4. A locked account under UsePAM no.
fixture_sshd_start
usermod -p '!' "$user" || fixture_fail "usermod -p '!' failed"
expect_only_failure account "locked account"
grep -q "^fail account: $user is locked" "$work/doctor" ||
	fixture_fail "locked message: $(grep '^fail account' "$work/doctor")"
expect_blocker account "locked account"
expect_refused "locked account"
usermod -p '*' "$user" || fixture_fail "usermod -p '*' failed"
expect_no_failure "unlocked again"
expect_login "unlocked again"
fixture_pass "locked account: account fails, login refused; unlocked: fine"

# 5. A group-writable home.
chmod g+w "$home"
expect_only_failure home-permissions "group-writable home"
# The engine's own reason, the one a grant gets.
grep -qF "fail home-permissions: the home directory is group or world writable; sshd would ignore the keys (StrictModes): chmod go-w it | fix: " "$work/doctor" ||
	fixture_fail "home message: $(grep home-permissions "$work/doctor")"
# Not a grant blocker: the engine refuses to write there with its own reason.
expect_blocker none "group-writable home"
expect_refused "group-writable home"
chmod g-w "$home"
expect_no_failure "home fixed"
expect_login "home fixed"
fixture_pass "group-writable home: home-permissions fails, login refused; fixed: fine"
