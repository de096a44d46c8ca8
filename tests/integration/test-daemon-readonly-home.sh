#!/bin/bash
# A home directory on a file system that is read-only for sshleased, which
# is what ProtectSystem=strict makes of a home outside the unit's
# ReadWritePaths=. Made here the same way systemd makes it: a read-only
# bind mount in the daemon's own mount namespace, so the CLI and sshd still
# see a writable home.
#  - doctor --user asks the daemon: daemon-writes-home fails, blocks a
#    grant, and its fix is the drop-in naming the home; home-permissions
#    (the same walk in doctor's own view) passes;
#  - a grant is refused before anything is written, with the engine's
#    reason: authorized_keys (the owner's own line) is byte-identical, no
#    grant is in the state, the audit log records the refusal only;
#  - the daemon started again without the mount: daemon-writes-home is ok
#    and the same grant works.
#
# usage: test-daemon-readonly-home.sh SSHLEASED SSHLEASE
# Needs root, util-linux (unshare, mount), openssh-client (ssh-keygen).

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh-keygen useradd userdel unshare mount cmp grep
fixture_init
daemon_init "${1:-}" "${2:-}"
fixture_add_user slro
user=$FIXTURE_USER
home=$FIXTURE_HOME
work=$FIXTURE_DIR/work
mkdir -p "$work"
fixture_keygen support

# The owner's own line, which must survive every step byte for byte.
install -d -m 0700 -o "$user" -g "$(id -g "$user")" "$home/.ssh"
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOwnerOwnLineOwnerOwnLineOwnerOwnLineOwnerOw owner@laptop\n' \
	>"$home/.ssh/authorized_keys"
chown "$user:" "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"
cp "$home/.ssh/authorized_keys" "$work/authorized_keys.saved"

daemon_config_write "[grant]" "users = $user"
# The daemon in its own mount namespace, the home read-only there.
# shellcheck disable=SC2016 # expanded by the inner shell
DAEMON_WRAP=(unshare -m --propagation private sh -c
	'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" && shift && exec "$@"'
	sh "$home")
daemon_start
# The test's own view stays writable: the mount is the daemon's alone.
touch "$home/.probe" && rm -f "$home/.probe" ||
	fixture_fail "the home is read-only outside the daemon's namespace too"

doctor() { # args...: stdout in $work/out
	local rc=0
	sl doctor --config "$DAEMON_CONFIG" "$@" >"$work/out" 2>"$work/err" || rc=$?
	return "$rc"
}
check_status() { # name status what
	grep -qF "{\"name\":\"$1\",\"status\":\"$2\"," "$work/out" ||
		fixture_fail "$3: check $1 is not $2: $(head -c 3000 "$work/out")"
}

# 1. doctor asks the daemon.
rc=0
doctor --user "$user" --json || rc=$?
[ "$rc" -eq 1 ] || fixture_fail "read-only home: doctor exited $rc, expected 1: $(head -c 3000 "$work/out")"
check_status daemon-writes-home fail "read-only home"
check_status home-permissions ok "read-only home"
grep -q '"name":"daemon-writes-home","status":"fail","message":"[^"]*read-only for sshleased[^"]*","fix":"[^"]*systemctl edit sshleased[^"]*ReadWritePaths=-'"$home"'[^"]*","blocks_grant":true}' "$work/out" ||
	fixture_fail "read-only home: no drop-in fix naming $home: $(head -c 3000 "$work/out")"
rc=0
doctor --user "$user" || rc=$?
grep -Eq '^fail +daemon-writes-home +sshleased cannot write the authorized_keys of '"$user"': ' "$work/out" &&
	grep -qF "A grant for $user would be refused because of: daemon-writes-home" "$work/out" ||
	fixture_fail "read-only home, text: $(cat "$work/out")"
fixture_pass "doctor: daemon-writes-home fails with the drop-in as its fix; home-permissions passes"

# 2. The grant is refused before anything is written.
cp "$DAEMON_AUDIT" "$work/audit.saved"
rc=0
sl grant --yes --user "$user" --for 1h "@$FIXTURE_DIR/support.pub" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "read-only home: grant exited $rc, expected 3 (refused): $(cat "$work/out" "$work/err")"
grep -qF 'read-only for sshleased' "$work/err" ||
	fixture_fail "read-only home: the refusal does not say why: $(cat "$work/err")"
cmp -s "$work/authorized_keys.saved" "$home/.ssh/authorized_keys" ||
	fixture_fail "read-only home: authorized_keys changed"
[ -z "$(find "$home/.ssh" -mindepth 1 ! -name authorized_keys)" ] ||
	fixture_fail "read-only home: something was left in ~/.ssh: $(ls -la "$home/.ssh")"
[ "$(sl list --json)" = "[]" ] || fixture_fail "read-only home: a grant is listed: $(sl list --json)"
new=$(tail -n +"$(($(wc -l <"$work/audit.saved") + 1))" "$DAEMON_AUDIT")
grep -q '"event":"refuse"' <<<"$new" && ! grep -q '"event":"grant"' <<<"$new" ||
	fixture_fail "read-only home: the audit log has not just the refusal: $new"
fixture_pass "grant refused for a read-only home; authorized_keys, state and ~/.ssh unchanged"

# 3. Writable again: ok, and the grant works.
daemon_stop
DAEMON_WRAP=()
daemon_start
doctor --user "$user" --json || true
check_status daemon-writes-home ok "writable home"
sl grant --yes --user "$user" --for 1h "@$FIXTURE_DIR/support.pub" >"$work/out" 2>"$work/err" ||
	fixture_fail "writable home: grant failed: $(cat "$work/out" "$work/err")"
head -n 1 "$home/.ssh/authorized_keys" | cmp -s - "$work/authorized_keys.saved" ||
	fixture_fail "writable home: the owner's line changed"
fixture_pass "writable home: daemon-writes-home ok, the grant works, the owner's line kept"
daemon_stop
