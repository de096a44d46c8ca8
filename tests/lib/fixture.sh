# Shared bash fixtures for the integration tests: a temporary tree, throwaway
# accounts, a private OpenSSH sshd on 127.0.0.1 and a real ssh client.
#
# Source it at the top of a test script (bash only):
#
#     . "$(dirname "$0")/../lib/fixture.sh"
#     fixture_require_root               # exit 77 (skipped) unless root
#     fixture_require_cmd ssh ssh-keygen # exit 1 naming the missing package
#     fixture_init                       # $FIXTURE_DIR, cleanup on exit
#     fixture_add_user                   # $FIXTURE_USER, $FIXTURE_HOME
#     fixture_keygen client              # $FIXTURE_DIR/client{,.pub}
#     fixture_sshd_start                 # $FIXTURE_SSHD_PORT, $FIXTURE_SSHD_LOG
#     fixture_ssh_login "$FIXTURE_DIR/client" "$FIXTURE_USER" || rc=$?
#     fixture_pass "login works"         # or: fixture_fail "reason"
#
# Everything created (temp tree, accounts, sshd) is undone by one EXIT trap,
# also when the test fails half-way. When the script exits non-zero the trap
# first prints the tail of every sshd log and the last ssh client error, so
# a failure in CI explains itself. Cleanups registered with fixture_on_exit
# run in reverse order (last registered first).
#
# Variables (read-only for tests):
#   FIXTURE_DIR        temporary directory (mode 0700, root's), removed at exit
#   FIXTURE_USER       name of the last account made by fixture_add_user
#   FIXTURE_HOME       its home directory
#   FIXTURE_SSHD_PORT  port of the running sshd
#   FIXTURE_SSHD_LOG   its LogLevel DEBUG3 log (stderr of sshd -D -e)
#   FIXTURE_SSHD_PID   its pid
#   FIXTURE_SSH_ERR    stderr of the last fixture_ssh_login
# Settings (may be set before sourcing or calling):
#   FIXTURE_SSHD       sshd binary (default /usr/sbin/sshd; must be absolute)
#   FIXTURE_SSHD_ENV   extra "NAME=VALUE" words for sshd's environment (e.g. TZ)
#   FIXTURE_SSHD_ELOG  the file a FIXTURE_SSHD that logs with -E FILE writes
#
# Package needs on Debian 12: openssh-server (sshd), openssh-client (ssh,
# ssh-keygen), passwd (useradd, usermod, userdel), coreutils.

# shellcheck disable=SC2034 # set here, read by the sourcing test
FIXTURE_DIR=
FIXTURE_USER=
FIXTURE_HOME=
FIXTURE_SSHD_PORT=
FIXTURE_SSHD_LOG=
FIXTURE_SSHD_PID=
FIXTURE_SSH_ERR=
FIXTURE_SSHD=${FIXTURE_SSHD:-/usr/sbin/sshd}
FIXTURE_SSHD_ENV=${FIXTURE_SSHD_ENV:-}
# (a port taken between the check and sshd's bind is told there too)
FIXTURE_SSHD_ELOG=${FIXTURE_SSHD_ELOG:-}
_fixture_cleanups=()
_fixture_logs=()
_fixture_sshd_pids=" " # started and not yet waited for

fixture_log() { # message...
	printf '%s: %s\n' "$(basename "$0")" "$*" >&2
}

fixture_pass() { # message...
	printf 'ok: %s\n' "$*"
}

# Fail the test now: print the reason, let the EXIT trap dump logs and clean.
fixture_fail() { # message...
	printf 'FAIL: %s: %s\n' "$(basename "$0")" "$*" >&2
	exit 1
}

fixture_require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "skipped: this test needs root (it creates accounts and runs sshd)" >&2
		exit 77
	fi
}

# A missing tool is a failure, not a skip: CI must install it.
fixture_require_cmd() { # command...
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 ||
			fixture_fail "'$c' is not installed (Debian 12: $(_fixture_package_of "$c"))"
	done
}

_fixture_package_of() {
	case $1 in
	sshd | /usr/sbin/sshd) echo "apt-get install openssh-server" ;;
	ssh | ssh-keygen) echo "apt-get install openssh-client" ;;
	useradd | usermod | userdel) echo "apt-get install passwd" ;;
	strace) echo "apt-get install strace" ;;
	crontab) echo "apt-get install cron" ;;
	at) echo "apt-get install at" ;;
	*) echo "install the package providing $1" ;;
	esac
}

