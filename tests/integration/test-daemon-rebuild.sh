#!/bin/bash
# The state and the audit log agree at start: with state.json lost, the
# live grants are rebuilt from the audit log (those whose line is still
# there; the others end as line-missing), so that no managed line stays
# without a grant that removes it and revoke works for it; after a kill -9
# that lost a grant's end record (its line removed and the state saved),
# the next start writes the end record, so that every grant record has an
# end record or a live grant.
#
# usage: test-daemon-rebuild.sh SSHLEASED SSHLEASE PYTHON
# Needs root, openssh-server, openssh-client, passwd, python3.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

python=${3:-python3}
fixture_require_root
fixture_require_cmd ssh ssh-keygen useradd userdel "$python"
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user slrb
user=$FIXTURE_USER
home=$FIXTURE_HOME
for k in a b c d e; do
	fixture_keygen "$k"
done
ak=$home/.ssh/authorized_keys
install -d -o "$user" -g "$(id -g "$user")" -m 0700 "$home/.ssh"
printf '# the owner\n' >"$ak"
chown "$user:$(id -g "$user")" "$ak"
chmod 0600 "$ak"
work=$FIXTURE_DIR/work
mkdir -p "$work"
state=$DAEMON_STATE/state.json

fixture_sshd_start
# No users list: the accounts to look at for orphaned lines come from the
# state alone, which is what is lost.
daemon_config_write "[grant]" "allow_root = no"
daemon_start

grant() { daemon_grant "$user" "$1"; } # key
blob() { awk '{print $2}' "$FIXTURE_DIR/$1.pub"; }
has_line() { grep -qF "$(blob "$1")" "$ak"; }
login() { # key: 0 when it gets in
	ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
		-o IdentitiesOnly=yes -o IdentityAgent=none -o PreferredAuthentications=publickey \
		-o ConnectTimeout=5 -o LogLevel=ERROR -i "$FIXTURE_DIR/$1" \
		-p "$FIXTURE_SSHD_PORT" "$user@127.0.0.1" true </dev/null 2>/dev/null
}
# Every grant record has an end record or is in the state.
all_on_record() {
	"$python" - "$DAEMON_AUDIT" "$state" <<'PY'
import json, sys
live = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event") == "grant":
        live[r["id"]] = True
    elif r.get("event") in ("revoke", "expire", "line-missing"):
        live.pop(r.get("id"), None)
state = {g["id"] for g in json.load(open(sys.argv[2])).get("grants", [])}
missing = sorted(set(live) - state)
if missing:
    print("grant records without an end record or a live grant: " + " ".join(missing))
    sys.exit(1)
PY
}

# --- state.json lost ---
grant a
id_a=$G_ID
grant b
id_b=$G_ID
grant c
id_c=$G_ID
sl revoke "$id_b" >/dev/null || fixture_fail "revoke $id_b failed"
daemon_stop
rm -f "$state"
# c's line goes by hand while the daemon is down.
grep -vF "$(blob c)" "$ak" >"$work/ak" && cat "$work/ak" >"$ak"
daemon_start
grep '"event":"state_rebuilt"' "$DAEMON_AUDIT" | grep -q "1 live grant rebuilt from the audit log, 1 ended" ||
	fixture_fail "no state_rebuilt record naming 1 rebuilt and 1 ended: $(grep state_rebuilt "$DAEMON_AUDIT" | head -c 300)"
grep '"event":"line-missing"' "$DAEMON_AUDIT" | grep -qF "\"id\":\"$id_c\"" ||
	fixture_fail "the grant whose line was gone did not end as line-missing"
sl list --json >"$work/list.json" || fixture_fail "list failed"
grep -qF "\"id\":\"$id_a\"" "$work/list.json" || fixture_fail "the live grant was not rebuilt: $(head -c 300 "$work/list.json")"
grep -qF "\"id\":\"$id_b\"" "$work/list.json" && fixture_fail "the revoked grant came back"
has_line a || fixture_fail "the rebuilt grant's line is gone"
login a || fixture_fail "the rebuilt grant's key does not log in"
sl revoke "$id_a" >"$work/out" 2>"$work/err" || fixture_fail "revoke of the rebuilt grant failed: $(head -c 300 "$work/err")"
has_line a && fixture_fail "the revoke of the rebuilt grant left its line"
login a && fixture_fail "the rebuilt grant's key still logs in after its revoke"
[ "$(head -n 1 "$ak")" = "# the owner" ] || fixture_fail "the owner's line is gone"
all_on_record || fixture_fail "after the rebuild, a grant record has no end"
fixture_pass "with state.json lost, the live grants are rebuilt from the audit log, the gone ones end on record, and revoke works"

# --- kill -9 with a grant ended in the state and the file but not on
#     record: the next start writes its end record ---
grant d
id_d=$G_ID
grant e
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
DAEMON_PID=
rm -f "$DAEMON_SOCKET"
# As if the daemon had removed d's line and saved the state, then died.
grep -vF "$(blob d)" "$ak" >"$work/ak" && cat "$work/ak" >"$ak"
"$python" - "$state" "$id_d" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["grants"] = [g for g in s["grants"] if g["id"] != sys.argv[2]]
json.dump(s, open(sys.argv[1], "w"))
PY
all_on_record && fixture_fail "the test did not lose an end record"
daemon_start
all_on_record || fixture_fail "after the start that followed the kill -9"
grep '"event":"line-missing"' "$DAEMON_AUDIT" | grep -F "\"id\":\"$id_d\"" | grep -q "written at the next start" ||
	fixture_fail "no end record for $id_d written at the start"
has_line e || fixture_fail "the live grant's line went at the start"
fixture_pass "after a kill -9 that lost an end record, the next start writes it: every grant record has an end or a live grant"
