#!/bin/bash
# Footholds (DESIGN.md §13) against a real sshd: what a grant's login
# leaves behind besides keys (a crontab, an at job, a user unit, systemd
# linger) is reported when the session ends (audit "foothold", journal,
# show) and never undone; what the account had before the grant, and what
# does not change, is never reported; each change is reported once. The
# grant's end report sums it up, with report_changes = yes also the home's
# changed files.
#
# usage: test-daemon-footholds.sh SSHLEASED SSHLEASE
# Needs root, openssh-server, openssh-client, passwd, cron (crontab).

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh ssh-keygen useradd userdel crontab
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user slfh
user=$FIXTURE_USER
home=$FIXTURE_HOME
linger=/var/lib/systemd/linger/$user
fixture_on_exit "crontab -r -u '$user' 2>/dev/null; rm -f '$linger'"
fixture_keygen support
work=$FIXTURE_DIR/work
mkdir -p "$work"

# The owner's own crontab, from before any grant: never reported.
printf '17 3 * * * /bin/true # the owner\n' | crontab -u "$user" - ||
	fixture_fail "cannot give $user a crontab"

log=$FIXTURE_DIR/sshd.log
fixture_sshd_start_elog "$log"
daemon_config_write "[grant]" "users = $user" "[sshd]" "log = $log"
daemon_start

grant() { # args...
	local rc=0
	sl grant --yes --json --user "$user" "$@" "@$FIXTURE_DIR/support.pub" >"$work/grant.json" 2>"$work/grant.err" || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "grant $*: exit $rc: $(head -c 400 "$work/grant.err")"
	G_ID=$(json_field "$work/grant.json" id)
}
run() { # command: through the grant's key
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityAgent=none -o LogLevel=ERROR -i "$FIXTURE_DIR/support" \
		-p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" "$1" </dev/null
}
footholds() { # id: the items of its foothold records, one per line, sorted
	grep '"event":"foothold"' "$DAEMON_AUDIT" | grep -F "\"id\":\"$1\"" |
		sed -n 's/.*"reason":"\([^"]*\) of .*/\1/p' | sort
}
session_ended() { # id count
	[ "$(grep '"event":"session_end"' "$DAEMON_AUDIT" | grep -cF "\"id\":\"$1\"")" -ge "$2" ]
}

# --- a login that changes nothing: nothing is reported ---
grant --for 10m
id=$G_ID
run 'ls -la >/dev/null' || fixture_fail "the grant's login failed"
fixture_wait_for "the end of the first session" session_ended "$id" 1
sleep 0.5
[ -z "$(footholds "$id")" ] || fixture_fail "footholds reported for a login that changed none: $(footholds "$id")"
fixture_pass "a login that changes nothing reports no foothold (the owner's crontab from before is not one)"

# --- during a login, a crontab line, an at job and a user unit appear:
#     each is reported when the session ends, and none is undone. The
#     login writes the unit itself; crontab(1) and at(1) need the account
#     in /etc/passwd readable to it, which a test host may not give, so
#     root adds the crontab line with crontab -u and the job file as at(1)
#     leaves it (the account's, in its spool) while the login is open ---
atjob=/var/spool/cron/atjobs/a0f0f0$(printf '%08x' $(($(date +%s) / 60 + 60)))
fixture_on_exit "rm -f '$atjob'"
ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
	-o IdentitiesOnly=yes -o IdentityAgent=none -o LogLevel=ERROR -i "$FIXTURE_DIR/support" \
	-p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" \
	"mkdir -p .config/systemd/user && printf '[Service]\nExecStart=/bin/true\n' >.config/systemd/user/planted.service &&
	echo in && while [ ! -e go ]; do sleep 0.1; done" </dev/null >"$work/login.out" 2>&1 &
client=$!
fixture_wait_for "the planting login" grep -q '^in$' "$work/login.out"
{ crontab -l -u "$user"; echo '*/5 * * * * /bin/true # planted'; } | crontab -u "$user" - ||
	fixture_fail "crontab -u $user failed"
install -d /var/spool/cron/atjobs
printf '#!/bin/sh\n/bin/true\n' | install -o "$user" -g daemon -m 0700 /dev/stdin "$atjob" ||
	fixture_fail "cannot write $atjob"
touch "$home/go"
wait "$client" || fixture_fail "the planting login failed: $(cat "$work/login.out")"
fixture_wait_for "the end of the second session" session_ended "$id" 2
fixture_wait_for "three foothold records" bash -c "[ \$(grep -c '\"event\":\"foothold\"' '$DAEMON_AUDIT') -ge 3 ]"
expected=$(printf '%s\n' "the at jobs" "the crontab" "~/.config/systemd/user")
[ "$(footholds "$id")" = "$expected" ] ||
	fixture_fail "expected foothold records of the crontab, the at jobs and the user units, got: $(footholds "$id")"
grep '"event":"foothold"' "$DAEMON_AUDIT" | grep -F "\"id\":\"$id\"" | grep -q "crontab -l -u $user" ||
	fixture_fail "the crontab's record does not say how to look at it"
