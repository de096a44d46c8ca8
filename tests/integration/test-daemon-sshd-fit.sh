#!/bin/bash
# How sshleased fits a grant to the local sshd, against a real OpenSSH sshd
# with the real sshleased and sshlease (DESIGN.md §3-§4, doctor.h):
#  - the reply (and the block for the ticket) carries the host key
#    fingerprints the probe found, equal to ssh-keygen -lf of the sshd's
#    three host keys; a reload probes again (a new port is reported);
#  - the expiry-time form follows the probed version (OpenSSH 9.2: the Z
#    form); expiry_format = local writes the local time of the daemon's
#    zone, none writes no expiry-time; a server that is not OpenSSH leaves
#    the version unknown, and auto then refuses grants saying what to set,
#    while utc is accepted; with no server on the port, sshd -V still
#    gives the version;
#  - a listener that is not root's on the probed port (a local user's
#    python3 with an old OpenSSH banner; a second sshd run as nobody with
#    its own host key, as a reviewer did) is not believed: the grant goes
#    through with sshd -V's version and the expiry form it needs, the reply
#    carries the HostKey files' keys, never the listener's, and the
#    daemon's log names the listener's uid;
#  - SFTP mode: an sftp session moves a file; `ssh user@host COMMAND` does
#    not run the command; [grant] mode = sftp applies by default;
#  - from: a login from 127.0.0.1 is refused when from excludes it and
#    accepted when it includes it; [grant] from applies by default;
#  - doctor's checks before a grant: a locked account (UsePAM no),
#    AllowUsers without the account, PubkeyAuthentication no, SFTP without
#    a Subsystem: each refused with exit 3 quoting the check and its fix,
#    nothing changed, the refusal audited; each granted with --force, the
#    override in the grant's audit reason; the real sshd then indeed
#    refuses the forced key for the locked account and for AllowUsers.
#
# usage: test-daemon-sshd-fit.sh SSHLEASED SSHLEASE PYTHON3
# Needs root, openssh-server, openssh-client (ssh, sftp, ssh-keygen),
# passwd, tzdata, python3, setpriv (util-linux).
set -u
. "$(dirname "$0")/../lib/fixture.sh"
. "$(dirname "$0")/../lib/daemon.sh"

python=${3:-}
fixture_require_root
fixture_require_cmd ssh sftp ssh-keygen useradd usermod userdel cmp sed setpriv
[ -x "$python" ] || fixture_fail "usage: $0 SSHLEASED SSHLEASE PYTHON3"
[ -e /usr/share/zoneinfo/Asia/Kolkata ] || fixture_fail "tzdata is not installed (apt-get install tzdata)"
fixture_init
daemon_init "${1:-}" "${2:-}"
work=$FIXTURE_DIR/work
mkdir -p "$work"

fixture_add_user slsf
user=$FIXTURE_USER
home=$FIXTURE_HOME
ak=$home/.ssh/authorized_keys
state=$DAEMON_STATE/state.json
stable_state() { # copy: $state once two looks 0.2 s apart agree
	local i
	cp "$state" "$1"
	for ((i = 0; i < 50; i++)); do
		sleep 0.2
		cmp -s "$state" "$1" && return 0
		cp "$state" "$1"
	done
	fixture_fail "state.json kept changing after the start"
}
for k in k1 k2 k3 k4 k5 k6 k7 k8 k9 ks1 ks2; do fixture_keygen "$k"; done

# Three host keys, so the probe has three families to find.
mkdir -p "$FIXTURE_DIR/sshd"
ssh-keygen -q -t ecdsa -N '' -f "$FIXTURE_DIR/sshd/host_ecdsa" </dev/null >/dev/null &&
	ssh-keygen -q -t rsa -b 3072 -N '' -f "$FIXTURE_DIR/sshd/host_rsa" </dev/null >/dev/null ||
	fixture_fail "host key generation failed"
