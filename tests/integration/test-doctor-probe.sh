#!/bin/bash
# The sshd probe and doctor against a real OpenSSH sshd (issue 5): the probe
# reads the version the server announces and the fingerprint of every host
# key it serves, each equal to what ssh-keygen -l says of the .pub file; it
# finds the port itself from sshd -T; it leaves no key-exchange errors in
# sshd's log; with sshd stopped it falls back to sshd -V and the .pub files.
# A healthy setup gets no failure from doctor, and a login really works.
# An sshd run by nobody on the port is not believed (the fallback answers,
# naming uid 65534); a second sshd of root's with another host key is
# believed for its version, but the keys reported are the HostKey files'.
#
# usage: test-doctor-probe.sh DOCTOR_TOOL
# Needs root, openssh-server, openssh-client (ssh, ssh-keygen), passwd,
# setpriv (util-linux).

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"

tool=${1:-}
[ -n "$tool" ] && [ -x "$tool" ] || fixture_fail "usage: $0 DOCTOR_TOOL"
fixture_require_root
fixture_require_cmd ssh ssh-keygen useradd usermod userdel setpriv

fixture_init
fixture_add_user
user=$FIXTURE_USER
home=$FIXTURE_HOME
work=$FIXTURE_DIR/work
config=$FIXTURE_DIR/sshd/sshd_config
mkdir -p "$work"

# Host keys of three types: the fixture's ed25519, plus ECDSA and RSA.
ssh-keygen -q -t ecdsa -N '' -f "$FIXTURE_DIR/host_ecdsa" </dev/null >/dev/null ||
	fixture_fail "ssh-keygen ecdsa failed"
ssh-keygen -q -t rsa -b 3072 -N '' -f "$FIXTURE_DIR/host_rsa" </dev/null >/dev/null ||
	fixture_fail "ssh-keygen rsa failed"
hostkey_lines=("HostKey $FIXTURE_DIR/host_ecdsa" "HostKey $FIXTURE_DIR/host_rsa")

# "TYPE SHA256:..." of each host key, as ssh-keygen -l computes it, sorted.
expected_keys=$work/expected-keys
fixture_sshd_start "${hostkey_lines[@]}"
for pub in "$FIXTURE_DIR/sshd/host_ed25519.pub" "$FIXTURE_DIR/host_ecdsa.pub" \
	"$FIXTURE_DIR/host_rsa.pub"; do
	printf '%s %s\n' "$(awk '{ print $1; exit }' "$pub")" \
		"$(ssh-keygen -l -E sha256 -f "$pub" | awk '{ print $2 }')"
done | sort >"$expected_keys"
[ "$(wc -l <"$expected_keys")" -eq 3 ] || fixture_fail "expected 3 host keys"

