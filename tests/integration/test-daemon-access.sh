#!/bin/bash
# Who may talk to sshleased (DESIGN.md §3 step 2, §9): the socket is 0660
# root:socket_group; an account that is neither root nor in socket_group
# gets exit 4 from the CLI, both where the socket's mode stops it and where
# only the daemon's own peer check (SO_PEERCRED) stands in the way (the
# socket made world-writable by hand), and its grant changes nothing. A
# member of socket_group (a supplementary group) may list, grant and
# revoke, and the audit log names them.
#
# usage: test-daemon-access.sh SSHLEASED SSHLEASE
# Needs root, openssh-client (ssh-keygen), passwd (useradd, groupadd),
# util-linux (setpriv).

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh-keygen useradd usermod userdel groupadd groupdel setpriv cmp stat
fixture_init
daemon_init "${1:-}" "${2:-}"

daemon_add_group slgr
group=$DAEMON_GROUP
fixture_add_user slat
target=$FIXTURE_USER
target_home=$FIXTURE_HOME
fixture_add_user slam
member=$FIXTURE_USER
usermod -a -G "$group" "$member" || fixture_fail "usermod -a -G $group $member failed"
fixture_add_user slan
outsider=$FIXTURE_USER
work=$FIXTURE_DIR/work
mkdir -p "$work"
fixture_keygen support
chmod 0644 "$FIXTURE_DIR/support.pub"

# Others must reach the socket (and the CLI, copied out of the build tree
# whose parents may be closed): the temporary tree becomes searchable, not
# readable; the config and state stay root's.
chmod 0711 "$FIXTURE_DIR"
mkdir -p "$FIXTURE_DIR/bin"
chmod 0755 "$FIXTURE_DIR/bin" "$work"
install -m 0755 "$SSHLEASE" "$FIXTURE_DIR/bin/sshlease"
cp "$FIXTURE_DIR/support.pub" "$work/support.pub"
chmod 0644 "$work/support.pub"

# shellcheck disable=SC2034 # read by daemon_config_write
DAEMON_SOCKET_GROUP=$group
daemon_config_write "[grant]" "users = $target"
daemon_start

mode=$(stat -c '%a %U %G' "$DAEMON_SOCKET")
[ "$mode" = "660 root $group" ] ||
	fixture_fail "the socket is '$mode', expected '660 root $group'"
[ "$(stat -c '%a' "$(dirname "$DAEMON_SOCKET")")" = 755 ] ||
	fixture_fail "the socket directory is not 0755"

# The CLI as another account, with its own groups from /etc/group.
as() { # account args...
	local who=$1
	shift
	setpriv --reuid="$who" --regid="$(id -g "$who")" --init-groups \
		env -i PATH=/usr/bin:/bin "$FIXTURE_DIR/bin/sshlease" \
		--socket "$DAEMON_SOCKET" "$@"
}

state=$DAEMON_STATE/state.json
snapshot() {
	cp "$DAEMON_AUDIT" "$work/audit.saved"
	if [ -e "$state" ]; then cp "$state" "$work/state.saved"; else rm -f "$work/state.saved"; fi
}
expect_unchanged() { # what
	cmp -s "$work/audit.saved" "$DAEMON_AUDIT" || fixture_fail "$1: the audit log changed"
	if [ -e "$work/state.saved" ]; then
		cmp -s "$work/state.saved" "$state" || fixture_fail "$1: state.json changed"
	else
		[ ! -e "$state" ] || fixture_fail "$1: state.json appeared"
	fi
	[ ! -e "$target_home/.ssh/authorized_keys" ] ||
		fixture_fail "$1: the target's authorized_keys was written"
}

expect_denied() { # what regex args...
	local what=$1 regex=$2 rc=0
	shift 2
	as "$outsider" "$@" >"$work/out" 2>"$work/err" || rc=$?
	[ "$rc" -eq 4 ] ||
		fixture_fail "$what: exit $rc, expected 4: $(head -c 400 "$work/err")"
	grep -Eqi "$regex" "$work/err" ||
		fixture_fail "$what: stderr does not match /$regex/: $(head -c 400 "$work/err")"
	[ ! -s "$work/out" ] || fixture_fail "$what: printed something: $(head -c 200 "$work/out")"
}

# --- an outsider, stopped by the socket's mode ---
snapshot
expect_denied "outsider list (socket mode)" 'permission denied.*socket_group' list
expect_denied "outsider status (socket mode)" 'permission denied' status
expect_denied "outsider grant (socket mode)" 'permission denied' \
	grant --yes --user "$target" --for 1h "@$work/support.pub"
expect_unchanged "outsider (socket mode)"
fixture_pass "an outsider is refused by the socket's mode"

# --- an outsider, stopped by the daemon's own check ---
chmod 0666 "$DAEMON_SOCKET"
expect_denied "outsider list (peer check)" "only root and members of group $group" list
expect_denied "outsider grant (peer check)" "only root and members of group $group" \
	grant --yes --user "$target" --for 1h "@$work/support.pub"
expect_denied "outsider revoke (peer check)" "only root and members of group $group" \
	revoke --all