host_keys=("HostKey $FIXTURE_DIR/sshd/host_ecdsa" "HostKey $FIXTURE_DIR/sshd/host_rsa")
fixture_sshd_start "${host_keys[@]}"
sshd_config=$FIXTURE_DIR/sshd/sshd_config

cat >"$work/fit.py" <<'PY'
import json, socket, sys
cmd = sys.argv[1]
if cmd == "get":            # FILE PATH -> value ("" for null; JSON for lists)
    obj = json.load(open(sys.argv[2]))
    for part in sys.argv[3].split("."):
        obj = obj[int(part)] if isinstance(obj, list) else obj.get(part)
        if obj is None:
            break
    print("" if obj is None else json.dumps(obj) if isinstance(obj, (dict, list, bool)) else obj)
elif cmd == "host-keys":    # FILE -> "FINGERPRINT" lines of reply.sshd.host_keys, sorted
    for k in sorted(h["fingerprint"] for h in json.load(open(sys.argv[2]))["sshd"]["host_keys"]):
        print(k)
elif cmd == "request":      # SOCKET JSON -> the reply
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.settimeout(60)
    s.connect(sys.argv[2])
    s.send(sys.argv[3].encode())
    print(s.recv(65536).decode())
elif cmd == "not-openssh":  # PORTFILE: a server with a dropbear banner
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(srv.getsockname()[1]))
    import os
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    while True:
        conn, _ = srv.accept()
        try:
            conn.sendall(b"SSH-2.0-dropbear_2022.83\r\n")
        except OSError:
            pass
        conn.close()
PY
js() { "$python" "$work/fit.py" "$@"; }

write_config() { # port sshd_config extra lines...
	local port=$1 config=$2
	shift 2
	daemon_config_write "[grant]" "users = $user" "max_duration = 2d" "$@" \
		"[sshd]" "port = $port" "config = $config"
}

# Send SIGHUP and wait (bounded) until the daemon has reloaded.
reload() {
	local n i
	n=$(grep -c 'configuration reloaded' "$DAEMON_LOG")
	kill -HUP "$DAEMON_PID"
	for ((i = 0; i < 200; i++)); do
		[ "$(grep -c 'configuration reloaded' "$DAEMON_LOG")" -gt "$n" ] && break
		sleep 0.05
	done
	[ "$i" -lt 200 ] || fixture_fail "sshleased did not reload: $(tail -c 400 "$DAEMON_LOG")"
	sl status >/dev/null || fixture_fail "no answer after the reload"
}

grant_ok() { # out args...
	local out=$1
	shift
	sl grant --yes --json --user "$user" --for 1h "$@" >"$work/$out" 2>"$work/err" ||
		fixture_fail "grant $*: $(head -c 500 "$work/err")"
}

line_of() { # grant-json -> the managed line of that grant
	grep -F "sshlease:$(js get "$work/$1" id)" "$ak"
}

write_config "$FIXTURE_SSHD_PORT" "$sshd_config"
daemon_start

# --- host keys in the reply and the block ---
for f in host_ed25519 host_ecdsa host_rsa; do
	ssh-keygen -l -E sha256 -f "$FIXTURE_DIR/sshd/$f.pub" | awk '{ print $2 }'
done | sort >"$work/host-keys.expected"
[ "$(wc -l <"$work/host-keys.expected")" -eq 3 ] || fixture_fail "ssh-keygen -lf gave no fingerprints"
js request "$DAEMON_SOCKET" \
	"{\"op\":\"grant\",\"key\":\"$(cat "$FIXTURE_DIR/k1.pub")\",\"user\":\"$user\",\"for\":\"1h\",\"dry_run\":true}" \
	>"$work/dry.json"
[ "$(js get "$work/dry.json" ok)" = true ] || fixture_fail "dry run: $(cat "$work/dry.json")"
js host-keys "$work/dry.json" >"$work/host-keys.got"
cmp -s "$work/host-keys.expected" "$work/host-keys.got" ||
	fixture_fail "host keys in the reply: $(cat "$work/host-keys.got"), expected $(cat "$work/host-keys.expected")"
