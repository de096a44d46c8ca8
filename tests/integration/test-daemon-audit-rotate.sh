#!/bin/bash
# The audit log rotates at audit_rotate_size with one chain through every
# file: each new file's first record (audit_rotated) continues the old
# file's last; sshlease audit lists every record across the files, show
# finds an ended grant whose records are in an older file, audit --verify
# checks the whole chain and names the file and line of a break, a lost
# state is rebuilt from a grant record in a rotated file, and a rotation
# cut short (the full file moved, no new file yet) is finished at start.
#
# usage: test-daemon-audit-rotate.sh SSHLEASED SSHLEASE
# Needs root, openssh-client (ssh-keygen), passwd.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

fixture_require_root
fixture_require_cmd ssh-keygen useradd userdel
fixture_init
daemon_init "${1:-}" "${2:-}"

fixture_add_user slrot
user=$FIXTURE_USER
for k in a b; do
	fixture_keygen "$k"
done
work=$FIXTURE_DIR/work
mkdir -p "$work"
log=$DAEMON_AUDIT
name=$(basename "$log")

daemon_config_write "audit_rotate_size = 4K" "[grant]" "users = $user"
daemon_start

grant() { daemon_grant "$user" "$1"; } # key
rotated() { # the rotated files, oldest first
	find "$(dirname "$log")" -maxdepth 1 -name "$name.[1-9]*" -printf '%f\n' |
		sed "s/^$name\.//" | sort -n | sed "s|^|$log.|"
}
all_lines() { cat $(rotated) "$log" | wc -l; }

grant a
id_a=$G_ID
grant b
id_first=$G_ID
sl revoke "$id_first" >/dev/null || fixture_fail "revoke $id_first failed"
for ((i = 0; i < 24; i++)); do
	grant b
	sl revoke "$G_ID" >/dev/null || fixture_fail "revoke $G_ID failed"
done

# --- the files: named after their last seq, each continued by the next ---
mapfile -t files < <(rotated)
[ "${#files[@]}" -ge 3 ] || fixture_fail "expected at least 3 rotated files at 4K, found ${#files[@]}: $(ls "$(dirname "$log")")"
for f in "${files[@]}" "$log"; do
	[ "$(stat -c %a "$f")" = 640 ] || fixture_fail "$f has mode $(stat -c %a "$f")"
done
prev=
for f in "${files[@]}" "$log"; do
	if [ -n "$prev" ]; then
		last_seq=$(tail -n 1 "$prev" | sed 's/^{"seq":\([0-9]*\),.*/\1/')
		[ "$prev" = "$log.$last_seq" ] || fixture_fail "$prev is not named after its last seq $last_seq"
		head -n 1 "$f" | grep -q "^{\"seq\":$((last_seq + 1)),.*\"event\":\"audit_rotated\".*continues from $(basename "$prev")" ||
			fixture_fail "$f does not begin with the audit_rotated record after $prev: $(head -n 1 "$f")"
	fi
	prev=$f
done
grep -q "audit: the log reached its audit_rotate_size" "$DAEMON_LOG" || fixture_fail "no journal line for a rotation"
fixture_pass "the log rotates at 4K into ${#files[@]} files named after their last seq, each continued by an audit_rotated record"

# --- readers and verify across the files ---
total=$(all_lines)
sl audit --verify >"$work/out" 2>"$work/err" || fixture_fail "audit --verify: $(head -c 300 "$work/err")"
grep -q "audit log intact ($total records in $((${#files[@]} + 1)) files)" "$work/out" ||
	fixture_fail "verify did not count every file's records ($total): $(cat "$work/out")"
sl audit --json >"$work/audit.json" || fixture_fail "audit --json failed"
seqs=$(grep -o '"seq": *[0-9]*' "$work/audit.json" | grep -o '[0-9]*$' | tr '\n' ' ')
[ "$seqs" = "$(seq -s ' ' 1 "$total") " ] || fixture_fail "audit did not list records 1 to $total in order: ${seqs:0:200}"
sl show "$id_first" >"$work/show" 2>"$work/err" || fixture_fail "show $id_first (its records in ${files[0]}): $(head -c 300 "$work/err")"
grep -q "Grant $id_first has ended" "$work/show" || fixture_fail "show did not find the ended grant in the oldest file: $(head -c 400 "$work/show")"
grep -q "\"id\":\"$id_first\"" "${files[0]}" || fixture_fail "the grant's records are not in the oldest file (nothing was tested)"
fixture_pass "audit lists all $total records across the files, verify checks them all, show finds a grant in the oldest file"