grep -q "the crontab of $user changed during grant $id" "$DAEMON_LOG" || fixture_fail "no journal warning for the crontab"
crontab -l -u "$user" | grep -q '# planted' || fixture_fail "the planted crontab line was undone"
crontab -l -u "$user" | grep -q '# the owner' || fixture_fail "the owner's crontab line is gone"
sl show "$id" >"$work/show.out" || fixture_fail "show failed"
grep -q "footholds:.*the crontab changed since the grant began" "$work/show.out" ||
	fixture_fail "show does not list the crontab: $(cat "$work/show.out")"
sl show --json "$id" | grep -q '"footholds":\["crontab","at","user_units"\]' ||
	fixture_fail "show --json does not list the footholds: $(sl show --json "$id")"
fixture_pass "a crontab line, an at job and a user unit planted in a session are reported at its end, not undone"

# --- linger turned on (as loginctl enable-linger does) during the grant:
#     reported when the grant ends; nothing is reported twice ---
mkdir -p /var/lib/systemd/linger
touch "$linger"
sl revoke "$id" >/dev/null || fixture_fail "revoke failed"
expected=$(printf '%s\n' "systemd linger" "the at jobs" "the crontab" "~/.config/systemd/user" | sort)
[ "$(footholds "$id")" = "$expected" ] ||
	fixture_fail "expected one record each, linger added at the end, got: $(footholds "$id")"
[ -e "$linger" ] || fixture_fail "linger was undone"
fixture_pass "linger turned on is reported when the grant ends; each foothold once"

# --- the end report, in the end record and its journal sentence; show ID
#     prints it for the grant that has ended ---
report=$(grep '"report":' "$DAEMON_AUDIT" | grep -F "\"id\":\"$id\"")
[ "$(printf '%s\n' "$report" | grep -c .)" -eq 1 ] && printf '%s' "$report" | grep -q '"event":"revoke"' ||
	fixture_fail "expected one record of $id with a report, its revoke: $report"
printf '%s' "$report" | grep -qF '"report":"2 sessions, ' ||
	fixture_fail "the report does not count the two sessions: $report"
printf '%s' "$report" | grep -qF "from 127.0.0.1; no key added; footholds: the crontab, the at jobs, systemd linger, ~/.config/systemd/user" ||
	fixture_fail "the report does not name the address and the footholds: $report"
grep "$id" "$DAEMON_LOG" | grep -q "): 2 sessions, .* footholds: the crontab" ||
	fixture_fail "no journal sentence summing up $id: $(grep "$id" "$DAEMON_LOG" | tail -n 2)"
sl show "$id" >"$work/show.out" 2>&1 || fixture_fail "show of the ended grant failed: $(cat "$work/show.out")"
grep -q "Grant $id has ended" "$work/show.out" && grep -q "report:.*2 sessions" "$work/show.out" ||
	fixture_fail "show of the ended grant does not print its report: $(cat "$work/show.out")"
sl show --json "$id" | grep -q '"event":"revoke",.*"report":"2 sessions' || fixture_fail "show --json of the ended grant: $(sl show --json "$id")"
rc=0
sl show 0123456789ab >/dev/null 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "show of a grant that never was: exit $rc, expected 3"
fixture_pass "a grant's end is summed up in one record and sentence, and show prints it afterwards"

# --- a new grant starts from what is there now: nothing to report ---
grant --for 10m
id2=$G_ID
run true || fixture_fail "the new grant's login failed"
fixture_wait_for "the end of the new grant's session" session_ended "$id2" 1
sl revoke "$id2" >/dev/null || fixture_fail "revoke failed"
[ -z "$(footholds "$id2")" ] || fixture_fail "a new grant reported what was there before it: $(footholds "$id2")"
fixture_pass "a new grant's start includes what earlier grants left: nothing is reported again"

# --- [grant] report_changes = yes: the report counts and names the home's
#     files changed during the grant (not the key files sshlease writes) ---
grep -q "files of the home" "$DAEMON_AUDIT" && fixture_fail "report_changes = no counted files"
daemon_stop
daemon_config_write "[grant]" "users = $user" "report_changes = yes" "[sshd]" "log = $log"
daemon_start
sleep 1 # what the grants before changed is older than this one
grant --for 10m
id3=$G_ID
run 'mkdir -p shop && echo x >shop/app.php && echo y >notes.txt' || fixture_fail "the login failed"
fixture_wait_for "the end of the changing session" session_ended "$id3" 1
sl revoke "$id3" >/dev/null || fixture_fail "revoke failed"
report=$(grep '"report":' "$DAEMON_AUDIT" | grep -F "\"id\":\"$id3\"")
printf '%s' "$report" | grep -qF '2 files of the home changed during the grant: notes.txt, shop/app.php"' ||
	fixture_fail "the report does not name the two files changed: $report"
fixture_pass "report_changes = yes counts and names the home's files changed during the grant"
daemon_stop