# The version as sshd -V and the banner say it, read without our code.
want_version=$("$FIXTURE_SSHD" -V 2>&1 | sed -n 's/^OpenSSH_\([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)
[ -n "$want_version" ] || fixture_fail "sshd -V printed no version"
if [ -r /etc/debian_version ] && [[ $(cat /etc/debian_version) == 12* ]]; then
	[ "$want_version" = "9.2" ] || fixture_fail "Debian 12 should have OpenSSH 9.2, sshd -V says $want_version"
fi
exec 5<>"/dev/tcp/127.0.0.1/$FIXTURE_SSHD_PORT" || fixture_fail "cannot connect to sshd"
IFS= read -r -t 5 banner <&5 || fixture_fail "sshd sent no banner"
exec 5<&- 5>&-
banner=${banner%$'\r'}

field() { # name file: the value of the first "name value" line
	sed -n "s/^$1 //p" "$2" | head -n 1
}

probe() { # args...: runs the probe into $work/probe, returns its exit code
	local rc=0
	"$tool" probe "$@" >"$work/probe" 2>"$work/probe.err" || rc=$?
	return "$rc"
}

check_keys() { # what
	grep '^host-key ' "$work/probe" | cut -d' ' -f2- | sort >"$work/got-keys"
	cmp -s "$work/got-keys" "$expected_keys" ||
		fixture_fail "$1: host keys differ from ssh-keygen -l:
got:
$(cat "$work/got-keys")
expected:
$(cat "$expected_keys")"
}

# 1. Probe the port given.
log_lines=$(wc -l <"$FIXTURE_SSHD_LOG")
probe --port "$FIXTURE_SSHD_PORT" --sshd-config "$config" ||
	fixture_fail "probe failed (rc $?): $(head -c 400 "$work/probe.err")"
[ "$(field source "$work/probe")" = probe ] || fixture_fail "source is not probe: $(cat "$work/probe")"
[ "$(field version "$work/probe")" = "$want_version" ] ||
	fixture_fail "probe says version $(field version "$work/probe"), sshd -V says $want_version"
[ "$(field port "$work/probe")" = "$FIXTURE_SSHD_PORT" ] || fixture_fail "wrong port"
[ "$(field address "$work/probe")" = 127.0.0.1 ] || fixture_fail "wrong address"
[ "$(field software "$work/probe")" = "$banner" ] ||
	fixture_fail "software '$(field software "$work/probe")' is not the banner '$banner'"
check_keys "probe"
fixture_pass "probe: OpenSSH $want_version and the fingerprints of 3 host keys"

# The probe asked for each type the server has, so no exchange failed.
sleep 0.5 # let sshd's children write their last lines
if tail -n +"$((log_lines + 1))" "$FIXTURE_SSHD_LOG" | grep -q 'Unable to negotiate'; then
	fixture_fail "the probe left key-exchange failures in sshd's log"
fi
fixture_pass "probe: no key-exchange failures in sshd's log"

# 2. Port auto: sshd -T says where it listens.
probe --sshd-config "$config" || fixture_fail "probe (port auto) failed: $(head -c 400 "$work/probe.err")"
[ "$(field port "$work/probe")" = "$FIXTURE_SSHD_PORT" ] ||
	fixture_fail "port auto found $(field port "$work/probe"), sshd listens on $FIXTURE_SSHD_PORT"
[ "$(field source "$work/probe")" = probe ] || fixture_fail "port auto: source is not probe"
check_keys "port auto"
fixture_pass "probe: port auto finds $FIXTURE_SSHD_PORT from sshd -T"

# 3. A healthy setup: doctor finds no failure, and a key really logs in.
fixture_keygen client
install -d -o "$user" -g "$(id -g "$user")" -m 0700 "$home/.ssh"
install -o "$user" -g "$(id -g "$user")" -m 0600 "$FIXTURE_DIR/client.pub" "$home/.ssh/authorized_keys"
for mode in shell sftp; do
	rc=0
	"$tool" run --user "$user" --mode "$mode" --port "$FIXTURE_SSHD_PORT" \
		--sshd-config "$config" >"$work/doctor" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "doctor ($mode) on a healthy setup: rc $rc:
$(cat "$work/doctor")"
	for name in sshd-reachable expiry-format sshd-config pubkey-authentication \
		authorized-keys-file authorized-keys-command strict-modes sftp-subsystem \
		user-allowed account login-shell home-permissions; do
		grep -q "^ok $name: " "$work/doctor" ||
			fixture_fail "doctor ($mode): $name is not ok:
$(cat "$work/doctor")"
	done
	grep -Eq '^(ok|warn) clock: ' "$work/doctor" || fixture_fail "doctor: no clock check"
	rc=0
	"$tool" blockers --user "$user" --mode "$mode" --port "$FIXTURE_SSHD_PORT" \
		--sshd-config "$config" >"$work/blockers" 2>&1 || rc=$?
	[ "$rc" -eq 0 ] && [ "$(cat "$work/blockers")" = none ] ||
		fixture_fail "blockers ($mode) on a healthy setup: rc $rc: $(cat "$work/blockers")"
done
grep -q "^ok sshd-reachable: OpenSSH $want_version answers on 127.0.0.1 port $FIXTURE_SSHD_PORT" "$work/doctor" ||
	fixture_fail "sshd-reachable does not name the version and port: $(grep sshd-reachable "$work/doctor")"
case $want_version in
9.[1-9]* | [1-9][0-9].*) want_form=UTC ;;
*) want_form="local time" ;;
esac
grep -q "^ok expiry-format: expiry-time is written in $want_form" "$work/doctor" ||
	fixture_fail "expiry-format is not $want_form: $(grep expiry-format "$work/doctor")"
rc=0
"$tool" run --json --user "$user" --port "$FIXTURE_SSHD_PORT" --sshd-config "$config" \
	>"$work/doctor.json" 2>&1 || rc=$?
[ "$rc" -eq 0 ] && grep -q '^{"ok":true,"checks":\[' "$work/doctor.json" ||
	fixture_fail "doctor --json: rc $rc: $(head -c 600 "$work/doctor.json")"
rc=0
fixture_ssh_login "$FIXTURE_DIR/client" "$user" || rc=$?
[ "$rc" -eq 0 ] || fixture_fail "the healthy setup refuses a login (ssh rc $rc)"
fixture_pass "doctor: a healthy setup has no failure and the key logs in"

# 4. sshd stopped: the version from sshd -V, the keys from the .pub files.
port=$FIXTURE_SSHD_PORT
fixture_sshd_stop
probe --port "$port" --sshd-config "$config" ||
	fixture_fail "fallback probe failed: $(head -c 400 "$work/probe.err")"
[ "$(field source "$work/probe")" = "sshd -V" ] ||
	fixture_fail "with sshd stopped the source is not sshd -V: $(cat "$work/probe")"
[ "$(field version "$work/probe")" = "$want_version" ] || fixture_fail "fallback version wrong"
grep -q '^probe-error no SSH server answered on ' "$work/probe" ||
	fixture_fail "fallback: no probe error: $(cat "$work/probe")"
check_keys "fallback"
fixture_pass "probe: with sshd down, sshd -V and the .pub files give version and keys"

# ... and doctor fails sshd-reachable, and only that.
rc=0
"$tool" run --user "$user" --port "$port" --sshd-config "$config" \
	>"$work/doctor" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fixture_fail "doctor with sshd down: rc $rc, expected 1"