# --- a changed line inside a rotated file: named by file and line ---
cp "${files[1]}" "$work/saved"
sed -i '2s/"user":"[a-z0-9]*"/"user":"mallory"/' "${files[1]}"
cmp -s "${files[1]}" "$work/saved" && fixture_fail "the edit changed nothing (nothing was tested)"
rc=0
sl audit --verify >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "verify of an edited rotated file: exit $rc, expected 3"
grep -q "audit log broken in $(basename "${files[1]}") at line 3: prev does not match" "$work/err" ||
	fixture_fail "verify did not name the file and line: $(cat "$work/err")"
cp "$work/saved" "${files[1]}"
# The oldest file archived away: the chain no longer begins at record 1.
mv "${files[0]}" "$work/archived"
rc=0
sl audit --verify --json >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "verify without the oldest file: exit $rc, expected 3"
grep -q "\"file\": *\"$(basename "${files[1]}")\"" "$work/out" || fixture_fail "verify --json did not name the file: $(cat "$work/out")"
grep -q "\"bad_line\": *1" "$work/out" || fixture_fail "verify --json did not name line 1: $(cat "$work/out")"
mv "$work/archived" "${files[0]}"
sl audit --verify >/dev/null 2>"$work/err" || fixture_fail "verify after putting the files back: $(cat "$work/err")"
fixture_pass "verify names the file and line of a change inside a rotated file, and a missing oldest file"

# --- a lost state is rebuilt from a grant record in a rotated file ---
grep -q "\"event\":\"grant\",\"id\":\"$id_a\"" "${files[0]}" || fixture_fail "grant a's record is not in the oldest file (nothing is tested)"
daemon_stop
rm -f "$DAEMON_STATE/state.json"
daemon_start
sl list --json >"$work/list.json" || fixture_fail "list failed"
grep -q "\"id\": *\"$id_a\"" "$work/list.json" || fixture_fail "grant a, recorded in ${files[0]}, was not rebuilt: $(head -c 400 "$work/list.json")"
sl revoke "$id_a" >/dev/null 2>"$work/err" || fixture_fail "revoke of the rebuilt grant: $(cat "$work/err")"
fixture_pass "a lost state is rebuilt from a grant record in the oldest rotated file, and revoke ends it"

# --- a rotation cut short: the full file moved, no new one yet ---
daemon_stop
last_seq=$(tail -n 1 "$log" | sed 's/^{"seq":\([0-9]*\),.*/\1/')
mv "$log" "$log.$last_seq"
daemon_start
head -n 1 "$log" | grep -q "^{\"seq\":$((last_seq + 1)),.*\"event\":\"audit_rotated\"" ||
	fixture_fail "the start did not go on from $name.$last_seq: $(head -n 1 "$log")"
sl audit --verify >/dev/null 2>"$work/err" || fixture_fail "verify after the cut-short rotation: $(cat "$work/err")"
grep -q '"event":"audit_gap"' $(rotated) "$log" && fixture_fail "an audit_gap was recorded for a rotation"
fixture_pass "a rotation cut short before the new file is finished at the next start; the chain holds"
daemon_stop

# --- offline, with the daemon stopped: --file reads the log here ---
total=$(all_lines)
sl audit --verify --file "$log" >"$work/out" 2>"$work/err" || fixture_fail "audit --verify --file with no daemon: $(cat "$work/err")"
grep -q "audit log intact ($total records in $(($(rotated | wc -l) + 1)) files)" "$work/out" ||
	fixture_fail "offline verify did not count every record ($total): $(cat "$work/out")"
sl audit --file "$log" --json >"$work/audit.json" 2>"$work/err" || fixture_fail "audit --file: $(cat "$work/err")"
[ "$(grep -o '"seq": *[0-9]*' "$work/audit.json" | wc -l)" -eq "$total" ] || fixture_fail "audit --file did not list all $total records"
sl audit --file "$log" --grant "$id_first" >"$work/out" 2>"$work/err" || fixture_fail "audit --file --grant: $(cat "$work/err")"
grep -q "$id_first" "$work/out" || fixture_fail "audit --file --grant did not show the grant from the oldest file"
mapfile -t files < <(rotated)
cp "${files[0]}" "$work/saved"
sed -i '1s/"event":"start"/"event":"stop"/' "${files[0]}"
cmp -s "${files[0]}" "$work/saved" && fixture_fail "the edit changed nothing (nothing was tested)"
rc=0
sl audit --verify --file "$log" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "offline verify of an edited file: exit $rc, expected 3"
grep -q "audit log broken in $(basename "${files[0]}") at line 2: prev does not match" "$work/err" ||
	fixture_fail "offline verify did not name the file and line: $(cat "$work/err")"
cp "$work/saved" "${files[0]}"
rc=0
sl audit --verify --file "$FIXTURE_DIR/nothing-here" >"$work/out" 2>"$work/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "cannot read the audit log" "$work/err" || fixture_fail "verify --file of a missing log: exit $rc: $(cat "$work/err")"
fixture_pass "with the daemon stopped, audit --verify --file checks the chain and audit --file lists the records"
