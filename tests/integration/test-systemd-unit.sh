#!/bin/bash
# The generated sshleased.service, the sysusers.d and tmpfiles.d snippets:
# systemd's own tools accept them, the hardening is what the design asks
# for, and the snippets create what the unit expects. Needs root (the
# tmpfiles check makes root-owned directories) and systemd-analyze; systemd
# need not be running.
set -u

: "${SSHLEASE_SOURCE_ROOT:?}" "${SSHLEASE_BUILD_ROOT:?}"
unit_in="$SSHLEASE_BUILD_ROOT/systemd/sshleased.service"
daemon="$SSHLEASE_BUILD_ROOT/src/daemon/sshleased"
sysusers="$SSHLEASE_SOURCE_ROOT/systemd/sshlease.sysusers.conf"
tmpfiles="$SSHLEASE_SOURCE_ROOT/systemd/sshlease.tmpfiles.conf"

if [ "$(id -u)" != 0 ]; then
	echo "skipped: this test needs root" >&2
	exit 77
fi
for tool in systemd-analyze systemd-sysusers systemd-tmpfiles; do
	if ! command -v "$tool" >/dev/null; then
		echo "skipped: $tool is not installed" >&2
		exit 77
	fi
done
if [ ! -f "$unit_in" ]; then
	echo "skipped: the unit was not generated (-Dsystemd=disabled)" >&2
	exit 77
fi

failures=0
fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The directives of a unit file, comments and blank lines left out.
directives() {
	grep -v -e '^#' -e '^$' "$1"
}

# --- the unit as installed: ExecStart names the installed daemon ---
case "$(sed -n 's/^ExecStart=//p' "$unit_in")" in
/*/sshleased) ;;
*) fail "ExecStart is not an absolute path to sshleased" ;;
esac
if grep -q '@[a-z_]*@' "$unit_in"; then
	fail "unsubstituted @variable@ left in the unit"
fi

# --- reload checks the config before signalling ---
# systemd runs the ExecReload= lines in order and stops at the first that
# fails, so the check must come first and fail on a bad file.
mapfile -t reload < <(sed -n 's/^ExecReload=//p' "$unit_in")
start=$(sed -n 's/^ExecStart=//p' "$unit_in")
[ "${#reload[@]}" = 2 ] || fail "${#reload[@]} ExecReload lines, expected 2"
[ "${reload[0]:-}" = "$start --check" ] ||
	fail "the first ExecReload is '${reload[0]:-}', expected '$start --check'"
[ "${reload[1]:-}" = '/bin/kill -HUP $MAINPID' ] ||
	fail "the second ExecReload is '${reload[1]:-}', expected the SIGHUP"
printf '[daemon]\nno_such_key = 1\n' >"$tmp/bad.conf"
"$daemon" --check --config "$tmp/bad.conf" >/dev/null 2>&1
rc=$?
[ "$rc" = 3 ] || fail "sshleased --check on a bad config exited $rc, expected 3"
printf '[daemon]\n' >"$tmp/good.conf"
"$daemon" --check --config "$tmp/good.conf" >/dev/null 2>&1
rc=$?
[ "$rc" = 0 ] || fail "sshleased --check on a good config exited $rc, expected 0"

# --- the writable paths: one line, the one place that names them ---
n=$(directives "$unit_in" | grep -c '^ReadWritePaths=')
[ "$n" = 1 ] || fail "$n ReadWritePaths lines, expected 1"

# --- systemd-analyze verify, with the daemon pointed at the build ---
unit="$tmp/sshleased.service"
sed -e "s#^ExecStart=.*#ExecStart=$daemon#" \
	-e "s#^ExecReload=.*/sshleased #ExecReload=$daemon #" "$unit_in" >"$unit"
out=$(systemd-analyze verify --man=no "$unit" 2>&1)
rc=$?
[ "$rc" = 0 ] || fail "systemd-analyze verify exited $rc"
[ -z "$out" ] || fail "systemd-analyze verify complained: $out"

