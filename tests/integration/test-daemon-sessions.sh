#!/bin/bash
# Sessions of grants against a real sshd (DESIGN.md §13): the real
# sshleased follows the fixture sshd's -E log (LogLevel INFO or VERBOSE). A login with
# a grant's key is recorded (session_start, session_end) and shown by list
# and show; when the grant ends (revoke ID, revoke --user U --all,
# revoke --all, the deadline) every open connection made with its key is
# closed: a shell, a command, an sftp session and a ControlMaster master,
# which then runs no new command. The owner's own login to the same account
# (its own key) is never touched. Sessions survive a restart; a grant that
# expired while the daemon was down has its sessions ended before the
# daemon answers; a stored session whose pid is now another process's is
# not signalled. Without systemd (this host), a process the login detached
# is named in a leftovers record at the grant's end.
#
# At LogLevel VERBOSE, sshd also says what each session runs: the session
# records then name it (shell, command, sftp); at INFO they name none.
#
# usage: test-daemon-sessions.sh SSHLEASED SSHLEASE PYTHON3 [USEPAM [LOGLEVEL]]
# USEPAM: sshd's UsePAM, no (the default) or yes; LOGLEVEL: INFO (the
# default) or VERBOSE.
# Needs root, openssh-server, openssh-client (ssh, sftp, ssh-keygen), passwd.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh sftp ssh-keygen useradd usermod userdel
python=${3:-}
pam=${4:-no}
level=${5:-INFO}
[ -x "$python" ] && { [ "$pam" = no ] || [ "$pam" = yes ]; } &&
	{ [ "$level" = INFO ] || [ "$level" = VERBOSE ]; } ||
	fixture_fail "usage: $0 SSHLEASED SSHLEASE PYTHON3 [no|yes [INFO|VERBOSE]]"
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user slss
user=$FIXTURE_USER
home=$FIXTURE_HOME
fixture_keygen support
fixture_keygen owner
fixture_keygen second
support=$FIXTURE_DIR/support
second=$FIXTURE_DIR/second
owner=$FIXTURE_DIR/owner
install -d -o "$user" -g "$(id -g "$user")" -m 0700 "$home/.ssh"
install -o "$user" -g "$(id -g "$user")" -m 0600 "$owner.pub" "$home/.ssh/authorized_keys"
work=$FIXTURE_DIR/work
mkdir -p "$work"

# sshd at its default LogLevel INFO (or VERBOSE), its log in a file of root's.
fixture_log "UsePAM $pam, LogLevel $level"
log=$FIXTURE_DIR/sshd-info.log
fixture_sshd_start_elog "$log" -o "LogLevel=$level" -o "UsePAM=$pam"
daemon_config_write "[grant]" "users = $user" "[sshd]" "log = $log"
daemon_start

ssh_opts() { # key
	printf '%s\n' -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes \
		-o IdentityAgent=none -o PreferredAuthentications=publickey \
		-o ConnectTimeout=5 -o LogLevel=ERROR -p "$FIXTURE_SSHD_PORT" -i "$1"
}
mapfile -t ssh_support < <(ssh_opts "$support")
mapfile -t ssh_owner < <(ssh_opts "$owner")


# Audit records of one event of one grant.
records() { # event id
	grep "\"event\":\"$1\",\"id\":\"$2\"" "$DAEMON_AUDIT" || true
}
count_records() { # event id
	records "$1" "$2" | wc -l
}
at_least() { # n event id
	[ "$(count_records "$2" "$3")" -ge "$1" ]
}

# Grant a key ($KEY, the support key by default); sets G_ID and G_EXPIRES.
KEY=$support
grant() { # args...
	local rc=0
	sl grant --yes --json --user "$user" "$@" "@$KEY.pub" >"$work/grant.json" \
		2>"$work/grant.err" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "grant $*: exit $rc: $(head -c 400 "$work/grant.err")"
	G_ID=$(json_field "$work/grant.json" id)
	G_EXPIRES=$(json_field "$work/grant.json" expires_unix)
	[[ $G_ID =~ ^[0-9a-f]{12}$ ]] || fixture_fail "grant: no id in $(head -c 400 "$work/grant.json")"
}

