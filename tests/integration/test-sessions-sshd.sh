#!/bin/bash
# Sessions against a real OpenSSH sshd at LogLevel INFO writing an -E file,
# with UsePAM no and yes (DESIGN.md §13): the log follower sees each key
# login ("Accepted publickey") as it happens, the parser names the account,
# the client's port and the key's fingerprint, and the finder names the
# connection's root-owned monitor ("sshd: USER [priv]"), found at once.
# SIGTERM to it ends a shell, a command, an sftp session and a
# ControlMaster master, after which the master runs no new command. A
# second login of the same account with another key (the owner's) is not
# found when asking for the first login's port, and survives its end.
#
# usage: test-sessions-sshd.sh SESSION_TOOL
# Needs root, openssh-server, openssh-client (ssh, sftp, ssh-keygen), passwd.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"

tool=${1:-}
[ -n "$tool" ] && [ -x "$tool" ] || fixture_fail "usage: $0 SESSION_TOOL"
fixture_require_root
fixture_require_cmd ssh sftp ssh-keygen useradd usermod userdel

fixture_init
fixture_add_user
user=$FIXTURE_USER
home=$FIXTURE_HOME
fixture_keygen support
fixture_keygen owner
support=$FIXTURE_DIR/support
owner=$FIXTURE_DIR/owner
fp_support=$(ssh-keygen -l -E sha256 -f "$support.pub" | awk '{ print $2 }')
fp_owner=$(ssh-keygen -l -E sha256 -f "$owner.pub" | awk '{ print $2 }')
install -d -o "$user" -g "$(id -g "$user")" -m 0700 "$home/.ssh"
cat "$support.pub" "$owner.pub" >"$home/.ssh/authorized_keys"
chown "$user:$(id -g "$user")" "$home/.ssh/authorized_keys"
chmod 0600 "$home/.ssh/authorized_keys"

work=$FIXTURE_DIR/work
mkdir -p "$work"
log=
events=
follower=

fail() { # message...
	if [ -n "$log" ] && [ -s "$log" ]; then
		echo "---- last 60 lines of the sshd -E log ----" >&2
		tail -n 60 "$log" >&2
	fi
	if [ -n "$events" ] && [ -s "$events" ]; then
		echo "---- events seen ----" >&2
		cat "$events" >&2
		cat "$events.err" >&2
	fi
	fixture_fail "$@"
}

ssh_opts() { # key
	printf '%s\n' -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no \
		-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes \
		-o IdentityAgent=none -o PreferredAuthentications=publickey \
		-o ConnectTimeout=5 -o LogLevel=ERROR -i "$1"
}

