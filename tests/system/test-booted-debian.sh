#!/bin/bash
# The .deb built from this source tree, installed with apt in a booted
# Debian 12 (systemd as PID 1 in systemd-nspawn), used as a sysadmin would:
#  - installing starts the unit (postinst), and sshlease status answers;
#  - a grant for an account in /home logs in with a real ssh; list,
#    extend, revoke (then refused), audit --verify;
#  - systemctl reload applies a good config, exits non-zero on a bad one
#    and the old config stays in force;
#  - a deadline passing while the service is stopped: the line is gone
#    when systemctl start returns;
#  - with SystemCallErrorNumber= cleared (a call outside @system-service
#    kills the daemon), every operation runs with the same MainPID and no
#    restart; the daemon holds exactly its four capabilities and
#    NoNewPrivs;
#  - an account whose home is in /var/www is granted out of the box;
#  - apt remove takes every managed line back and leaves the account's
#    own lines byte-identical; a reinstall keeps live grants.
# Each check prints "ok NAME" or "FAIL NAME: why"; the script exits 1 when
# one failed, and then prints the daemon's journal.
#
# usage: test-booted-debian.sh SOURCE_ROOT BUILD_ROOT
# The rootfs tarball is cached in BUILD_ROOT/tests/system/cache. Needs root,
# the network to a Debian mirror on the first run, and on the host:
# mmdebstrap, systemd-container, util-linux, dpkg-dev and the package's
# build dependencies (see container.sh).

# "A && B || fail" below means: fail unless both hold.
# shellcheck disable=SC2015
# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh" # json_field
# shellcheck source=container.sh
. "$(dirname "$0")/container.sh"

source_root=${1:-}
build_root=${2:-}
[ -d "$source_root" ] && [ -d "$build_root" ] ||
	fixture_fail "usage: $0 SOURCE_ROOT BUILD_ROOT"
source_root=$(realpath "$source_root")
build_root=$(realpath "$build_root")

if [ "$(id -u)" -ne 0 ]; then
	echo "skipped: this test needs root (it boots a container)" >&2
	exit 77
fi
fixture_require_cmd mmdebstrap systemd-nspawn nsenter dpkg-buildpackage dpkg-deb \
	timeout tar sha256sum find cmp grep sed awk
work_dir=$build_root/tests/system
mkdir -p "$work_dir"
TMPDIR=$work_dir fixture_init

conf=/etc/sshlease/sshlease.conf
failed=0

container_build_deb "$source_root" "$build_root"
mapfile -t needs < <(container_deb_needs "$CONTAINER_DEB")
# cron: a crontab for the footholds check.
container_rootfs "$work_dir/cache" "${needs[@]}" cron
# A web server's document root, as on the machine of a shop: it exists
# before sshleased starts, so ReadWritePaths=-/var/www takes it.
install -d -m 0755 "$CONTAINER_ROOT/var/www"
deb=/var/cache/sshlease-test/$(basename "$CONTAINER_DEB")
install -d -m 0755 "$CONTAINER_ROOT/var/cache/sshlease-test"
cp "$CONTAINER_DEB" "$CONTAINER_ROOT$deb"
container_boot

sl() { # sshlease inside the container
	in_ct sshlease "$@"
}

# Fail the running check: its reason goes to a file for run_check to
# print, and exit ends the check, which runs in a subshell of its own.
why_file=$FIXTURE_DIR/why
fail() { # message...
	printf '%s\n' "$*" >"$why_file"
	exit 1
}

# An account with a home (default under /home) and a login shell, with the
# password field '*' (useradd leaves it '!', and sshlease refuses a grant
# for a locked account). Its name is printed.
ct_add_user() { # prefix [home]
	local name
	name=$1$(_fixture_random_hex 3)
	in_ct useradd -m ${2:+-d "$2/$name"} -s /bin/bash "$name" >&2 &&
		in_ct usermod -p '*' "$name" >&2 || return 1
	echo "$name"
}

ct_home() { # user
	in_ct getent passwd "$1" | cut -d: -f6
}

# A key pair /root/NAME and /root/NAME.pub inside the container.
ct_keygen() { # name
	in_ct ssh-keygen -q -t ed25519 -N '' -C "$1@system-test" -f "/root/$1" </dev/null >/dev/null
}

# A command run through ssh with exactly this key; ssh's exit code (255:
# refused), its stderr in $FIXTURE_DIR/ssh.err.
ct_ssh() { # key user command...
	local key=$1 user=$2
	shift 2
	in_ct ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes \
		-o IdentityAgent=none -o PreferredAuthentications=publickey \
		-o ConnectTimeout=5 -o LogLevel=ERROR -i "/root/$key" "$user@127.0.0.1" "$@" \
		</dev/null 2>"$FIXTURE_DIR/ssh.err"
}

# One login with exactly this key; 0 logged in, 255 refused.
ct_login() { # key user
	ct_ssh "$1" "$2" true
}

# Grant /root/KEY.pub to USER with extra options; prints the grant id.
# Returns sshlease's exit code; its stderr is in $FIXTURE_DIR/grant.err.
ct_grant() { # user key [option...]
	local user=$1 key=$2 out
	shift 2
	out=$(sl grant --yes --json --user "$user" "$@" "@/root/$key.pub" 2>"$FIXTURE_DIR/grant.err") ||
		return # sshlease's exit code
	printf '%s\n' "$out" | grep -o '"id":"[0-9a-f]\{12\}"' | head -n 1 | cut -d'"' -f4
}

# The deadline of grant ID, in seconds since the epoch.
ct_deadline() { # id
	sl show --json "$1" >"$FIXTURE_DIR/show.json" &&
		json_field "$FIXTURE_DIR/show.json" expires_unix
}

# The host path of USER's authorized_keys.
ak_path() { # user
	echo "$CONTAINER_ROOT$(ct_home "$1")/.ssh/authorized_keys"
}

# The managed line of grant ID in FILE (empty when there is none).
managed_line() { # file id
	grep -s " sshlease:$2\$" "$1" || true
}

unit_prop() { # property
	in_ct systemctl show -p "$1" --value sshleased
}

# How many "configuration reloaded" lines sshleased has logged.
reloads_logged() {
	in_ct journalctl -q -u sshleased -o cat | grep -c 'configuration reloaded'
}