[ "$(js get "$work/dry.json" sshd.port)" = "$FIXTURE_SSHD_PORT" ] ||
	fixture_fail "the reply's sshd port is not $FIXTURE_SSHD_PORT"
version=$(/usr/sbin/sshd -V 2>&1 | sed -n 's/^OpenSSH_\([0-9]*\.[0-9]*\).*/\1/p' | head -n 1)
[ -n "$version" ] && [ "$(js get "$work/dry.json" sshd.version)" = "$version" ] ||
	fixture_fail "the reply's sshd version is not $version: $(js get "$work/dry.json" sshd)"
sl grant --yes --user "$user" --for 1h "@$FIXTURE_DIR/k1.pub" >"$work/block.txt" 2>"$work/err" ||
	fixture_fail "grant for the block: $(head -c 400 "$work/err")"
while read -r fp; do
	grep -q "host key:.*$fp" "$work/block.txt" ||
		fixture_fail "the block for the ticket lacks host key $fp: $(cat "$work/block.txt")"
done <"$work/host-keys.expected"
grep -q "ssh port:.*$FIXTURE_SSHD_PORT" "$work/block.txt" || fixture_fail "the block lacks the ssh port"
fixture_pass "the reply and the ticket block carry the probed port and the three host key fingerprints"

# --- the expiry-time form ---
grant_ok utc.json "@$FIXTURE_DIR/k2.pub"
expires=$(js get "$work/utc.json" expires_unix)
case $version in
9.[1-9]* | [1-9][0-9].*)
	line_of utc.json | grep -qF "expiry-time=\"$(date -u -d "@$expires" +%Y%m%d%H%M%S)Z\"" ||
		fixture_fail "OpenSSH $version: the line is not in the Z form: $(line_of utc.json)"
	fixture_pass "OpenSSH $version: expiry-time is written in the UTC (Z) form" ;;
*)
	line_of utc.json | grep -qF "expiry-time=\"$(date -d "@$expires" +%Y%m%d%H%M%S)\"" ||
		fixture_fail "OpenSSH $version: the line is not in the local form: $(line_of utc.json)"
	fixture_pass "OpenSSH $version: expiry-time is written in the local form" ;;
esac

daemon_stop
daemon_config_write "[grant]" "users = $user" "max_duration = 2d" \
	"[sshd]" "port = $FIXTURE_SSHD_PORT" "config = $sshd_config" "expiry_format = local"
TZ=Asia/Kolkata daemon_start
grant_ok local.json "@$FIXTURE_DIR/k3.pub"
expires=$(js get "$work/local.json" expires_unix)
want=$(TZ=Asia/Kolkata date -d "@$expires" +%Y%m%d%H%M%S)
line_of local.json | grep -qF "expiry-time=\"$want\" " ||
	fixture_fail "expiry_format = local: expected expiry-time=\"$want\": $(line_of local.json)"
[ "$want" != "$(date -u -d "@$expires" +%Y%m%d%H%M%S)" ] || fixture_fail "the zone did not apply"
fixture_pass "expiry_format = local writes the daemon's local time ($want, Asia/Kolkata)"

daemon_config_write "[grant]" "users = $user" "max_duration = 2d" \
	"[sshd]" "port = $FIXTURE_SSHD_PORT" "config = $sshd_config" "expiry_format = none"
reload
grant_ok none.json "@$FIXTURE_DIR/k4.pub"
! line_of none.json | grep -q expiry-time || fixture_fail "expiry_format = none wrote expiry-time"
fixture_pass "expiry_format = none writes no expiry-time"
daemon_stop