# The show --json of a grant, through python: "PORT PID" per open session.
sessions_of() { # id
	sl show --json "$1" >"$work/show.json" || fixture_fail "show $1 failed"
	"$python" -c '
import json, sys
g = json.load(open(sys.argv[1]))
for s in g["sessions"]:
    print(s["port"], s["pid"])
' "$work/show.json"
}
open_count() { # id
	sessions_of "$1" | wc -l
}
has_sessions() { # id n
	[ "$(open_count "$1")" -eq "$2" ]
}

# A monitor pid is a root-owned "sshd: USER [priv]".
check_monitor() { # pid
	local title
	[ "$(stat -c %u "/proc/$1" 2>/dev/null)" = 0 ] || fixture_fail "monitor $1 is not a root process"
	title=$(tr '\0' '\n' <"/proc/$1/cmdline" | head -n 1)
	[ "$title" = "sshd: $user [priv]" ] || fixture_fail "monitor $1 is titled '$title'"
}

gone() { # pid
	! kill -0 "$1" 2>/dev/null
}

# --- a command that ends by itself: on record, start and end ---
grant --for 10m --ticket T-1
a=$G_ID
out=$(ssh "${ssh_support[@]}" "$user@127.0.0.1" 'echo command-ran' </dev/null 2>"$work/ssh.err") ||
	fixture_fail "command login failed: $(cat "$work/ssh.err")"
[ "$out" = command-ran ] || fixture_fail "command printed '$out'"
fixture_wait_for "session_start of $a" at_least 1 session_start "$a"
fixture_wait_for "session_end of $a" at_least 1 session_end "$a"
rec=$(records session_start "$a")
[[ $rec == *'"user":"'"$user"'"'*'"address":"127.0.0.1","port":'[0-9]*',"pid":'[0-9]*',"since":"'* ]] ||
	[[ $rec == *'"address":"127.0.0.1","port":'[0-9]*',"since":"'* ]] ||
	fixture_fail "session_start record lacks address, port or since: $rec"
rec=$(records session_end "$a")
[[ $rec == *'"duration":'[0-9]*',"prev"'* ]] || fixture_fail "session_end record lacks duration: $rec"
grep -q "logged in to $user from 127.0.0.1 port [0-9]* (.*grant $a" "$DAEMON_LOG" ||
	fixture_fail "no 'logged in' sentence in the daemon's log"
has_sessions "$a" 0 || fixture_fail "a finished command is still an open session"
fixture_pass "a command login is on record, start and end"

# --- four at once: shell, command, sftp, ControlMaster; the owner's too ---
mkfifo "$work/shell-in" "$work/sftp-in"
ssh "${ssh_support[@]}" -tt "$user@127.0.0.1" <"$work/shell-in" >"$work/shell.out" 2>&1 &
shell=$!
exec 5>"$work/shell-in"
ssh "${ssh_support[@]}" "$user@127.0.0.1" 'sleep 301' </dev/null >/dev/null 2>&1 &
command=$!
sftp -b - "${ssh_support[@]/#-p/-P}" "$user@127.0.0.1" <"$work/sftp-in" >/dev/null 2>&1 &
sftp=$!
exec 6>"$work/sftp-in"
sock=$work/cm
ssh "${ssh_support[@]}" -o ControlMaster=yes -o ControlPersist=yes -S "$sock" \
	"$user@127.0.0.1" true </dev/null 2>"$work/ssh.err" ||
	fixture_fail "ControlMaster login failed: $(cat "$work/ssh.err")"
fixture_on_exit "ssh -S '$sock' -O exit x 2>/dev/null"
ssh "${ssh_owner[@]}" "$user@127.0.0.1" 'sleep 300' </dev/null >/dev/null 2>&1 &
owner_client=$!
fixture_on_exit "kill $owner_client 2>/dev/null"
fixture_wait_for "four open sessions of $a" has_sessions "$a" 4
mux=(-F /dev/null -o BatchMode=yes -o PubkeyAuthentication=no -o IdentityAgent=none
	-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
	-S "$sock" -p "$FIXTURE_SSHD_PORT")
out=$(ssh "${mux[@]}" "$user@127.0.0.1" 'echo via-master' </dev/null 2>"$work/ssh.err") ||
	fixture_fail "a command through the master failed: $(cat "$work/ssh.err")"