# systemctl reload, then wait (bounded) until the daemon says it reloaded:
# ExecReload only signals, the daemon applies the file a moment later.
ct_reload() {
	local before i
	before=$(reloads_logged)
	in_ct systemctl reload sshleased >"$FIXTURE_DIR/reload.out" 2>&1 || return 1
	for ((i = 0; i < 100; i++)); do
		[ "$(reloads_logged)" -gt "$before" ] && return 0
		sleep 0.1
	done
	return 1
}

write_conf() { # line...
	install -d -m 0755 "$CONTAINER_ROOT${conf%/*}"
	printf '%s\n' "$@" >"$CONTAINER_ROOT$conf"
}

# Every managed line in the container's authorized_keys files, as
# "FILE:LINE" with FILE as seen inside.
all_managed_lines() {
	find "$CONTAINER_ROOT/home" "$CONTAINER_ROOT/var/www" "$CONTAINER_ROOT/srv" \
		"$CONTAINER_ROOT/opt" "$CONTAINER_ROOT/root" -name authorized_keys \
		-exec grep -H ' sshlease:[0-9a-f]\{12\}$' {} + 2>/dev/null |
		sed "s|^$CONTAINER_ROOT||"
}

check_installed_unit_active() {
	local state
	state=$(in_ct systemctl is-active sshleased)
	[ "$state" = active ] || fail "sshleased is '$state' after apt install, not active"
	state=$(in_ct systemctl is-enabled sshleased)
	[ "$state" = enabled ] || fail "sshleased is '$state' after apt install, not enabled"
	# Type=notify: start returned only after READY=1, which the daemon
	# sends once recovery is done and the socket listens.
	[ "$(unit_prop Type)" = notify ] || fail "the unit is Type=$(unit_prop Type), not notify"
	sl status >"$FIXTURE_DIR/status.out" 2>&1 ||
		fail "sshlease status failed: $(head -c 300 "$FIXTURE_DIR/status.out")"
	in_ct getent group sshlease >/dev/null || fail "the package made no sshlease group"
}

check_home_grant_login() {
	local user id ak line1 line2 out e1 e2 rc=0
	user=$(ct_add_user slh) || fail "useradd failed"
	ct_keygen home || fail "ssh-keygen failed"
	id=$(ct_grant "$user" home --for 1h --ticket SYS-1) && [ -n "$id" ] ||
		fail "grant for $user failed: $(head -c 300 "$FIXTURE_DIR/grant.err")"
	ak=$(ak_path "$user")
	line1=$(managed_line "$ak" "$id")
	[ -n "$line1" ] || fail "no line sshlease:$id in $ak"
	ct_login home "$user" || fail "ssh login with the granted key failed: $(head -c 300 "$FIXTURE_DIR/ssh.err")"
	sl list --user "$user" | grep -q "$id" || fail "list does not show grant $id"
	e1=$(ct_deadline "$id") || fail "show $id failed"
	sl extend "$id" --for 2h >/dev/null || fail "extend $id --for 2h failed"
	e2=$(ct_deadline "$id")
	[ "$e2" -gt "$((e1 + 1800))" ] || fail "extend moved the deadline from $e1 to $e2, not by about an hour"
	line2=$(managed_line "$ak" "$id")
	[ -n "$line2" ] && [ "$line2" != "$line1" ] ||
		fail "extend did not rewrite the line's expiry-time: '$line2'"
	ct_login home "$user" || fail "login after extend failed"
	sl revoke "$id" >/dev/null || fail "revoke $id failed"
	[ -z "$(managed_line "$ak" "$id")" ] || fail "the line of $id is still there after revoke"
	ct_login home "$user" || rc=$?
	[ "$rc" -eq 255 ] || fail "login after revoke: ssh exited $rc, expected 255 (refused)"
	out=$(sl audit --grant "$id" --json) || fail "audit --grant $id failed"
	for ev in grant extend revoke; do
		printf '%s' "$out" | grep -q "\"event\":\"$ev\"" || fail "audit of $id has no '$ev' record"
	done
	sl audit --verify >"$FIXTURE_DIR/verify.out" 2>&1 ||
		fail "audit --verify failed: $(head -c 300 "$FIXTURE_DIR/verify.out")"
}

# Whether grant ID's audit records hold one of event EVENT matching the
# extended regular expression PATTERN (within the record).
audit_has() { # id event [pattern]
	sl audit --grant "$1" --json 2>/dev/null | grep "\"event\":\"$2\"" | grep -qE "${3:-.}"
}