[ "$(grep '^fail ' "$work/doctor" | cut -d: -f1)" = "fail sshd-reachable" ] ||
	fixture_fail "doctor with sshd down should fail sshd-reachable only:
$(cat "$work/doctor")"
fixture_pass "doctor: sshd down fails sshd-reachable"

# 5. Another sshd on the port, with a host key of its own: as nobody, then
#    as root. Any user may listen on a port no one else holds.
other_dir=$(mktemp -d /tmp/sshlease-other.XXXXXXXX) || fixture_fail "mktemp failed"
fixture_on_exit "rm -rf -- '$other_dir'"
chmod 0755 "$other_dir"
ssh-keygen -q -t ed25519 -N '' -f "$other_dir/host_other" </dev/null >/dev/null ||
	fixture_fail "ssh-keygen failed"
other_fp=$(ssh-keygen -l -E sha256 -f "$other_dir/host_other.pub" | awk '{ print $2 }')

other_sshd_start() { # uid: $other_port, $other_pid
	local uid=$1 p i banner attempt
	chown "$uid:$uid" "$other_dir" "$other_dir/host_other" "$other_dir/host_other.pub"
	other_port=
	for ((attempt = 0; attempt < 20; attempt++)); do
		p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		printf '%s\n' "ListenAddress 127.0.0.1" "Port $p" "HostKey $other_dir/host_other" \
			"PidFile none" "UsePAM no" "LogLevel ERROR" >"$other_dir/sshd_config"
		chmod 0644 "$other_dir/sshd_config"
		# setpriv execs sshd: $! is sshd itself.
		setpriv --reuid="$uid" --regid="$uid" --clear-groups \
			"$FIXTURE_SSHD" -D -e -f "$other_dir/sshd_config" </dev/null \
			>"$other_dir/sshd.log" 2>&1 &
		other_pid=$!
		fixture_on_exit "kill $other_pid 2>/dev/null; wait $other_pid 2>/dev/null"
		for ((i = 0; i < 50; i++)); do
			kill -0 "$other_pid" 2>/dev/null || break
			banner=
			if { exec 4<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
				IFS= read -r -t 5 banner <&4 || true
				exec 4<&- 4>&-
			fi
			if [[ $banner == SSH-2.0-* ]]; then
				other_port=$p
				return 0
			fi
			sleep 0.1
		done
		kill "$other_pid" 2>/dev/null
		wait "$other_pid" 2>/dev/null
	done
	fixture_fail "a second sshd as uid $uid did not come up: $(head -c 400 "$other_dir/sshd.log")"
}

other_sshd_start 65534
probe --port "$other_port" --sshd-config "$config" ||
	fixture_fail "probe with nobody's sshd on the port failed: $(head -c 400 "$work/probe.err")"
[ "$(field source "$work/probe")" = "sshd -V" ] && [ "$(field address "$work/probe")" = "" ] ||
	fixture_fail "nobody's sshd was believed: $(cat "$work/probe")"
! grep -qF "$other_fp" "$work/probe" || fixture_fail "nobody's host key was reported: $(cat "$work/probe")"
check_keys "nobody's sshd on the port"
grep -q "^probe-error no trusted SSH server answered on 127.0.0.1 or ::1 port $other_port: a process of uid 65534 (nobody), not root, listens on 127.0.0.1 port $other_port" "$work/probe" ||
	fixture_fail "the probe error does not name uid 65534: $(grep probe-error "$work/probe")"
rc=0
"$tool" run --user "$user" --port "$other_port" --sshd-config "$config" >"$work/doctor" 2>&1 || rc=$?
grep -q "^fail sshd-reachable: .*uid 65534" "$work/doctor" ||
	fixture_fail "doctor with nobody's sshd on the port: $(grep sshd-reachable "$work/doctor")"
fixture_pass "probe: an sshd of nobody's on the port is not believed; sshd -V and the HostKey files answer"
kill "$other_pid" 2>/dev/null
wait "$other_pid" 2>/dev/null

other_sshd_start 0
probe --port "$other_port" --sshd-config "$config" ||
	fixture_fail "probe with root's second sshd failed: $(head -c 400 "$work/probe.err")"
[ "$(field source "$work/probe")" = probe ] && [ "$(field version "$work/probe")" = "$want_version" ] ||
	fixture_fail "root's second sshd was not believed: $(cat "$work/probe")"
! grep -qF "$other_fp" "$work/probe" ||
	fixture_fail "a host key no HostKey file has was reported: $(cat "$work/probe")"
check_keys "root's second sshd with another key"
probe --port "$other_port" --sshd-config "$other_dir/sshd_config" ||
	fixture_fail "probe with its own config failed: $(head -c 400 "$work/probe.err")"
grep -qF "host-key ssh-ed25519 $other_fp" "$work/probe" ||
	fixture_fail "with its own config, its own key was not reported: $(cat "$work/probe")"
fixture_pass "probe: root's sshd showing a key the HostKey files lack: the files' keys are reported"