[ "$out" = via-master ] || fixture_fail "through the master: '$out'"
mapfile -t monitors < <(sessions_of "$a" | cut -d' ' -f2)
for m in "${monitors[@]}"; do check_monitor "$m"; done
# The owner logged in with its own key: no session of the grant. Wait for
# its login to be in the log before counting.
fixture_wait_for "the owner's login in sshd's log" grep -q "Accepted publickey for $user .*$(ssh-keygen -l -E sha256 -f "$owner.pub" | awk '{ print $2 }')" "$log"
sleep 0.3
[ "$(open_count "$a")" -eq 4 ] || fixture_fail "the owner's login became a session of the grant"
[ "$(count_records session_start "$a")" -eq 5 ] ||
	fixture_fail "expected 5 session_start records of $a, found $(count_records session_start "$a")"
# list: the open sessions and a last login.
sl list --json >"$work/list.json" || fixture_fail "list --json failed"
"$python" -c '
import json, sys
g = [g for g in json.load(open(sys.argv[1])) if g["id"] == sys.argv[2]][0]
assert g["open_sessions"] == 4, g
assert g["last_login"], g
' "$work/list.json" "$a" || fixture_fail "list --json: $(cat "$work/list.json")"
sl list >"$work/list.txt" || fixture_fail "list failed"
grep -q "SESSIONS  LAST LOGIN" "$work/list.txt" || fixture_fail "list: no SESSIONS column: $(cat "$work/list.txt")"
grep -Eq "^$a .* 4 +[0-9]{4}-" "$work/list.txt" || fixture_fail "list: $a without 4 sessions: $(cat "$work/list.txt")"
sl show "$a" >"$work/show.txt" || fixture_fail "show failed"
[ "$(grep -c "127.0.0.1 port [0-9]* since .*, sshd pid [0-9]*" "$work/show.txt")" -eq 4 ] ||
	fixture_fail "show: not 4 session lines: $(cat "$work/show.txt")"
fixture_pass "shell, command, sftp and ControlMaster sessions open, listed and shown; the owner's login is not the grant's"

# --- revoke ID ends all four, leaves the owner's ---
start_ns=$(now_ns)
sl revoke "$a" >/dev/null 2>"$work/revoke.err" || fixture_fail "revoke failed: $(cat "$work/revoke.err")"
for m in "${monitors[@]}"; do fixture_wait_for "monitor $m to exit" gone "$m"; done
end_ms=$((($(now_ns) - start_ns) / 1000000))
(trap '' PIPE; echo ls >&6) 2>/dev/null || true
for c in "$shell" "$command" "$sftp"; do fixture_wait_for "client $c to exit" gone "$c"; done
exec 5>&- 6>&-
fixture_wait_for "the master to stop answering" bash -c "! ssh -S '$sock' -O check x 2>/dev/null"
rc=0
out=$(ssh "${mux[@]}" "$user@127.0.0.1" 'echo via-master-again' </dev/null 2>/dev/null) || rc=$?
[ "$rc" -ne 0 ] && [ -z "$out" ] ||
	fixture_fail "after revoke the master still ran a command (exit $rc, '$out')"
kill -0 "$owner_client" 2>/dev/null || fixture_fail "the owner's session ended with the grant"
[ "$(records session_end "$a" | grep -c '"reason":"grant ended"')" -eq 4 ] ||
	fixture_fail "expected 4 session_end records 'grant ended': $(records session_end "$a")"
ends=$(records session_end "$a" | grep '"reason":"grant ended"')
if [ "$level" = VERBOSE ]; then
	for kind in shell command sftp; do
		grep -q "\"kind\":\"[a-z,]*$kind" <<<"$ends" ||
			fixture_fail "no session_end record of $a with kind $kind: $ends"
	done
	grep -q "ended after [0-9].* (shell)" "$DAEMON_LOG" ||
		fixture_fail "the journal sentence of the shell session does not name its kind"
else
	grep -q '"kind"' <<<"$ends" && fixture_fail "at INFO sshd says no kind, yet a record names one: $ends"
fi
fixture_log "revoke: every monitor gone ${end_ms} ms after the revoke began"
fixture_pass "revoke closes shell, command, sftp and the ControlMaster; the owner's session stays"

# A background login with $KEY; waits for its session of id.
login_bg() { # id
	local before opts
	before=$(open_count "$1")
	mapfile -t opts < <(ssh_opts "$KEY")
	ssh "${opts[@]}" "$user@127.0.0.1" 'sleep 301' </dev/null >/dev/null 2>&1 &
	BG=$!
	fixture_on_exit "kill $BG 2>/dev/null"
	fixture_wait_for "a new session of $1" has_sessions "$1" $((before + 1))
	BG_MONITOR=$(sessions_of "$1" | tail -n 1 | cut -d' ' -f2)
	check_monitor "$BG_MONITOR"
}