# Until a command succeeds, at most 10 s.
wait_for() { # what command...
	local what=$1 i
	shift
	for ((i = 0; i < 100; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	fail "waited 10 s for: $what"
}

# The next "accepted" event after the ones seen so far, with the key's
# fingerprint: sets port and monitor (as the follower found it at once).
seen=0
new_accepted() {
	tail -n +$((seen + 1)) "$events" | grep -q "^accepted "
}
next_accepted() { # fingerprint
	local fp=$1 line
	wait_for "an Accepted line with $fp" new_accepted
	line=$(tail -n +$((seen + 1)) "$events" | grep -m1 "^accepted ")
	seen=$(grep -n -m1 -F -- "$line" "$events" | cut -d: -f1)
	[[ $line == "accepted user=$user address=127.0.0.1 port="*" key=ED25519 fingerprint=$fp monitor="* ]] ||
		fail "unexpected accepted event: $line (wanted $user and $fp)"
	port=${line#* port=}
	port=${port%% *}
	monitor=${line##* monitor=}
	[[ $monitor =~ ^[0-9]+$ ]] ||
		fail "the monitor was not found when the Accepted line came: $line"
}

# The monitor pid is a root-owned "sshd: USER [priv]", and the finder
# names it again now.
check_monitor() { # pid port
	local pid=$1 p=$2 found title
	[ "$(stat -c %u "/proc/$pid")" = 0 ] || fail "monitor $pid is not root's"
	title=$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)
	[ "$title" = "sshd: $user [priv]" ] || fail "monitor $pid is titled '$title'"
	found=$("$tool" find 127.0.0.1 "$p" --user "$user" --local-port "$FIXTURE_SSHD_PORT") ||
		fail "find 127.0.0.1 $p failed"
	[ "$found" = "$pid" ] || fail "find 127.0.0.1 $p gave $found, the log's login had $pid"
}

# End the connection and check the monitor is gone and the client ended.
# With "poke", a command is written to the client's input (fd 5) first:
# sftp -b notices the lost connection only when it has something to send.
end_and_check() { # port monitor client_pid what [poke]
	local p=$1 mon=$2 client=$3 what=$4 ended rc=0
	ended=$("$tool" end 127.0.0.1 "$p" --user "$user") || fail "end $what failed"
	[ "$ended" = "$mon" ] || fail "end $what signalled $ended, not $mon"
	wait_for "monitor of $what to exit" bash -c "! kill -0 $mon 2>/dev/null"
	if [ "${5:-}" = poke ]; then
		(trap '' PIPE; echo ls >&5) 2>/dev/null || true
	fi
	wait_for "client of $what to exit" bash -c "! kill -0 $client 2>/dev/null"
	wait "$client" || rc=$?
	[ "$rc" -ne 0 ] || fail "the $what client exited 0 after its connection was ended"
	rc=0
	"$tool" find 127.0.0.1 "$p" >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 4 ] || fail "find after the end of $what: exit $rc, expected 4 (none)"
}

run_with() { # UsePAM value
	local pam=$1 wrapper rc client out sock sport smon oport omon sclient oclient
	log=$FIXTURE_DIR/sshd-info-$pam.log
	events=$work/events-$pam
	seen=0
	# LogLevel INFO, as sshd runs by default; -E writes the log to a
	# file (command-line options win over the fixture's config file).
	wrapper=$FIXTURE_DIR/sshd-info-$pam
	printf '#!/bin/sh\nexec /usr/sbin/sshd -o LogLevel=INFO -o UsePAM=%s -E %s "$@"\n' \
		"$pam" "$log" >"$wrapper"
	chmod 0700 "$wrapper"

	# Started before sshd: the file does not exist yet.
	"$tool" follow "$log" --find >"$events" 2>"$events.err" &
	follower=$!
	fixture_on_exit "kill $follower 2>/dev/null"
	FIXTURE_SSHD=$wrapper FIXTURE_SSHD_ELOG=$log fixture_sshd_start
	mapfile -t ssh_support < <(ssh_opts "$support")
	mapfile -t ssh_owner < <(ssh_opts "$owner")

	# A command that ends by itself: the Accepted line, then the end.
	out=$(ssh "${ssh_support[@]}" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" 'echo command-ran' \
		</dev/null 2>"$work/ssh.err") || fail "command login failed: $(cat "$work/ssh.err")"
	[ "$out" = command-ran ] || fail "command printed '$out'"
	next_accepted "$fp_support"
	wait_for "the Disconnected line of port $port" grep -q \
		"^disconnected user=$user address=127.0.0.1 port=$port end=disconnected$" "$events"

	# A shell with a terminal, its input held open by fd 5.
	mkfifo "$work/shell-in-$pam"
	ssh "${ssh_support[@]}" -tt -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" \
		<"$work/shell-in-$pam" >"$work/shell.out" 2>&1 &
	client=$!
	exec 5>"$work/shell-in-$pam"
	next_accepted "$fp_support"
	check_monitor "$monitor" "$port"
	end_and_check "$port" "$monitor" "$client" "shell (UsePAM $pam)"
	exec 5>&-

	# A long command.
	ssh "${ssh_support[@]}" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" 'sleep 300' \
		</dev/null >/dev/null 2>&1 &
	client=$!
	next_accepted "$fp_support"
	check_monitor "$monitor" "$port"
	end_and_check "$port" "$monitor" "$client" "command (UsePAM $pam)"

	# sftp, waiting for commands on fd 5.
	mkfifo "$work/sftp-in-$pam"
	sftp -b - "${ssh_support[@]}" -P "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" \
		<"$work/sftp-in-$pam" >/dev/null 2>&1 &
	client=$!
	exec 5>"$work/sftp-in-$pam"
	next_accepted "$fp_support"
	check_monitor "$monitor" "$port"
	end_and_check "$port" "$monitor" "$client" "sftp (UsePAM $pam)" poke
	exec 5>&-

	# A ControlMaster master: its channels go through one connection.
	sock=$work/cm-$pam
	ssh "${ssh_support[@]}" -o ControlMaster=yes -o ControlPersist=yes -S "$sock" \
		-p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" true </dev/null 2>"$work/ssh.err" ||
		fail "ControlMaster login failed: $(cat "$work/ssh.err")"
	fixture_on_exit "ssh -S '$sock' -O exit x 2>/dev/null"
	next_accepted "$fp_support"
	check_monitor "$monitor" "$port"
	# Without a key of its own: only the master can run this.
	mux=(-F /dev/null -o BatchMode=yes -o PubkeyAuthentication=no -o IdentityAgent=none
		-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
		-S "$sock" -p "$FIXTURE_SSHD_PORT")
	out=$(ssh "${mux[@]}" "$user@127.0.0.1" 'echo via-master' </dev/null 2>"$work/ssh.err") ||
		fail "a command through the master failed: $(cat "$work/ssh.err")"
	[ "$out" = via-master ] || fail "through the master: '$out'"
	smon=$monitor
	"$tool" end 127.0.0.1 "$port" --user "$user" >/dev/null || fail "end of the master failed"
	wait_for "the master's monitor to exit" bash -c "! kill -0 $smon 2>/dev/null"
	wait_for "the master to stop answering" bash -c \
		"! ssh -S '$sock' -O check x 2>/dev/null"
	rc=0
	out=$(ssh "${mux[@]}" "$user@127.0.0.1" 'echo via-master-again' </dev/null 2>/dev/null) || rc=$?
	[ "$rc" -ne 0 ] && [ -z "$out" ] ||
		fail "after the end the master still ran a command (exit $rc, '$out')"

	# The grantee and the owner at once, same account: ending the
	# grantee's connection leaves the owner's alone.
	ssh "${ssh_support[@]}" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" 'sleep 300' \
		</dev/null >/dev/null 2>&1 &
	sclient=$!
	next_accepted "$fp_support"
	sport=$port smon=$monitor
	ssh "${ssh_owner[@]}" -p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" 'sleep 300' \
		</dev/null >/dev/null 2>&1 &
	oclient=$!
	next_accepted "$fp_owner"
	oport=$port omon=$monitor
	[ "$smon" != "$omon" ] || fail "both logins have monitor $smon"
	check_monitor "$smon" "$sport"
	check_monitor "$omon" "$oport"
	end_and_check "$sport" "$smon" "$sclient" "the grantee's session (UsePAM $pam)"
	kill -0 "$omon" 2>/dev/null || fail "the owner's monitor $omon ended with the grantee's"
	kill -0 "$oclient" 2>/dev/null || fail "the owner's client ended with the grantee's session"
	check_monitor "$omon" "$oport"
	end_and_check "$oport" "$omon" "$oclient" "the owner's session (UsePAM $pam)"

	[ ! -s "$events.err" ] || fail "the follower complained: $(cat "$events.err")"
	fixture_sshd_stop
	kill "$follower" 2>/dev/null
	wait "$follower" 2>/dev/null
	fixture_pass "UsePAM $pam: logins seen, monitors found, shell, command, sftp and ControlMaster ended; the owner's session left alone"
}

run_with no
run_with yes