# Up to 10 s for a command to succeed.
ct_wait() { # command...
	local i
	for ((i = 0; i < 100; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# A new account with a key /root/KEY granted to it for an hour; prints
# "USER ID".
ct_new_grant() { # prefix key
	local user id
	user=$(ct_add_user "$1") || fail "useradd failed"
	ct_keygen "$2" || fail "ssh-keygen failed"
	id=$(ct_grant "$user" "$2" --for 1h) && [ -n "$id" ] ||
		fail "grant for $user failed: $(head -c 300 "$FIXTURE_DIR/grant.err")"
	echo "$user $id"
}

# The sessions of a grant through the journal, the default source, and the
# unit's sandbox (no CAP_SYS_PTRACE): a login is on record with its
# address, show lists it, and revoke closes the connection at once.
check_session_ends_on_revoke() {
	local user id client out
	out=$(ct_new_grant sls sess) || exit 1 # fail gave the reason
	read -r user id <<<"$out"
	CONTAINER_TIMEOUT=120 ct_ssh sess "$user" sleep 600 &
	client=$!
	ct_wait audit_has "$id" session_start '"address":"127.0.0.1"' ||
		fail "no session_start record of $id within 10 s of the login: $(sl audit --grant "$id" 2>&1 | tail -n 3)"
	audit_has "$id" session_start '"reason"' &&
		fail "the session of $id was recorded without a connection to end: $(sl audit --grant "$id" --json | grep session_start)"
	sl show "$id" >"$FIXTURE_DIR/show.out" 2>&1 || fail "show $id failed"
	grep -q "127.0.0.1 port [0-9]* since .*sshd pid [0-9]*" "$FIXTURE_DIR/show.out" ||
		fail "show $id lists no open session: $(cat "$FIXTURE_DIR/show.out")"
	sl revoke "$id" >/dev/null || fail "revoke $id failed"
	ct_wait bash -c "! kill -0 $client 2>/dev/null" ||
		fail "the ssh session of $id still runs 10 s after revoke"
	audit_has "$id" session_end '"reason":"grant ended"' ||
		fail "no session_end record of $id after revoke"
}

# A login made while the daemon was stopped is found in the journal when it
# starts again, and ends with its grant.
check_session_while_stopped() {
	local user id client out
	out=$(ct_new_grant slw down) || exit 1 # fail gave the reason
	read -r user id <<<"$out"
	in_ct systemctl stop sshleased || fail "systemctl stop sshleased failed"
	CONTAINER_TIMEOUT=120 ct_ssh down "$user" sleep 600 &
	client=$!
	ct_wait in_ct bash -c "pgrep -u '$user' -x sleep >/dev/null" ||
		fail "the login of $user did not start"
	in_ct systemctl start sshleased || fail "systemctl start sshleased failed"
	audit_has "$id" session_start '"address":"127.0.0.1"' ||
		fail "the login made while sshleased was stopped is not on record once it is ready"
	sl revoke "$id" >/dev/null || fail "revoke $id failed"
	ct_wait bash -c "! kill -0 $client 2>/dev/null" ||
		fail "the session made while sshleased was stopped still runs 10 s after revoke"
}

# A scope record in state.json of grant ID and account USER, its unit
# named PREFIX*, made for a login at T0 or later.
new_scope() { # id user prefix t0
	in_ct grep -o "\"grant\":\"$1\",\"user\":\"$2\",\"uid\":[0-9]*,\"since\":[0-9]*,\"pid_start\":[0-9]*,\"unit\":\"$3" \
		/var/lib/sshlease/state.json |
		sed 's/.*"since":\([0-9]*\).*/\1/' | awk -v t="$4" '$1 >= t { f = 1 } END { exit !f }'
}

# Processes that left a grant's session end with the grant: ones started
# with setsid -f (a new session, reparented to init), with nohup and
# disowned, and through a double fork. The owner's own login of the same
# account, with a key of its own, starts such a process too, which is left
# alone. unit_prefix: the scope expected (session- with logind, sshlease-
# without). early: what becomes of a process detached at once, before
# sshleased can have read the login: "ended" (logind's scope held it from
# the start) or "reported" (it may have escaped the transient scope; then
# the leftovers record must name it).
leftovers_end_with_grant() { # unit_prefix key_prefix early
	local user id client owner_sleep left home i t0 key=$2left own=$2own
	# The owner's key is there before the grant (one added while a grant
	# is live is an added key, removed).
	user=$(ct_add_user sll) || fail "useradd failed"
	home=$(ct_home "$user")
	ct_keygen "$key" && ct_keygen "$own" || fail "ssh-keygen failed"
	in_ct install -d -o "$user" -g "$user" -m 0700 "$home/.ssh" &&
		in_ct bash -c "cat /root/$own.pub >>'$home/.ssh/authorized_keys' && chown '$user:' '$home/.ssh/authorized_keys'" ||
		fail "cannot add the owner's key"
	id=$(ct_grant "$user" "$key" --for 1h) && [ -n "$id" ] ||
		fail "grant for $user failed: $(head -c 300 "$FIXTURE_DIR/grant.err")"
	ct_ssh "$own" "$user" 'setsid -f sleep 8881 </dev/null >/dev/null 2>&1' ||
		fail "the owner's login failed: $(head -c 300 "$FIXTURE_DIR/ssh.err")"
	# Short logins leave scopes that are gone by the next one's end: their
	# records do not pile up in the state.
	for i in 1 2 3 4 5; do
		ct_login "$key" "$user" || fail "login $i of $id failed: $(head -c 300 "$FIXTURE_DIR/ssh.err")"
	done
	ct_wait in_ct bash -c "[ \$(grep -c '\"unit\":\"$1' /var/lib/sshlease/state.json) -le 2 ]" ||
		fail "the scopes of five logins that are over pile up in state.json: $(in_ct grep -c '"unit"' /var/lib/sshlease/state.json)"
	# Logins from here on are this one's: their scopes start at t0 or later.
	sleep 1
	t0=$(date +%s)
	CONTAINER_TIMEOUT=120 ct_ssh "$key" "$user" 'setsid -f sleep 7770 </dev/null >/dev/null 2>&1;
		while [ ! -e go ]; do sleep 0.1; done;
		setsid -f sleep 7771 </dev/null >/dev/null 2>&1;
		nohup sleep 7772 </dev/null >/dev/null 2>&1 & disown;
		(sleep 7773 </dev/null >/dev/null 2>&1 &); exec sleep 600' &
	client=$!
	# This login's own scope (the short ones before left records too):
	# one of this grant made for a login since t0.
	ct_wait new_scope "$id" "$user" "$1" "$t0" ||
		fail "state.json holds no scope $1* of $id for the login: $(in_ct cat /var/lib/sshlease/state.json | tail -c 600)"
	# ...and the login's shell is in it (the record may be saved before
	# systemd has moved the login's processes into a new transient scope).
	ct_wait in_ct bash -c "for p in \$(pgrep -u '$user' -f 'while \\[ ! -e go'); do grep -q '/$1' /proc/\$p/cgroup && exit 0; done; exit 1" ||
		fail "the login's shell is in no $1* scope: $(in_ct bash -c "for p in \$(pgrep -u '$user' -f 'while'); do cat /proc/\$p/cgroup; done")"
	in_ct touch "$home/go"
	ct_wait in_ct bash -c "[ \$(pgrep -u '$user' -fc '^sleep 777[0123]\$') -eq 4 ]" ||
		fail "the login of $user did not start its four processes"
	owner_sleep=$(in_ct pgrep -u "$user" -fx 'sleep 8881') || fail "the owner's process did not start"
	sl revoke "$id" >/dev/null || fail "revoke $id failed"
	ct_wait bash -c "! kill -0 $client 2>/dev/null" ||
		fail "the ssh session of $id still runs 10 s after revoke"
	ct_wait in_ct bash -c "! pgrep -u '$user' -f '^sleep 777[123]\$' >/dev/null" ||
		fail "processes the grant's login left still run 10 s after revoke: $(in_ct pgrep -u "$user" -fa '^sleep 777')"
	in_ct kill -0 "$owner_sleep" || fail "the owner's own process was ended with the grant"
	in_ct kill "$owner_sleep"
	ct_wait in_ct bash -c "! grep -q '\"grant\":\"$id\"' /var/lib/sshlease/state.json" ||
		fail "state.json still holds a scope of $id"
	left=$(sl audit --grant "$id" --json | grep '"event":"leftovers"')
	printf '%s' "$left" | grep -q 'sleep 777[123]' &&
		fail "processes the grant's scope held were reported as left over: $left"
	if [ "$3" = ended ]; then
		in_ct pgrep -u "$user" -fx 'sleep 7770' >/dev/null &&
			fail "the process detached at once still runs after revoke"
		printf '%s' "$left" | grep -q 'sleep 7770' &&
			fail "the process detached at once was reported as left over: $left"
	elif in_ct pkill -u "$user" -fx 'sleep 7770'; then
		printf '%s' "$left" | grep -q "[0-9] sleep 7770" ||
			fail "the process detached at once outlived the grant and no leftovers record names it: $(sl audit --grant "$id" | tail -n 3)"
	fi
	# Started before the grant's login, the owner's is no leftover.
	printf '%s' "$left" | grep -q "sleep 8881" &&
		fail "the owner's process, started before the grant's login, is in the leftovers record: $left"
	return 0
}

# A session with a terminal is told before its deadline (half the grant's
# length, for one this short) and at the end, as wall(1) would tell it:
# through the unit's private /dev, as root without CAP_DAC_OVERRIDE.
check_session_terminal_notice() {
	local user id out client
	user=$(ct_add_user slt) || fail "useradd failed"
	ct_keygen tty || fail "ssh-keygen failed"
	id=$(ct_grant "$user" tty --for 16s) && [ -n "$id" ] ||
		fail "grant for $user failed: $(head -c 300 "$FIXTURE_DIR/grant.err")"
	out=$FIXTURE_DIR/tty.out
	CONTAINER_TIMEOUT=60 in_ct ssh -tt -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o IdentityAgent=none \
		-o LogLevel=ERROR -i /root/tty "$user@127.0.0.1" 'sleep 600' </dev/null >"$out" 2>&1 &
	client=$!
	ct_wait audit_has "$id" session_start '"address":"127.0.0.1"' ||
		fail "no session_start record of $id"
	ct_wait grep -q "sshlease: this access to $user ends at [0-9-]* [0-9:]* UTC (in [0-9]* seconds); grant $id" "$out" ||
		fail "no notice before the deadline on the session's terminal: $(tr -d '\r' <"$out" | tail -c 300)"
	ct_wait grep -q "sshlease: this access to $user has ended (grant $id)" "$out" ||
		fail "no notice at the end on the session's terminal: $(tr -d '\r' <"$out" | tail -c 300)"
	ct_wait bash -c "! kill -0 $client 2>/dev/null" ||
		fail "the terminal session of $id still runs 10 s after its deadline"
	[ "$(grep -c 'sshlease: this access' "$out")" -eq 2 ] ||
		fail "expected exactly two notices: $(tr -d '\r' <"$out")"
}

# With UsePAM yes (Debian's sshd) and libpam-systemd, each login is a
# logind session scope: that scope is the one ended.
check_session_leftovers_logind() {
	leftovers_end_with_grant session- pam ended
}

# A process that left its login's scope (moved out by the test here, as a
# grantee could through a user manager of its own) is reported at the
# grant's end, also when that login is long over and its scope gone: the
# scope records that later logins prune keep the grant's first.
check_session_leftovers_after_close() {
	local user id out pid
	out=$(ct_new_grant slp pruned) || exit 1
	read -r user id <<<"$out"
	ct_ssh pruned "$user" 'setsid -f sleep 7790 </dev/null >/dev/null 2>&1' ||
		fail "the login of $id failed: $(head -c 300 "$FIXTURE_DIR/ssh.err")"
	ct_wait in_ct pgrep -u "$user" -fx 'sleep 7790' >/dev/null || fail "the login's process did not start"
	pid=$(in_ct pgrep -u "$user" -fx 'sleep 7790')
	# By a process inside the container's cgroups (one that nsenter starts
	# is outside them), to a leaf of its own (the top may hold no process),
	# in each hierarchy that tracks processes (v2, or hybrid's two).
	in_ct systemd-run --quiet --wait --pipe --collect sh -c "
		if [ -e /sys/fs/cgroup/cgroup.procs ]; then set -- /sys/fs/cgroup
		else set -- /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; fi
		for h; do mkdir -p \$h/sshlease-escape && echo $pid >\$h/sshlease-escape/cgroup.procs || exit 1; done" \
		>"$FIXTURE_DIR/move.err" 2>&1 ||
		fail "cannot move pid $pid out of its scope: $(head -c 300 "$FIXTURE_DIR/move.err")"
	ct_login pruned "$user" || fail "the second login of $id failed: $(head -c 300 "$FIXTURE_DIR/ssh.err")"
	ended_twice() { [ "$(sl audit --grant "$id" --json | grep -o '"event":"session_end"' | wc -l)" -ge 2 ]; }
	ct_wait ended_twice ||
		fail "the two logins of $id are not over: $(sl audit --grant "$id" | tail -n 2)"
	sl revoke "$id" >/dev/null || fail "revoke $id failed"
	ct_wait audit_has "$id" leftovers "[0-9] sleep 7790" ||
		{ in_ct kill "$pid"; fail "the process that left the first login's scope outlived the grant unreported: $(sl audit --grant "$id" | tail -n 3)"; }
	in_ct kill "$pid"
}

# systemctl daemon-reexec (package upgrades run it) closes every bus
# connection to systemd: sshleased connects again, and the next grant's
# processes still end with it.
check_session_scope_after_reexec() {
	local user id out client
	out=$(ct_new_grant slx reexec) || exit 1
	read -r user id <<<"$out"
	in_ct systemctl daemon-reexec || fail "systemctl daemon-reexec failed"
	CONTAINER_TIMEOUT=120 ct_ssh reexec "$user" 'setsid -f sleep 7795 </dev/null >/dev/null 2>&1; exec sleep 600' &
	client=$!
	ct_wait audit_has "$id" session_start || fail "no session_start of $id after the reexec"
	ct_wait in_ct pgrep -u "$user" -fx 'sleep 7795' >/dev/null || fail "the login's process did not start"
	sl revoke "$id" >/dev/null || fail "revoke $id failed"
	ct_wait bash -c "! kill -0 $client 2>/dev/null" || fail "the session of $id still runs 10 s after revoke"
	ct_wait in_ct bash -c "! pgrep -u '$user' -fx 'sleep 7795' >/dev/null" ||
		{ in_ct pkill -u "$user" -fx 'sleep 7795'; fail "after daemon-reexec the grant's detached process outlived it: $(in_ct journalctl -u sshleased -n 3 --no-pager)"; }
}

# Without PAM there is no logind session: sshleased moves the login into a
# transient scope of its own through systemd's D-Bus API.
check_session_leftovers_nopam() {
	local rc=0
	printf 'UsePAM no\n' >"$CONTAINER_ROOT/etc/ssh/sshd_config.d/00-sshlease-test.conf"
	# sshleased reads UsePAM when it looks at sshd: at start and reload.
	in_ct systemctl restart ssh && in_ct systemctl reload sshleased ||
		fail "restarting ssh with UsePAM no, or reloading sshleased, failed"
	(leftovers_end_with_grant sshlease- nopam reported) || rc=$?
	rm -f "$CONTAINER_ROOT/etc/ssh/sshd_config.d/00-sshlease-test.conf"
	in_ct systemctl restart ssh && in_ct systemctl reload sshleased
	return "$rc"
}

# Put the package's config back (or none, as it was) and reload.
restore_conf() {
	if [ -f "$FIXTURE_DIR/conf.orig" ]; then
		cp -p "$FIXTURE_DIR/conf.orig" "$CONTAINER_ROOT$conf"
	else
		rm -f "$CONTAINER_ROOT$conf"
	fi
	in_ct systemctl reload-or-restart sshleased
}

check_reload_good_and_bad() {
	local user id pid rc=0
	user=$(ct_add_user slr) || fail "useradd failed"
	ct_keygen reload || fail "ssh-keygen failed"
	rm -f "$FIXTURE_DIR/conf.orig"
	[ -f "$CONTAINER_ROOT$conf" ] && cp -p "$CONTAINER_ROOT$conf" "$FIXTURE_DIR/conf.orig"
	trap restore_conf EXIT
	pid=$(unit_prop MainPID)
	write_conf "[grant]" "default_duration = 30m" "max_duration = 1h"
	ct_reload || fail "systemctl reload of a good config failed: $(head -c 300 "$FIXTURE_DIR/reload.out")"
	ct_grant "$user" reload --for 2h >/dev/null || rc=$?
	[ "$rc" -eq 3 ] || fail "a 2h grant under max_duration = 1h: exit $rc, expected 3 (refused)"
	! all_managed_lines | grep -q "$user" || fail "the refused grant wrote a line"
	write_conf "[grant]" "default_duration = 30m" "max_duration = banana"
	rc=0
	in_ct systemctl reload sshleased >"$FIXTURE_DIR/reload.out" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "systemctl reload of a bad config exited 0"
	[ "$(in_ct systemctl is-active sshleased)" = active ] || fail "sshleased is not active after a bad reload"
	[ "$(unit_prop MainPID)" = "$pid" ] || fail "MainPID changed over the reloads"
	rc=0
	ct_grant "$user" reload --for 2h >/dev/null || rc=$?
	[ "$rc" -eq 3 ] || fail "after the bad reload a 2h grant exited $rc: max_duration = 1h is no longer in force"
	trap - EXIT
	if [ -f "$FIXTURE_DIR/conf.orig" ]; then
		cp -p "$FIXTURE_DIR/conf.orig" "$CONTAINER_ROOT$conf"
	else
		rm -f "$CONTAINER_ROOT$conf"
	fi
	ct_reload || fail "reload of the package's own config failed"
	id=$(ct_grant "$user" reload --for 2h) && [ -n "$id" ] ||
		fail "a 2h grant under the package's config failed: $(head -c 300 "$FIXTURE_DIR/grant.err")"
	sl revoke "$id" >/dev/null || fail "revoke $id failed"
}

check_expiry_while_stopped() {
	local user id ak deadline now
	user=$(ct_add_user sle) || fail "useradd failed"
	ct_keygen stopped || fail "ssh-keygen failed"
	id=$(ct_grant "$user" stopped --for 10s) && [ -n "$id" ] ||
		fail "grant --for 10s failed: $(head -c 300 "$FIXTURE_DIR/grant.err")"
	deadline=$(ct_deadline "$id")
	in_ct systemctl stop sshleased || fail "systemctl stop failed"
	ak=$(ak_path "$user")
	[ -n "$(managed_line "$ak" "$id")" ] ||
		fail "the line was gone before the deadline passed (did stopping take 10 s?)"
	now=$(date +%s)
	[ "$now" -lt "$deadline" ] || fail "the service took until past the deadline to stop"
	sleep $((deadline - now + 1))
	[ -n "$(managed_line "$ak" "$id")" ] || fail "the line went while the service was stopped"
	in_ct systemctl start sshleased || fail "systemctl start failed"
	[ -z "$(managed_line "$ak" "$id")" ] || fail "the expired line is still there when systemctl start returned"
	sl audit --grant "$id" --json | grep -q '"event":"expire"' || fail "no expire record for $id"
}

dropin=/etc/systemd/system/sshleased.service.d/50-system-test-sigsys.conf

# Remove the drop-in again and restart without it.
remove_dropin() {
	rm -f "$CONTAINER_ROOT$dropin"
	in_ct systemctl daemon-reload
	in_ct systemctl restart sshleased
}

check_seccomp_kill_mode() {
	local user id pid ak i
	trap remove_dropin EXIT
	install -d -m 0755 "$CONTAINER_ROOT${dropin%/*}"
	printf '[Service]\nSystemCallErrorNumber=\n' >"$CONTAINER_ROOT$dropin"
	chmod 0644 "$CONTAINER_ROOT$dropin"
	in_ct systemctl daemon-reload && in_ct systemctl restart sshleased ||
		fail "restart with the drop-in failed"
	# systemd shows "kill" as 2147483646 (its SECCOMP_ERROR_NUMBER_KILL);
	# the unit's own EPERM would be 1.
	case $(unit_prop SystemCallErrorNumber) in
	'' | 0 | 2147483646) ;;
	*) fail "SystemCallErrorNumber is still '$(unit_prop SystemCallErrorNumber)' with the drop-in" ;;
	esac
	[ -n "$(unit_prop SystemCallFilter)" ] || fail "the unit has no SystemCallFilter"
	pid=$(unit_prop MainPID)
	[ "$pid" -gt 0 ] || fail "no MainPID"
	user=$(ct_add_user sls) || fail "useradd failed"
	ct_keygen sigsys || fail "ssh-keygen failed"
	id=$(ct_grant "$user" sigsys --for 1h) && [ -n "$id" ] || fail "grant failed"
	sl list >/dev/null || fail "list failed"
	sl extend "$id" --for 2h >/dev/null || fail "extend failed"
	sl revoke "$id" >/dev/null || fail "revoke failed"
	sl audit >/dev/null && sl audit --verify >/dev/null || fail "audit failed"
	sl doctor --user "$user" >"$FIXTURE_DIR/doctor.out" 2>&1 ||
		fail "doctor --user $user failed: $(tail -c 400 "$FIXTURE_DIR/doctor.out")"
	ct_reload || fail "reload failed"
	id=$(ct_grant "$user" sigsys --for 2s) && [ -n "$id" ] || fail "grant --for 2s failed"
	ak=$(ak_path "$user")
	for ((i = 0; i < 100; i++)); do
		[ -z "$(managed_line "$ak" "$id")" ] && break
		sleep 0.1
	done
	[ -z "$(managed_line "$ak" "$id")" ] || fail "the daemon did not expire a 2s grant within 10 s"
	[ "$(unit_prop MainPID)" = "$pid" ] ||
		fail "MainPID went from $pid to $(unit_prop MainPID): the daemon died (SIGSYS?)"
	[ "$(unit_prop NRestarts)" = 0 ] || fail "NRestarts is $(unit_prop NRestarts)"
	[ "$(in_ct systemctl is-active sshleased)" = active ] || fail "sshleased is not active"
}

check_capabilities() {
	local pid status field
	pid=$(unit_prop MainPID)
	status=$(in_ct cat "/proc/$pid/status") || fail "cannot read /proc/$pid/status"
	# CAP_CHOWN (0), CAP_KILL (5), CAP_SETGID (6), CAP_SETUID (7).
	for field in CapBnd CapEff; do
		printf '%s\n' "$status" | grep -q "^$field:[[:space:]]*00000000000000e1\$" ||
			fail "$(printf '%s\n' "$status" | grep "^$field:"), expected 00000000000000e1 (chown, kill, setgid, setuid)"
	done
	printf '%s\n' "$status" | grep -q '^NoNewPrivs:[[:space:]]*1$' || fail "NoNewPrivs is not 1"
	echo "note: ProtectKernelTunables, ProtectKernelModules and ProtectClock are not proven here: systemd-nspawn already denies /proc/sys writes, module loading and setting the clock to everything in the container"
}

check_var_www_home() {
	local user id
	user=$(ct_add_user slw /var/www) || fail "useradd -d /var/www/... failed"
	ct_keygen www || fail "ssh-keygen failed"
	id=$(ct_grant "$user" www --for 1h) && [ -n "$id" ] ||
		fail "grant for $user (home $(ct_home "$user")) failed: $(head -c 300 "$FIXTURE_DIR/grant.err")"
	[ -n "$(managed_line "$(ak_path "$user")" "$id")" ] || fail "no line for $id in $(ak_path "$user")"
	ct_login www "$user" || fail "login to $user failed: $(head -c 300 "$FIXTURE_DIR/ssh.err")"
}

check_remove_takes_back() {
	local user ak own id1 id2 live rc=0 out
	user=$(ct_add_user slo) || fail "useradd failed"
	ct_keygen own && ct_keygen visit1 && ct_keygen visit2 || fail "ssh-keygen failed"
	ak=$(ak_path "$user")
	# The account's own file: a comment, a blank line, a key with options.
	own=$FIXTURE_DIR/own-authorized_keys
	{
		printf '# the shop owner\n\n'
		printf 'no-port-forwarding %s\n' "$(cat "$CONTAINER_ROOT/root/own.pub")"
	} >"$own"
	mkdir -p "${ak%/*}" && cp "$own" "$ak" && in_ct chown -R "$user:" "$(ct_home "$user")/.ssh" &&
		chmod 700 "${ak%/*}" && chmod 600 "$ak" || fail "cannot write $ak"
	id1=$(ct_grant "$user" visit1 --for 1h) && id2=$(ct_grant "$user" visit2 --for 2h) ||
		fail "grants for $user failed: $(head -c 300 "$FIXTURE_DIR/grant.err")"
	[ -n "$(managed_line "$ak" "$id1")" ] && [ -n "$(managed_line "$ak" "$id2")" ] ||
		fail "the lines of $id1 and $id2 are not both in $ak"
	# Grants the checks before left live go as well.
	live=$(all_managed_lines | wc -l)
	out=$(CONTAINER_TIMEOUT=180 in_ct apt-get remove -y sshlease 2>&1) || rc=$?
	printf '%s\n' "$out" >"$FIXTURE_DIR/apt-remove.out"
	[ "$rc" -eq 0 ] || fail "apt-get remove exited $rc: $(tail -c 400 "$FIXTURE_DIR/apt-remove.out")"
	[ -z "$(all_managed_lines)" ] || fail "managed lines left after apt remove: $(all_managed_lines | head -n 3)"
	grep -Eq "took back $live grants? before removal" "$FIXTURE_DIR/apt-remove.out" ||
		fail "apt remove did not say it took back the $live grants: $(grep -i sshlease "$FIXTURE_DIR/apt-remove.out" | head -n 5)"
	cmp -s "$own" "$ak" || fail "the account's own lines changed: $(fixture_hexdump "$ak")"
	[ "$(in_ct systemctl is-active sshleased)" != active ] || fail "sshleased still runs after apt remove"
	ct_login own "$user" || fail "the account's own key no longer logs in"
}

check_reinstall_keeps_grants() {
	local user id ak line out rc=0
	out=$(CONTAINER_TIMEOUT=180 in_ct apt-get install -y "$deb" 2>&1) ||
		fail "apt-get install after remove failed: $(printf '%s' "$out" | tail -c 400)"
	user=$(ct_add_user slk) || fail "useradd failed"
	ct_keygen keep || fail "ssh-keygen failed"
	id=$(ct_grant "$user" keep --for 1h) && [ -n "$id" ] || fail "grant failed"
	ak=$(ak_path "$user")
	line=$(managed_line "$ak" "$id")
	out=$(CONTAINER_TIMEOUT=180 in_ct apt-get install -y --reinstall "$deb" 2>&1) || rc=$?
	[ "$rc" -eq 0 ] || fail "apt-get install --reinstall exited $rc: $(printf '%s' "$out" | tail -c 400)"
	[ "$(in_ct systemctl is-active sshleased)" = active ] || fail "sshleased is not active after the reinstall"
	sl list | grep -q "$id" || fail "grant $id is not listed after the reinstall"
	[ -n "$line" ] && [ "$(managed_line "$ak" "$id")" = "$line" ] ||
		fail "the line of $id changed or went over the reinstall"
	ct_login keep "$user" || fail "the kept grant no longer logs in"
	sl audit --verify >/dev/null || fail "audit --verify failed after the reinstall"
}

check_home_outside_writable() {
	local user ak own rc=0 out
	install -d -m 0755 "$CONTAINER_ROOT/opt"
	user=$(ct_add_user slx /opt) || fail "useradd -d /opt/... failed"
	ct_keygen outside || fail "ssh-keygen failed"
	ak=$(ak_path "$user")
	own=$FIXTURE_DIR/outside-authorized_keys
	printf '# own line\n' >"$own"
	mkdir -p "${ak%/*}" && cp "$own" "$ak" && in_ct chown -R "$user:" "$(ct_home "$user")/.ssh" ||
		fail "cannot write $ak"
	out=$(sl doctor --user "$user" 2>&1) && fail "doctor --user $user (home in /opt) reported no failure"
	printf '%s' "$out" | grep -q 'ReadWritePaths=' || fail "doctor does not name the fix (ReadWritePaths=): $out"
	ct_grant "$user" outside --for 1h >/dev/null || rc=$?
	[ "$rc" -eq 3 ] || fail "a grant for a home in /opt exited $rc, expected 3 (refused)"
	cmp -s "$own" "$ak" || fail "the refused grant touched $ak"
}

journal_cursor() {
	in_ct journalctl -q -u sshleased -n 0 --show-cursor | sed -n 's/^-- cursor: //p'
}

# The messages of sshleased after CURSOR (journalctl options may narrow
# them), once one matches PATTERN: journald stores a line a moment after
# it was sent, so wait (bounded, 5 s). Returns 1 when none matched.
journal_wait() { # cursor pattern [journalctl option...]
	local cursor=$1 pattern=$2 i out
	shift 2
	for ((i = 0; i < 50; i++)); do
		out=$(in_ct journalctl -q -u sshleased --after-cursor "$cursor" -o cat "$@")
		if printf '%s\n' "$out" | grep -q -- "$pattern"; then
			printf '%s\n' "$out"
			return 0
		fi
		sleep 0.1
	done
	return 1
}

check_journal_priorities() {
	local cursor pid rc=0 tail line lines
	cursor=$(journal_cursor)
	ct_keygen refused || fail "ssh-keygen failed"
	ct_grant nosuchuser-systest refused --for 1h >/dev/null || rc=$?
	[ "$rc" -eq 3 ] || fail "a grant for a missing account exited $rc, expected 3"
	journal_wait "$cursor" 'nosuchuser-systest' -p warning >/dev/null ||
		fail "journalctl -u sshleased -p warning does not show the refused grant"
	# A reason over 200 bytes (doctor's, for a shell grant to an account
	# whose shell is nologin) is whole in the journal: it ends with the
	# last words sshlease printed, not cut mid-word.
	rc=0
	ct_grant www-data refused --for 1h >/dev/null || rc=$?
	[ "$rc" -eq 3 ] || fail "a shell grant for www-data (nologin) exited $rc, expected 3"
	tail=$(tr -s '\n ' '  ' <"$FIXTURE_DIR/grant.err" | sed 's/ *$//' | grep -o '[^ ]* [^ ]* [^ ]*$')
	line=$(journal_wait "$cursor" 'for www-data' -p warning | grep 'for www-data' | tail -n 1)
	[ -n "$tail" ] && [[ $line == *"$tail"* ]] ||
		fail "the journal's refusal is not whole: '$line' lacks sshlease's last words '$tail'"
	pid=$(unit_prop MainPID)
	cursor=$(journal_cursor)
	in_ct systemctl stop sshleased || fail "stop failed"
	# stop returns once the daemon has exited: its lines were all sent.
	lines=$(journal_wait "$cursor" stopped "_PID=$pid")
	in_ct systemctl start sshleased || fail "start failed"
	[ "$(printf '%s\n' "$lines" | grep -c stopped)" -eq 1 ] ||
		fail "stopping logged other than one line saying stopped: $lines"
}

check_journal_grant_fields() {
	local user id out i
	user=$(ct_add_user slj) || fail "useradd failed"
	ct_keygen fields || fail "ssh-keygen failed"
	id=$(ct_grant "$user" fields --for 1h) && [ -n "$id" ] || fail "grant failed"
	sl revoke "$id" >/dev/null || fail "revoke failed"
	# Until the last event is stored (bounded, 5 s).
	for ((i = 0; i < 50; i++)); do
		out=$(in_ct journalctl -q "SSHLEASE_GRANT=$id" -o export)
		printf '%s\n' "$out" | grep -qx "SSHLEASE_EVENT=revoke" && break
		sleep 0.1
	done
	for ev in grant revoke; do
		printf '%s\n' "$out" | grep -qx "SSHLEASE_EVENT=$ev" ||
			fail "journalctl SSHLEASE_GRANT=$id has no SSHLEASE_EVENT=$ev"
	done
	printf '%s\n' "$out" | grep -qx "SSHLEASE_USER=$user" || fail "no SSHLEASE_USER=$user"
}

# A key the grantee plants through the grant's shell goes within a second,
# and the login made with it before it went ends, its processes with it
# (a scope of its own), while the grant's own session goes on. The
# watcher, a child as the account under the unit's narrow capabilities,
# keeps running.
check_planted_key() {
	local user id ak own planted watcher cursor out
	cursor=$(journal_cursor)
	out=$(ct_new_grant slk planter) || exit 1 # fail gave the reason
	read -r user id <<<"$out"
	ak=$(ak_path "$user")
	ct_keygen planted || fail "ssh-keygen failed"
	CONTAINER_TIMEOUT=60 ct_ssh planter "$user" 'echo in; exec sleep 600' >"$FIXTURE_DIR/own.out" &
	own=$!
	ct_wait grep -q '^in$' "$FIXTURE_DIR/own.out" || fail "the grant's own login failed: $(head -c 300 "$FIXTURE_DIR/ssh.err")"
	# Through the grant's shell, a key planted and at once used, its
	# watcher held up so that the login comes before the sweep.
	# (sshleased's children with the account's fsuid: other accounts have theirs.)
	watcher=$(in_ct ps -o pid=,fsuid= --ppid "$(unit_prop MainPID)" |
		awk -v u="$(in_ct id -u "$user")" '$2 == u { print $1 }')
	[ -n "$watcher" ] && [ "$(printf '%s\n' "$watcher" | wc -l)" -eq 1 ] ||
		fail "expected one key watcher of $user under sshleased, found: $(printf '%s' "$watcher" | tr '\n' ' ')"
	in_ct kill -STOP "$watcher"
	in_ct cat /root/planted.pub | CONTAINER_TIMEOUT=20 in_ct ssh -F /dev/null \
		-o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityAgent=none -o LogLevel=ERROR -i /root/planter \
		"$user@127.0.0.1" 'cat >>.ssh/authorized_keys' || fail "the grant's shell could not plant a key"
	CONTAINER_TIMEOUT=60 ct_ssh planted "$user" 'setsid -f sleep 7781 </dev/null >/dev/null 2>&1; echo in; exec sleep 600' \
		>"$FIXTURE_DIR/planted.out" &
	planted=$!
	ct_wait grep -q '^in$' "$FIXTURE_DIR/planted.out" || fail "the planted key did not log in: $(head -c 300 "$FIXTURE_DIR/ssh.err")"
	in_ct kill -CONT "$watcher"
	ct_wait bash -c "! grep -qF '$(cut -d' ' -f2 "$CONTAINER_ROOT/root/planted.pub")' '$ak'" ||
		fail "the planted key is still in $ak after 10 s"
	ct_wait bash -c "! kill -0 $planted 2>/dev/null" || fail "the login with the planted key still runs 10 s after its key went"
	ct_wait in_ct bash -c "! pgrep -u '$user' -fx 'sleep 7781' >/dev/null" ||
		fail "what the login with the planted key started still runs 10 s after its key went"
	audit_has "$id" session_end 'added during the grant' || fail "no session_end record of the planted login naming $id"
	ct_login planted "$user" && fail "the planted key still logs in"
	kill -0 "$own" 2>/dev/null || fail "the grant's own session ended with the planted login"
	kill "$own" 2>/dev/null
	if in_ct journalctl -q -u sshleased --after-cursor "$cursor" -o cat | grep -q "key files exited"; then
		fail "the key watcher exited under the unit: $(in_ct journalctl -q -u sshleased --after-cursor "$cursor" -o cat | grep -m1 'key files exited')"
	fi
	sl revoke "$id" >/dev/null || fail "revoke $id failed"
}

# A crontab line that appears while a grant's login is open is reported
# when it ends: under the unit's narrow capabilities root can still look
# at the crontab spool, which it owns (the file itself is not read).
check_foothold_crontab() {
	local user id out client home
	out=$(ct_new_grant slf cronner) || exit 1 # fail gave the reason
	read -r user id <<<"$out"
	home=$(ct_home "$user")
	CONTAINER_TIMEOUT=60 ct_ssh cronner "$user" 'echo in; while [ ! -e go ]; do sleep 0.1; done' \
		>"$FIXTURE_DIR/cron.out" &
	client=$!
	ct_wait grep -q '^in$' "$FIXTURE_DIR/cron.out" || fail "the grant's login failed: $(head -c 300 "$FIXTURE_DIR/ssh.err")"
	in_ct bash -c "echo '*/5 * * * * /bin/true # planted' | crontab -u '$user' -" || fail "crontab -u $user failed"
	in_ct touch "$home/go"
	wait "$client"
	ct_wait audit_has "$id" foothold "the crontab of $user changed during grant $id" ||
		fail "no foothold record of the crontab within 10 s of the session's end: $(sl audit --grant "$id" | tail -n 3)"
	sl show "$id" | grep -q "the crontab changed since the grant began" || fail "show does not list the crontab"
	in_ct crontab -l -u "$user" | grep -q '# planted' || fail "the crontab was undone"
	in_ct crontab -r -u "$user"
	sl revoke "$id" >/dev/null || fail "revoke $id failed"
}

# In this order: the two before the journal checks remove and reinstall
# the package; the journal checks look at what the earlier ones logged.
checks=(
	check_installed_unit_active
	check_home_grant_login
	check_session_ends_on_revoke
	check_session_while_stopped
	check_session_leftovers_logind
	check_session_leftovers_nopam
	check_planted_key
	check_foothold_crontab
	check_session_leftovers_after_close
	check_session_scope_after_reexec
	check_session_terminal_notice
	check_reload_good_and_bad
	check_expiry_while_stopped
	check_seccomp_kill_mode
	check_capabilities
	check_var_www_home
	check_remove_takes_back
	check_reinstall_keeps_grants
	check_home_outside_writable
	check_journal_priorities
	check_journal_grant_fields
)

# SSHLEASE_SYSTEM_CHECKS="check_a check_b" runs only those (in that order).
if [ -n "${SSHLEASE_SYSTEM_CHECKS:-}" ]; then
	read -r -a checks <<<"$SSHLEASE_SYSTEM_CHECKS"
fi

# Each check runs in a subshell: its first failed step (fail) ends it, and
# the next check runs all the same.
run_check() { # name
	local rc=0
	rm -f "$why_file"
	("$1") || rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "ok $1"
	else
		echo "FAIL $1: $(cat "$why_file" 2>/dev/null || echo "exit $rc")"
		failed=$((failed + 1))
	fi
}

CONTAINER_TIMEOUT=180 in_ct apt-get install -y "$deb" >"$FIXTURE_DIR/apt-install.out" 2>&1 || {
	tail -n 40 "$FIXTURE_DIR/apt-install.out" >&2
	fixture_fail "apt-get install -y $deb failed in the container"
}
for check in "${checks[@]}"; do
	run_check "$check"
done
if [ "$failed" -gt 0 ]; then
	echo "---- journal of sshleased in the container ----" >&2
	in_ct journalctl -q -u sshleased --no-pager -n 200 >&2
	fixture_fail "$failed of ${#checks[@]} checks failed"
fi