# --- the deadline ends the session (12 s: a login on a busy machine may
#     take a few, and must be seen before the deadline) ---
grant --for 12s
b=$G_ID
login_bg "$b"
client=$BG monitor=$BG_MONITOR
for ((i = 0; i < 40; i++)); do
	kill -0 "$client" 2>/dev/null || break
	sleep 0.5
done
kill -0 "$client" 2>/dev/null && fixture_fail "the client of $b still runs 20 s after its login"
gone "$monitor" || fixture_fail "the monitor of $b outlived its deadline"
late_ms=$((($(now_ns) - G_EXPIRES * 1000000000) / 1000000))
[ "$late_ms" -lt 3000 ] || fixture_fail "the session of $b ended ${late_ms} ms after its deadline"
at_least 1 expire "$b" || fixture_fail "no expire record of $b"
records session_end "$b" | grep -q '"reason":"grant ended"' || fixture_fail "no session_end of $b"
fixture_pass "the deadline ends the grant's session (${late_ms} ms after it, counting the wait's step)"

# --- sessions survive a restart; a grant that expired meanwhile ends them
#     before the daemon answers; a stored pid that is another process's is
#     not signalled ---
grant --for 10m
c=$G_ID
login_bg "$c"
kept_client=$BG kept_monitor=$BG_MONITOR
KEY=$second
grant --for 8s
e=$G_ID
login_bg "$e"
late_client=$BG late_monitor=$BG_MONITOR
KEY=$support
daemon_stop
sleep 300 &
bystander=$!
fixture_on_exit "kill $bystander 2>/dev/null"
"$python" -c '
import json, sys
path, grant, user, pid = sys.argv[1:]
state = json.load(open(path))
state["sessions"].append({"grant": grant, "user": user, "address": "127.0.0.1",
                          "port": 9, "since": 1796000000, "pid": int(pid),
                          "pid_start": 1})
json.dump(state, open(path, "w"))
' "$DAEMON_STATE/state.json" "$c" "$user" "$bystander" || fixture_fail "cannot edit state.json"
fixture_wait_for "the deadline of $e to pass" bash -c "[ \$(date +%s) -gt $((G_EXPIRES + 1)) ]"
kill -0 "$late_client" 2>/dev/null || fixture_fail "the session of $e ended before the daemon started"
daemon_start
records session_end "$e" | grep -q '"reason":"grant ended"' ||
	fixture_fail "the daemon answered before the session of $e, expired while it was down, was ended"
fixture_wait_for "the monitor of $e to exit" gone "$late_monitor"
fixture_wait_for "the client of $e to exit" gone "$late_client"
kill -0 "$bystander" 2>/dev/null || fixture_fail "the process at a stored session's pid was signalled"
records session_end "$c" | grep -q '"port":9,.*"reason"\|"reason":"the connection ended while sshleased was not running"' ||
	fixture_fail "the stale stored session of $c was not recorded as ended: $(records session_end "$c")"
[ "$(sessions_of "$c")" = "$(sessions_of "$c" | head -n 1)" ] && has_sessions "$c" 1 ||
	fixture_fail "after the restart $c has not exactly its one real session: $(sessions_of "$c")"
[ "$(sessions_of "$c" | cut -d' ' -f2)" = "$kept_monitor" ] ||
	fixture_fail "after the restart the session of $c has another monitor"
fixture_pass "restart: sessions kept, those of a grant expired meanwhile ended before serving, a reused pid left alone"

# --- revoke --user U --all ends the session resumed after the restart ---
sl revoke --user "$user" --all >/dev/null 2>"$work/revoke.err" ||
	fixture_fail "revoke --user --all failed: $(cat "$work/revoke.err")"
fixture_wait_for "the resumed session's monitor to exit" gone "$kept_monitor"
fixture_wait_for "the resumed session's client to exit" gone "$kept_client"
fixture_pass "revoke --user --all ends a session watched again after a restart"