expect_denied "outsider audit (peer check)" "only root and members of group $group" \
	audit
# Every refusal is recorded (DESIGN.md §8), at most once per uid a minute:
# the four denials above add exactly one "refuse" line naming the outsider.
outsider_uid=$(id -u "$outsider")
head -c "$(stat -c %s "$work/audit.saved")" "$DAEMON_AUDIT" | cmp -s - "$work/audit.saved" ||
	fixture_fail "outsider (peer check): the audit log's earlier lines changed"
tail -c +"$(($(stat -c %s "$work/audit.saved") + 1))" "$DAEMON_AUDIT" >"$work/audit.new"
[ "$(wc -l <"$work/audit.new")" -eq 1 ] ||
	fixture_fail "outsider (peer check): expected one new audit line, got $(wc -l <"$work/audit.new")"
grep -q "\"event\":\"refuse\",.*\"by_uid\":$outsider_uid,\"by_user\":\"$outsider\",\"reason\":\"permission denied\"" "$work/audit.new" ||
	fixture_fail "outsider (peer check): the new audit line is not the refusal: $(head -c 400 "$work/audit.new")"
cp "$DAEMON_AUDIT" "$work/audit.saved"
expect_unchanged "outsider (peer check)"
chmod 0660 "$DAEMON_SOCKET"
fixture_pass "an outsider is refused by the daemon's peer check"

# --- a member of socket_group ---
as "$member" list >"$work/out" 2>"$work/err" ||
	fixture_fail "member list failed: $(head -c 400 "$work/err")"
as "$member" status >/dev/null 2>"$work/err" ||
	fixture_fail "member status failed: $(head -c 400 "$work/err")"
as "$member" grant --yes --json --user "$target" --for 1h "@$work/support.pub" \
	>"$work/grant.json" 2>"$work/err" ||
	fixture_fail "member grant failed: $(head -c 400 "$work/err")"
id=$(json_field "$work/grant.json" id)
[[ $id =~ ^[0-9a-f]{12}$ ]] || fixture_fail "member grant: no id"
[ "$(json_field "$work/grant.json" by_user)" = "$member" ] ||
	fixture_fail "member grant: by_user is not $member"
grep -q "sshlease:$id" "$target_home/.ssh/authorized_keys" ||
	fixture_fail "member grant: no line in the target's authorized_keys"
grep -q "\"event\":\"grant\",\"id\":\"$id\".*\"by_user\":\"$member\"" "$DAEMON_AUDIT" ||
	fixture_fail "member grant: the audit record does not name $member"
as "$member" list --json >"$work/list.json" 2>"$work/err" ||
	fixture_fail "member list failed: $(head -c 400 "$work/err")"
grep -q "\"id\":\"$id\"" "$work/list.json" || fixture_fail "member list does not show $id"
expect_denied "outsider revoke of the member's grant" 'permission denied' revoke "$id"
grep -q "sshlease:$id" "$target_home/.ssh/authorized_keys" ||
	fixture_fail "the outsider's revoke removed the line"
as "$member" revoke "$id" >/dev/null 2>"$work/err" ||
	fixture_fail "member revoke failed: $(head -c 400 "$work/err")"
! grep -q "sshlease:$id" "$target_home/.ssh/authorized_keys" ||
	fixture_fail "member revoke left the line"
fixture_pass "a member of socket_group may list, grant and revoke"

# --- a member refused in a loop is recorded once a minute (the next
#     record counts the rest), root every time; each hears the refusal ---
member_uid=$(id -u "$member")
refusals_of() { # uid: refuse records by that uid
	grep '"event":"refuse"' "$DAEMON_AUDIT" | grep -c "\"by_uid\":$1,"
}
before_member=$(refusals_of "$member_uid")
before_root=$(refusals_of 0)
for ((i = 0; i < 20; i++)); do
	rc=0
	as "$member" grant --yes --user root --for 1h "@$work/support.pub" >/dev/null 2>"$work/err" || rc=$?
	[ "$rc" -eq 3 ] || fixture_fail "member grant to root, try $i: exit $rc, expected 3: $(head -c 300 "$work/err")"
done
for ((i = 0; i < 3; i++)); do
	rc=0
	sl grant --yes --user root --for 1h "@$work/support.pub" >/dev/null 2>"$work/err" || rc=$?
	[ "$rc" -eq 3 ] || fixture_fail "root grant to root, try $i: exit $rc, expected 3: $(head -c 300 "$work/err")"
done
[ "$(($(refusals_of "$member_uid") - before_member))" -eq 1 ] ||
	fixture_fail "20 refusals of a member in a row made $(($(refusals_of "$member_uid") - before_member)) records, expected 1"
[ "$(($(refusals_of 0) - before_root))" -eq 3 ] ||
	fixture_fail "3 refusals of root made $(($(refusals_of 0) - before_root)) records, expected 3"
fixture_pass "a member's refusals are recorded at most once a minute, root's every time"

sl audit --verify >/dev/null 2>"$work/err" ||
	fixture_fail "audit --verify failed: $(head -c 400 "$work/err")"
daemon_stop
fixture_pass "access to the daemon"