# A server that is not OpenSSH: the version is unknown.
"$python" "$work/fit.py" not-openssh "$work/fake.port" &
fake_pid=$!
fixture_on_exit "kill $fake_pid 2>/dev/null; wait $fake_pid 2>/dev/null"
for ((i = 0; i < 100; i++)); do [ -s "$work/fake.port" ] && break; sleep 0.05; done
fake_port=$(cat "$work/fake.port")
write_config "$fake_port" "$sshd_config"
daemon_start
# Whatever the start still writes to the state once it answers settles
# first (a copy taken at once raced with it); then the refusal must change
# nothing.
stable_state "$work/state.saved"
rc=0
sl grant --yes --user "$user" --for 1h "@$FIXTURE_DIR/k5.pub" >/dev/null 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "unknown sshd version with auto: exit $rc, expected 3"
grep -q 'version of the local sshd is unknown.*expiry_format' "$work/err" ||
	fixture_fail "unknown sshd version: the refusal does not say what to set: $(cat "$work/err")"
cmp -s "$work/state.saved" "$state" || fixture_fail "unknown sshd version: the state changed"
tail -n 1 "$DAEMON_AUDIT" | grep -q '"event":"refuse"' || fixture_fail "unknown sshd version: not audited"
daemon_config_write "[grant]" "users = $user" "max_duration = 2d" \
	"[sshd]" "port = $fake_port" "config = $sshd_config" "expiry_format = utc"
reload
grant_ok fakeutc.json "@$FIXTURE_DIR/k5.pub"
line_of fakeutc.json | grep -q 'expiry-time="[0-9]*Z"' || fixture_fail "expiry_format = utc: no Z form"
fixture_pass "a server that is not OpenSSH: auto refuses and says what to set; utc is taken at its word"
kill "$fake_pid" 2>/dev/null
wait "$fake_pid" 2>/dev/null
daemon_stop

# No server on the port: sshd -V gives the version, the files the keys.
write_config "$fake_port" "$sshd_config"
daemon_start
js request "$DAEMON_SOCKET" '{"op":"status"}' >"$work/status.json"
[ "$(js get "$work/status.json" sshd.source)" = "sshd -V" ] ||
	fixture_fail "no server: the source is not sshd -V: $(cat "$work/status.json")"
[ "$(js get "$work/status.json" expiry_form)" = utc ] ||
	fixture_fail "no server: the expiry form is not utc (sshd -V): $(cat "$work/status.json")"
[ "$(js get "$work/status.json" sshd.host_keys | grep -o SHA256: | wc -l)" -eq 3 ] ||
	fixture_fail "no server: the host keys were not read from the HostKey files"
fixture_pass "no server on the port: the version comes from sshd -V and the keys from the HostKey files"

# --- a listener that is not root's ---
# Any local user may listen on a port no one else holds and answer the
# probe with a banner and host keys of its choice. The user here is nobody
# (65534), in a directory of its own.
nobody_dir=$(mktemp -d /tmp/sshlease-nobody.XXXXXXXX) || fixture_fail "mktemp failed"
fixture_on_exit "rm -rf -- '$nobody_dir'"
chown 65534:65534 "$nobody_dir" && chmod 0755 "$nobody_dir" || fixture_fail "chown $nobody_dir"
# setpriv execs the program: $! is the listener itself, for kill.
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)