# --- the hardening of STYLE.md, exactly ---
required=(
	Type=notify
	ExecReload='/bin/kill -HUP $MAINPID'
	Restart=on-failure
	ProtectSystem=strict
	'ReadWritePaths=/home -/var/www -/srv'
	StateDirectory=sshlease
	StateDirectoryMode=0700
	LogsDirectory=sshlease
	LogsDirectoryMode=0750
	RuntimeDirectory=sshlease
	RuntimeDirectoryMode=0755
	NoNewPrivileges=yes
	PrivateTmp=yes
	PrivateDevices=yes
	ProtectKernelTunables=yes
	ProtectKernelModules=yes
	ProtectKernelLogs=yes
	ProtectControlGroups=yes
	ProtectClock=yes
	RestrictNamespaces=yes
	RestrictRealtime=yes
	RestrictSUIDSGID=yes
	LockPersonality=yes
	MemoryDenyWriteExecute=yes
	SystemCallArchitectures=native
	SystemCallFilter=@system-service
	'RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6'
	'CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL CAP_CHOWN'
)
for line in "${required[@]}"; do
	directives "$unit_in" | grep -qxF -- "$line" || fail "missing: $line"
done
# Each of these would break the daemon (hidden /home, no root, no
# setresuid) or widen what it may do.
for forbidden in ProtectHome= DynamicUser= PrivateUsers= User= \
	'SystemCallFilter=~' AmbientCapabilities= CAP_SYS_ADMIN CAP_DAC_OVERRIDE; do
	if directives "$unit_in" | grep -qF -- "$forbidden"; then
		fail "must not appear: $forbidden"
	fi
done
# Only one CapabilityBoundingSet line: a second one would add to the first.
n=$(directives "$unit_in" | grep -c '^CapabilityBoundingSet=')
[ "$n" = 1 ] || fail "$n CapabilityBoundingSet lines, expected 1"
# Every directive carries a comment saying why: the line before each
# [Service] directive is a comment or another directive of the same group.
awk '
	/^\[/ { section = $0; prev = ""; next }
	section == "[Service]" && /^[A-Za-z]/ {
		if (prev !~ /^#/ && prev !~ /^[A-Za-z]/)
			{ print "no comment above: " $0; bad = 1 }
	}
	{ prev = $0 }
	END { exit bad }
' "$unit_in" >&2 || fail "a [Service] directive has no comment"

# --- systemd-analyze security: no looser than now (2.9 = 29) ---
if ! systemd-analyze security --offline=yes --threshold=29 "$unit" >"$tmp/security" 2>&1; then
	tail -n 1 "$tmp/security" >&2
	fail "systemd-analyze security: exposure above 2.9"
fi

# --- sysusers.d creates the socket group ---
# The host's account files, without the group (the host may have it from an
# installed package): sysusers refuses a name that is in gshadow but not in
# group, so it goes from both.
mkdir -p "$tmp/root/etc"
for f in passwd group shadow gshadow; do
	[ -f "/etc/$f" ] || continue
	grep -v '^sshlease:' "/etc/$f" >"$tmp/root/etc/$f"
done
systemd-sysusers --root="$tmp/root" "$sysusers" >/dev/null 2>&1 ||
	fail "systemd-sysusers refused the snippet"
grep -q '^sshlease:x:[0-9]*:$' "$tmp/root/etc/group" ||
	fail "systemd-sysusers did not create the group sshlease"

# --- tmpfiles.d creates the directories as the unit does ---
systemd-tmpfiles --create --root="$tmp/root" "$tmpfiles" >/dev/null 2>&1 ||
	fail "systemd-tmpfiles refused the snippet"
check_dir() { # path mode owner group, as the unit's *DirectoryMode= says
	local got
	got=$(stat -c '%a %U %G' "$tmp/root$1" 2>/dev/null)
	[ "$got" = "$2 $3 $4" ] || fail "$1: '$got', expected '$2 $3 $4'"
}
check_dir /var/lib/sshlease 700 root root
check_dir /var/log/sshlease 750 root root
state_mode=$(sed -n 's/^StateDirectoryMode=0//p' "$unit_in")
logs_mode=$(sed -n 's/^LogsDirectoryMode=0//p' "$unit_in")
[ "$state_mode" = 700 ] || fail "StateDirectoryMode=0$state_mode, tmpfiles says 0700"
[ "$logs_mode" = 750 ] || fail "LogsDirectoryMode=0$logs_mode, tmpfiles says 0750"

if [ "$failures" != 0 ]; then
	echo "$failures failure(s)" >&2
	exit 1
fi
echo "systemd unit, sysusers.d and tmpfiles.d: ok"