# --- revoke --all ---
grant --for 10m
f=$G_ID
login_bg "$f"
sl revoke --all >/dev/null 2>"$work/revoke.err" || fixture_fail "revoke --all failed: $(cat "$work/revoke.err")"
fixture_wait_for "the monitor to exit after revoke --all" gone "$BG_MONITOR"
fixture_wait_for "the client to exit after revoke --all" gone "$BG"
records session_end "$f" | grep -q '"reason":"grant ended"' || fixture_fail "no session_end of $f"
kill -0 "$owner_client" 2>/dev/null || fixture_fail "the owner's session ended with revoke --all"
fixture_pass "revoke --all ends the sessions; the owner's stays to the end"

# --- no systemd here: what a login left running is reported at the end,
#     not claimed ended (on a systemd host its scope ends it: the system
#     test) ---
# The earlier grants' commands (sleep 301) outlive their connections on
# this host, as reported then; they go first, so that the report of h is
# only what h's login left (the leftovers window reaches back a second
# when the login is over before its monitor is seen).
pkill -u "$user" -x -f 'sleep 301' || true
fixture_wait_for "the earlier grants' leftovers to exit" bash -c "! pgrep -u '$user' -x -f 'sleep 301' >/dev/null"
grant --for 10m
h=$G_ID
ssh "${ssh_support[@]}" "$user@127.0.0.1" 'setsid -f sleep 4242 </dev/null >/dev/null 2>&1' \
	</dev/null 2>"$work/ssh.err" || fixture_fail "login of $h failed: $(cat "$work/ssh.err")"
fixture_wait_for "the detached process" pgrep -u "$user" -fx 'sleep 4242'
left=$(pgrep -u "$user" -fx 'sleep 4242')
fixture_on_exit "kill $left 2>/dev/null"
fixture_wait_for "session_end of $h" at_least 1 session_end "$h"
sl revoke "$h" >/dev/null 2>"$work/revoke.err" || fixture_fail "revoke $h failed: $(cat "$work/revoke.err")"
fixture_wait_for "a leftovers record of $h" at_least 1 leftovers "$h"
rec=$(records leftovers "$h")
[[ $rec == *"1 process of $user started since the grant's first login still runs"*"$left sleep 4242"* ]] ||
	fixture_fail "the leftovers record does not name the process: $rec"
[[ $rec == *'sleep 300'* ]] && fixture_fail "the owner's process, started before the grant, is in the leftovers record: $rec"
grep -q "grant $h for $user has ended, but 1 process" "$DAEMON_LOG" ||
	fixture_fail "no journal sentence for the leftovers of $h"
kill -0 "$left" || fixture_fail "the leftover process was ended although the record says it runs"
fixture_wait_for "the scope of $h to leave state.json" bash -c "! grep -q '\"grant\":\"$h\"' '$DAEMON_STATE/state.json'"
fixture_pass "without systemd, a process the login detached is reported when the grant ends"

# --- a login whose log line is read only after its grant ended (sshd
#     accepted it just before the revoke): its connection is closed at once.
#     The daemon now follows a copy of sshd's log, written by the test ---
daemon_stop
copy=$FIXTURE_DIR/sshd-copy.log
: >"$copy"
chmod 0600 "$copy"
daemon_config_write "[grant]" "users = $user" "[sshd]" "log = $copy"
daemon_start
grant --for 10m
l=$G_ID
accepted() { grep -c "Accepted publickey for $user " "$log" || true; }
before=$(accepted)
ssh "${ssh_support[@]}" "$user@127.0.0.1" 'exec sleep 600' </dev/null >/dev/null 2>&1 &
late=$!
fixture_on_exit "kill $late 2>/dev/null"
fixture_wait_for "sshd to log the login of $l" bash -c "[ \$(grep -c 'Accepted publickey for $user ' '$log') -gt $before ]"
sl revoke "$l" >/dev/null 2>"$work/revoke.err" || fixture_fail "revoke $l failed: $(cat "$work/revoke.err")"
kill -0 "$late" 2>/dev/null || fixture_fail "the late login ended before its line was read"
grep "Accepted publickey for $user " "$log" | tail -n 1 >>"$copy"
fixture_wait_for "the client of the login seen after the end of $l to exit" gone "$late"
records session_end "$l" | grep -q 'came as the grant ended' ||
	fixture_fail "no session_end of the late login of $l: $(records session_end "$l")"
kill -0 "$owner_client" 2>/dev/null || fixture_fail "the owner's session ended with the late login"
fixture_pass "a login whose line is read after its grant ended is closed at once"

daemon_stop