# 1. A python3 of nobody's announcing OpenSSH 7.4: believed, it would make
#    auto refuse every grant (no expiry-time before 7.7).
cat >"$nobody_dir/old.py" <<'PY'
import os, socket, sys
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(srv.getsockname()[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
while True:
    conn, _ = srv.accept()
    try:
        conn.sendall(b"SSH-2.0-OpenSSH_7.4 spoofed\r\n")
    except OSError:
        pass
    conn.close()
PY
chmod 0644 "$nobody_dir/old.py"
"${as_nobody[@]}" "$python" "$nobody_dir/old.py" "$nobody_dir/old.port" &
old_pid=$!
fixture_on_exit "kill $old_pid 2>/dev/null; wait $old_pid 2>/dev/null"
for ((i = 0; i < 100; i++)); do [ -s "$nobody_dir/old.port" ] && break; sleep 0.05; done
old_port=$(cat "$nobody_dir/old.port") || fixture_fail "nobody's python did not listen"
write_config "$old_port" "$sshd_config"
reload
grep -q "local sshd: a process of uid 65534 (nobody), not root, listens on 127.0.0.1 port $old_port; its answer is ignored" "$DAEMON_LOG" ||
	fixture_fail "nobody's listener: the log does not name its uid: $(grep 'local sshd' "$DAEMON_LOG" | tail -n 3)"
grant_ok spoofold.json "@$FIXTURE_DIR/ks1.pub"
case $version in
9.[1-9]* | [1-9][0-9].*)
	line_of spoofold.json | grep -qF "expiry-time=\"$(date -u -d "@$(js get "$work/spoofold.json" expires_unix)" +%Y%m%d%H%M%S)Z\"" ||
		fixture_fail "nobody's listener: the line is not in sshd -V's (Z) form: $(line_of spoofold.json)" ;;
esac
js request "$DAEMON_SOCKET" '{"op":"status"}' >"$work/status.json"
[ "$(js get "$work/status.json" sshd.source)" = "sshd -V" ] &&
	[ "$(js get "$work/status.json" sshd.version)" = "$version" ] ||
	fixture_fail "nobody's listener: not sshd -V's version $version: $(js get "$work/status.json" sshd)"
! grep -q '7\.4\|spoofed' "$work/status.json" ||
	fixture_fail "nobody's listener: its banner reached the reply: $(js get "$work/status.json" sshd)"
fixture_pass "a listener of nobody's announcing OpenSSH 7.4 is ignored: the grant uses sshd -V's $version"
sl revoke --all >/dev/null 2>&1 || fixture_fail "revoke --all failed"
kill "$old_pid" 2>/dev/null
wait "$old_pid" 2>/dev/null

# 2. A second sshd, run as nobody on a high port with a host key of its
#    own: believed, its key would go into the block support pins.
ssh-keygen -q -t ed25519 -N '' -f "$nobody_dir/host_spoof" </dev/null >/dev/null ||
	fixture_fail "ssh-keygen failed"
chown 65534:65534 "$nobody_dir/host_spoof" "$nobody_dir/host_spoof.pub"
spoof_fp=$(ssh-keygen -l -E sha256 -f "$nobody_dir/host_spoof.pub" | awk '{ print $2 }')
spoof_port=
for ((attempt = 0; attempt < 20; attempt++)); do
	[ -z "$spoof_port" ] || break
	p=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
	printf '%s\n' "ListenAddress 127.0.0.1" "Port $p" "HostKey $nobody_dir/host_spoof" \
		"PidFile none" "UsePAM no" "LogLevel ERROR" >"$nobody_dir/sshd_config"
	chmod 0644 "$nobody_dir/sshd_config"
	"${as_nobody[@]}" /usr/sbin/sshd -D -e -f "$nobody_dir/sshd_config" </dev/null \
		>"$nobody_dir/sshd.log" 2>&1 &
	spoof_pid=$!
	fixture_on_exit "kill $spoof_pid 2>/dev/null; wait $spoof_pid 2>/dev/null"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$spoof_pid" 2>/dev/null || break
		banner=
		if { exec 4<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
			IFS= read -r -t 5 banner <&4 || true
			exec 4<&- 4>&-
		fi
		if [[ $banner == SSH-2.0-* ]]; then spoof_port=$p; break; fi
		sleep 0.1
	done
	[ -n "$spoof_port" ] || { kill "$spoof_pid" 2>/dev/null; wait "$spoof_pid" 2>/dev/null; }
done
[ -n "$spoof_port" ] || fixture_fail "sshd as nobody did not come up: $(head -c 400 "$nobody_dir/sshd.log")"
write_config "$spoof_port" "$sshd_config"
reload
js request "$DAEMON_SOCKET" \
	"{\"op\":\"grant\",\"key\":\"$(cat "$FIXTURE_DIR/ks2.pub")\",\"user\":\"$user\",\"for\":\"1h\",\"dry_run\":true}" \
	>"$work/spoof.json"
[ "$(js get "$work/spoof.json" ok)" = true ] || fixture_fail "nobody's sshd: dry run: $(cat "$work/spoof.json")"
! grep -qF "$spoof_fp" "$work/spoof.json" ||
	fixture_fail "nobody's sshd: its host key $spoof_fp is in the grant reply"
js host-keys "$work/spoof.json" >"$work/host-keys.got"
cmp -s "$work/host-keys.expected" "$work/host-keys.got" ||
	fixture_fail "nobody's sshd: the reply's host keys are not the HostKey files': $(cat "$work/host-keys.got")"
[ "$(js get "$work/spoof.json" sshd.source)" = "sshd -V" ] &&
	[ "$(js get "$work/spoof.json" sshd.version)" = "$version" ] &&
	[ "$(js get "$work/spoof.json" sshd.address)" = "" ] ||
	fixture_fail "nobody's sshd: the reply did not come from sshd -V: $(js get "$work/spoof.json" sshd)"
js get "$work/spoof.json" sshd.warning | grep -q "uid 65534" ||
	fixture_fail "nobody's sshd: the reply's warning does not name uid 65534: $(js get "$work/spoof.json" sshd)"
sl grant --yes --user "$user" --for 1h "@$FIXTURE_DIR/ks2.pub" >"$work/block.txt" 2>"$work/err" ||
	fixture_fail "nobody's sshd: grant: $(head -c 400 "$work/err")"
! grep -qF "$spoof_fp" "$work/block.txt" || fixture_fail "nobody's sshd: its host key is in the ticket block"
grep -c "host key:" "$work/block.txt" | grep -qx 3 || fixture_fail "nobody's sshd: the block lacks the three host keys: $(cat "$work/block.txt")"
fixture_pass "a second sshd run as nobody on the port is ignored: the reply and the block carry the HostKey files' keys"
sl revoke --all >/dev/null 2>&1 || fixture_fail "revoke --all failed"
kill "$spoof_pid" 2>/dev/null
wait "$spoof_pid" 2>/dev/null

# A reload probes again: the new port answers.
write_config "$FIXTURE_SSHD_PORT" "$sshd_config"
reload
js request "$DAEMON_SOCKET" '{"op":"status"}' >"$work/status.json"
[ "$(js get "$work/status.json" sshd.source)" = probe ] &&
	[ "$(js get "$work/status.json" sshd.port)" = "$FIXTURE_SSHD_PORT" ] ||
	fixture_fail "a reload did not probe again: $(cat "$work/status.json")"
fixture_pass "a reload probes the local sshd again"
sl revoke --all >/dev/null 2>&1 || fixture_fail "revoke --all failed"

# --- SFTP mode ---
grant_ok sftp.json --sftp-only "@$FIXTURE_DIR/k6.pub"
line_of sftp.json | grep -q '^restrict,command="internal-sftp",expiry-time=' ||
	fixture_fail "the SFTP line: $(line_of sftp.json)"
head -c 3000 /dev/urandom | base64 >"$work/upload.txt"
printf 'put %s upload.txt\nget upload.txt %s\n' "$work/upload.txt" "$work/download.txt" >"$work/batch"
sftp -b "$work/batch" -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
	-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o IdentityAgent=none \
	-i "$FIXTURE_DIR/k6" -P "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" >"$work/sftp.out" 2>&1 ||
	fixture_fail "sftp session failed: $(tail -c 600 "$work/sftp.out")"
cmp -s "$work/upload.txt" "$home/upload.txt" && cmp -s "$work/upload.txt" "$work/download.txt" ||
	fixture_fail "sftp did not move the file"
marker=$home/command-ran
out=$(fixture_ssh_login "$FIXTURE_DIR/k6" "$user" "touch $marker; echo ran") || true
[ ! -e "$marker" ] && [ "$out" != ran ] ||
	fixture_fail "an SFTP-only grant ran a command (output '$out')"
fixture_pass "SFTP mode: sftp moves a file, ssh COMMAND does not run the command"

write_config "$FIXTURE_SSHD_PORT" "$sshd_config" "mode = sftp"
reload
grant_ok sftpdefault.json "@$FIXTURE_DIR/k7.pub"
[ "$(js get "$work/sftpdefault.json" mode)" = sftp ] && line_of sftpdefault.json | grep -q 'command="internal-sftp"' ||
	fixture_fail "[grant] mode = sftp did not apply: $(line_of sftpdefault.json)"
fixture_pass "[grant] mode = sftp applies when the request says nothing"
sl revoke --all >/dev/null 2>&1 || fixture_fail "revoke --all failed"

# --- from ---
write_config "$FIXTURE_SSHD_PORT" "$sshd_config"
reload
grant_ok far.json --from 10.0.0.0/8 "@$FIXTURE_DIR/k8.pub"
rc=0
fixture_ssh_login "$FIXTURE_DIR/k8" "$user" || rc=$?
[ "$rc" -eq 255 ] || fixture_fail "from=10.0.0.0/8: a login from 127.0.0.1 was not refused (ssh $rc)"
grant_ok near.json --from 192.0.2.0/24,127.0.0.0/8 "@$FIXTURE_DIR/k9.pub"
fixture_ssh_login "$FIXTURE_DIR/k9" "$user" || fixture_fail "from including 127.0.0.0/8: the login was refused"
sl revoke --all >/dev/null 2>&1 || fixture_fail "revoke --all failed"
write_config "$FIXTURE_SSHD_PORT" "$sshd_config" "from = 10.0.0.0/8"
reload
grant_ok fromdefault.json "@$FIXTURE_DIR/k8.pub"
[ "$(js get "$work/fromdefault.json" from)" = 10.0.0.0/8 ] ||
	fixture_fail "[grant] from did not apply: $(cat "$work/fromdefault.json")"
rc=0
fixture_ssh_login "$FIXTURE_DIR/k8" "$user" || rc=$?
[ "$rc" -eq 255 ] || fixture_fail "[grant] from = 10.0.0.0/8: a login from 127.0.0.1 was not refused (ssh $rc)"
fixture_pass "from: excluded 127.0.0.1 is refused, included is let in; [grant] from applies by default"
sl revoke --all >/dev/null 2>&1 || fixture_fail "revoke --all failed"

# --- doctor's checks before a grant, and --force ---
snapshot() {
	cp "$ak" "$work/ak.saved"
	cp "$state" "$work/state.saved"
	audit_size=$(stat -c %s "$DAEMON_AUDIT")
}

# Refused with the check quoted, nothing changed, audited; then --force
# grants it, and the grant's audit record says so.
blocked() { # what check message-regex fix-regex key grant-args...
	local what=$1 check=$2 message=$3 fix=$4 key=$5 rc=0
	shift 5
	snapshot
	sl grant --yes --user "$user" --for 1h "$@" "@$FIXTURE_DIR/$key.pub" >"$work/out" 2>"$work/err" || rc=$?
	[ "$rc" -eq 3 ] || fixture_fail "$what: exit $rc, expected 3: $(head -c 400 "$work/err")"
	grep -q "doctor check $check" "$work/err" && grep -Eq "$message" "$work/err" &&
		grep -Eq "$fix" "$work/err" && grep -q -- '--force' "$work/err" ||
		fixture_fail "$what: the refusal does not quote the check, its finding and fix: $(head -c 600 "$work/err")"
	cmp -s "$work/ak.saved" "$ak" && cmp -s "$work/state.saved" "$state" ||
		fixture_fail "$what: a refused grant changed authorized_keys or the state"
	tail -c +"$((audit_size + 1))" "$DAEMON_AUDIT" >"$work/audit.new"
	[ "$(wc -l <"$work/audit.new")" -eq 1 ] && grep -q "\"event\":\"refuse\".*doctor check $check" "$work/audit.new" ||
		fixture_fail "$what: the refusal was not audited: $(head -c 400 "$work/audit.new")"
	sl grant --yes --force --json --user "$user" --for 1h "$@" "@$FIXTURE_DIR/$key.pub" \
		>"$work/forced.json" 2>"$work/err" ||
		fixture_fail "$what: --force was refused: $(head -c 400 "$work/err")"
	line_of forced.json >/dev/null || fixture_fail "$what: --force wrote no line"
	grep "\"event\":\"grant\",\"id\":\"$(js get "$work/forced.json" id)\"" "$DAEMON_AUDIT" |
		grep -q "\"reason\":\"granted with --force although sshd would not let the key in: .*(doctor check $check)\"" ||
		fixture_fail "$what: the forced grant's audit record does not name the override: $(tail -n 1 "$DAEMON_AUDIT")"
	fixture_pass "refused, then forced: $what"
}

usermod -p '!' "$user" || fixture_fail "usermod -p '!' failed"
blocked "a locked account with UsePAM no" account 'is locked' 'usermod -p' k1
rc=0
fixture_ssh_login "$FIXTURE_DIR/k1" "$user" || rc=$?
[ "$rc" -eq 255 ] || fixture_fail "the locked account's forced key logged in (ssh $rc): doctor was wrong"
usermod -p '*' "$user" || fixture_fail "usermod -p '*' failed"
sl revoke --all >/dev/null 2>&1 || fixture_fail "revoke --all failed"

sed 's/^PubkeyAuthentication yes$/PubkeyAuthentication no/' "$sshd_config" >"$work/nopubkey_config"
grep -q '^PubkeyAuthentication no$' "$work/nopubkey_config" || fixture_fail "sed: PubkeyAuthentication"
write_config "$FIXTURE_SSHD_PORT" "$work/nopubkey_config"
reload
blocked "PubkeyAuthentication no" pubkey-authentication 'PubkeyAuthentication' 'sshd_config' k2
sl revoke --all >/dev/null 2>&1 || fixture_fail "revoke --all failed"

sed '/^Subsystem/d' "$sshd_config" >"$work/nosftp_config"
write_config "$FIXTURE_SSHD_PORT" "$work/nosftp_config"
reload
blocked "SFTP without a Subsystem sftp" sftp-subsystem 'no Subsystem sftp' 'Subsystem sftp internal-sftp' k3 --sftp-only
grant_ok shellnosftp.json "@$FIXTURE_DIR/k4.pub"
fixture_pass "a shell grant is not blocked by a missing Subsystem sftp"
sl revoke --all >/dev/null 2>&1 || fixture_fail "revoke --all failed"

# AllowUsers, with the real sshd running that configuration.
fixture_sshd_stop
fixture_sshd_start "${host_keys[@]}" "AllowUsers nobody-else"
write_config "$FIXTURE_SSHD_PORT" "$sshd_config"
reload
blocked "AllowUsers without the account" user-allowed 'AllowUsers' 'Add the account to AllowUsers' k5
rc=0
fixture_ssh_login "$FIXTURE_DIR/k5" "$user" || rc=$?
[ "$rc" -eq 255 ] || fixture_fail "AllowUsers: the forced key logged in (ssh $rc): doctor was wrong"
grep -q "not allowed because not listed in AllowUsers" "$FIXTURE_SSHD_LOG" ||
	fixture_fail "sshd did not refuse the login for AllowUsers"

sl audit --verify >/dev/null 2>"$work/err" || fixture_fail "the audit chain is broken: $(cat "$work/err")"
daemon_stop
fixture_pass "the audit chain is intact"