# Until a command succeeds, at most 10 s; then fail naming what was
# awaited.
fixture_wait_for() { # what command...
	local what=$1 i
	shift
	for ((i = 0; i < 100; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	fixture_fail "waited 10 s for: $what"
}

fixture_on_exit() { # command string, run with eval at exit
	_fixture_cleanups+=("$1")
}

_fixture_exit() {
	local rc=$? i log
	trap - EXIT INT TERM
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ]; then
		for log in "${_fixture_logs[@]}"; do
			[ -s "$log" ] || continue
			echo "---- last 400 lines of $(basename "$log") ----" >&2
			tail -n 400 "$log" >&2
		done
		if [ -n "$FIXTURE_SSH_ERR" ] && [ -s "$FIXTURE_SSH_ERR" ]; then
			echo "---- last ssh client stderr ----" >&2
			tail -n 40 "$FIXTURE_SSH_ERR" >&2
		fi
	fi
	for ((i = ${#_fixture_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_fixture_cleanups[i]}" || true
	done
	exit "$rc"
}

fixture_init() {
	umask 077
	FIXTURE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sshlease-test.XXXXXXXX") ||
		fixture_fail "mktemp failed"
	trap _fixture_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	fixture_on_exit "rm -rf -- '$FIXTURE_DIR'"
}

_fixture_random_hex() { # bytes
	od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'
}

# Create a throwaway account with a home directory and a login shell. Its
# password field is set to '*': useradd leaves it '!' (locked), and sshd
# without PAM refuses every login, keys included, of a locked account.
fixture_add_user() { # [name prefix, default "slfx"]
	local name attempt
	name="${1:-slfx}$(_fixture_random_hex 4)"
	# Tests run in parallel: useradd fails while another holds the lock on
	# /etc/passwd, so try a few times.
	for ((attempt = 1; ; attempt++)); do
		useradd -m -s /bin/bash "$name" >/dev/null 2>"$FIXTURE_DIR/useradd.err" && break
		[ "$attempt" -lt 5 ] ||
			fixture_fail "useradd $name failed: $(head -c 300 "$FIXTURE_DIR/useradd.err")"
		sleep 1
	done
	fixture_on_exit "fixture_del_user '$name'"
	usermod -p '*' "$name" || fixture_fail "usermod -p '*' $name failed"
	FIXTURE_USER=$name
	FIXTURE_HOME=$(getent passwd "$name" | cut -d: -f6)
	[ -d "$FIXTURE_HOME" ] || fixture_fail "home of $name missing"
}

fixture_del_user() { # name
	local attempt
	for ((attempt = 1; attempt <= 5; attempt++)); do
		userdel -r "$1" 2>/dev/null || userdel -r -f "$1" 2>/dev/null || true
		getent passwd "$1" >/dev/null || return 0
		sleep 1
	done
	echo "warning: could not remove account $1" >&2
}

# Make an unencrypted key pair $FIXTURE_DIR/NAME and NAME.pub (root's).
fixture_keygen() { # name [type, default ed25519]
	ssh-keygen -q -t "${2:-ed25519}" -N '' -C "$1@fixture" \
		-f "$FIXTURE_DIR/$1" </dev/null >/dev/null ||
		fixture_fail "ssh-keygen $1 failed"
}

# The type and base64 blob of a public key file, as "TYPE BLOB".
fixture_pubkey_type_blob() { # file.pub
	awk '{ print $1, $2; exit }' "$1"
}

_fixture_port_in_use() { # port
	{ (exec 3<>"/dev/tcp/127.0.0.1/$1"); } 2>/dev/null
}

# Start a private sshd on 127.0.0.1 at a free port: its own host key and
# config in $FIXTURE_DIR, UsePAM no, StrictModes yes, keys only, LogLevel
# DEBUG3 to $FIXTURE_SSHD_LOG. Extra arguments are appended to the config as
# lines (e.g. "AllowUsers x"). Waits (bounded) until the port answers with
# an SSH banner. Only one fixture sshd runs at a time.
fixture_sshd_start() { # [extra config line...]
	local dir="$FIXTURE_DIR/sshd" config port attempt pid line banner i
	[ -z "$FIXTURE_SSHD_PID" ] || fixture_fail "fixture sshd already running"
	[ -x "$FIXTURE_SSHD" ] ||
		fixture_fail "$FIXTURE_SSHD missing (Debian 12: apt-get install openssh-server)"
	mkdir -p "$dir"
	# Privilege separation directory; normally made by the service unit.
	mkdir -p /run/sshd && chmod 0755 /run/sshd
	[ -f "$dir/host_ed25519" ] ||
		ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519" </dev/null >/dev/null ||
		fixture_fail "host key generation failed"
	config="$dir/sshd_config"
	for ((attempt = 0; attempt < 20; attempt++)); do
		port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		_fixture_port_in_use "$port" && continue
		{
			echo "ListenAddress 127.0.0.1"
			echo "Port $port"
			echo "HostKey $dir/host_ed25519"
			echo "PidFile $dir/sshd.pid"
			echo "UsePAM no"
			echo "StrictModes yes"
			echo "PubkeyAuthentication yes"
			echo "PasswordAuthentication no"
			echo "KbdInteractiveAuthentication no"
			echo "PermitRootLogin no"
			echo "AuthorizedKeysFile .ssh/authorized_keys"
			echo "UseDNS no"
			echo "LogLevel DEBUG3"
			echo "Subsystem sftp internal-sftp"
			for line in "$@"; do echo "$line"; done
		} >"$config"
		# OpenSSH >= 9.8 penalises sources of failed logins; these tests
		# fail logins on purpose. Older sshd does not know the option.
		if "$FIXTURE_SSHD" -t -f "$config" -o PerSourcePenalties=no 2>/dev/null; then
			echo "PerSourcePenalties no" >>"$config"
		fi
		"$FIXTURE_SSHD" -t -f "$config" 2>"$dir/check.err" ||
			fixture_fail "sshd rejects its test config: $(head -c 400 "$dir/check.err")"
		FIXTURE_SSHD_LOG="$dir/sshd-$port.log"
		_fixture_logs+=("$FIXTURE_SSHD_LOG")
		# shellcheck disable=SC2086 # FIXTURE_SSHD_ENV is a list of words
		env $FIXTURE_SSHD_ENV "$FIXTURE_SSHD" -D -e -f "$config" \
			</dev/null >"$FIXTURE_SSHD_LOG" 2>&1 &
		pid=$!
		FIXTURE_SSHD_PID=$pid
		_fixture_sshd_pids+="$pid "
		fixture_on_exit "fixture_sshd_stop $pid"
		for ((i = 0; i < 100; i++)); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break # died: most likely the port was taken meanwhile
			fi
			banner=
			if { exec 4<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
				IFS= read -r -t 5 banner <&4 || true
				exec 4<&- 4>&-
			fi
			if [[ $banner == SSH-2.0-* ]]; then
				FIXTURE_SSHD_PORT=$port
				return 0
			fi
			sleep 0.1
		done
		fixture_sshd_stop "$pid"
		grep -q -i "bind" "$FIXTURE_SSHD_LOG" ${FIXTURE_SSHD_ELOG:+"$FIXTURE_SSHD_ELOG"} \
			2>/dev/null ||
			fixture_fail "sshd did not come up on 127.0.0.1:$port"
	done
	fixture_fail "no free port for sshd after 20 attempts"
}

# Stop the fixture sshd (or the given pid of one) and wait for it. Only a
# pid this fixture started and has not yet waited for is signalled, so a
# recycled pid is never hit.
# Start the fixture sshd logging to FILE (sshd -E, as a daemon following a
# log file reads it), with extra "-o Name=value" command-line options; the
# file exists, mode 0600, when this returns.
fixture_sshd_start_elog() { # file [-o Name=value...]
	local log=$1 wrapper
	shift
	wrapper=$FIXTURE_DIR/sshd-elog
	{
		printf '#!/bin/sh\nexec /usr/sbin/sshd'
		printf ' %q' "$@" -E "$log"
		printf ' "$@"\n'
	} >"$wrapper"
	chmod 0700 "$wrapper"
	FIXTURE_SSHD=$wrapper FIXTURE_SSHD_ELOG=$log fixture_sshd_start
	: >>"$log"
	chmod 0600 "$log"
}

fixture_sshd_stop() { # [pid]
	local pid=${1:-$FIXTURE_SSHD_PID}
	[ -n "$pid" ] || return 0
	if [[ $_fixture_sshd_pids == *" $pid "* ]]; then
		kill -TERM "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		_fixture_sshd_pids=${_fixture_sshd_pids/ $pid / }
	fi
	if [ "$pid" = "$FIXTURE_SSHD_PID" ]; then
		FIXTURE_SSHD_PID=
		FIXTURE_SSHD_PORT=
	fi
	return 0
}

# Try one login with exactly this key and run a command (default: true).
# Returns ssh's exit code: 0 logged in and the command succeeded, 255 refused
# or connection failed. stderr goes to $FIXTURE_SSH_ERR.
fixture_ssh_login() { # key user [command...]
	local key=$1 user=$2
	shift 2
	[ $# -gt 0 ] || set -- true
	[ -n "$FIXTURE_SSHD_PORT" ] || fixture_fail "fixture_ssh_login: no sshd running"
	FIXTURE_SSH_ERR="$FIXTURE_DIR/ssh-last.err"
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes \
		-o IdentityAgent=none -o PreferredAuthentications=publickey \
		-o ConnectTimeout=5 -o LogLevel=ERROR \
		-i "$key" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" "$@" \
		</dev/null 2>"$FIXTURE_SSH_ERR"
}

# Bytes of a file as one string of hex (for messages about what differs).
fixture_hexdump() { # file
	od -An -c "$1" | head -n 40
}
