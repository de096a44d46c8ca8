#!/bin/bash
# Figures for the real sshleased and sshlease on a temporary config (not a
# test: nothing here passes or fails on a time). Prints:
#  - grant round trip: `sshlease grant --yes` from spawn to exit, the line
#    in the file (the daemon answers after its fsyncs), median of 200;
#  - a bare atomic replace of the same bytes (write, fsync, rename, fsync
#    dir), median of 200, and the ratio of the two; for scale, the CLI's
#    start alone (--version) and a status round trip;
#  - revocation lateness: deadline to line gone, median and maximum over
#    120 grants sharing one deadline;
#  - the daemon's VmRSS with 1, 1,000 and 10,000 active grants. The first
#    1,000 are made over the socket; the other 9,000 are written into the
#    state and the authorized_keys files with the daemon stopped (each grant
#    rewrites the whole state, so making 10,000 one by one is quadratic),
#    and the restarted daemon loads and checks them all;
#  - with 10,000 grants: the daemon's start (to its first answer) and a
#    grant's round trip, median of 20.
# Keys are ssh-ed25519 key pairs made by libsodium in bench-tool.
#
# usage: bench-daemon.sh SSHLEASED SSHLEASE BENCH_TOOL
# Needs root, passwd (useradd). Takes about a minute or two on 2 cores.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"
# shellcheck source=../lib/daemon.sh
. "$(dirname "$0")/../lib/daemon.sh"

tool=${3:-}
fixture_require_root
fixture_require_cmd useradd usermod userdel awk
[ -n "$tool" ] && [ -x "$tool" ] || fixture_fail "usage: $0 SSHLEASED SSHLEASE BENCH_TOOL"
fixture_init
daemon_init "${1:-}" "${2:-}"
work=$FIXTURE_DIR/work
mkdir -p "$work"
export BENCH_RESULTS=$work/results
: >"$BENCH_RESULTS"

n_accounts=5
accounts=()
for ((i = 0; i < n_accounts; i++)); do
	fixture_add_user slbn
	accounts+=("$FIXTURE_USER")
done
account_list=$(IFS=,; echo "${accounts[*]}")
home_of() { getent passwd "$1" | cut -d: -f6; }

# Keys: 0-1 the first account's own, 2-201 round trips, 202-322 lateness
# (one probe + 120), 323-10322 the 10,000 grants, 10323-10342 round trips
# at 10,000.
"$tool" keys 10343 "$work/keys" || fixture_fail "key generation failed"
key() { sed -n "$(($1 + 1))p" "$work/keys"; }

# The first account has two keys of its own, as a real one would.
own_home=$(home_of "${accounts[0]}")
install -d -o "${accounts[0]}" -g "$(id -g "${accounts[0]}")" -m 0700 "$own_home/.ssh"
{ key 0; key 1; } >"$work/own"
install -o "${accounts[0]}" -g "$(id -g "${accounts[0]}")" -m 0600 "$work/own" \
	"$own_home/.ssh/authorized_keys"

daemon_config_write "[grant]" "users = $account_list" "max_duration = 7d"
daemon_start

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON_PID/status"; }
status_grants() {
	sl status --json >"$work/status.json" || fixture_fail "status failed"
	json_field "$work/status.json" grants
}

echo "== grant round trip and bare atomic replace"
"$tool" grant-rtt "$SSHLEASE" "$DAEMON_SOCKET" "${accounts[0]}" "$work/keys" 2 200 \
	"$own_home/.ssh/authorized_keys" "$work/snapshot" || fixture_fail "grant-rtt failed"
"$tool" replace "$work/snapshot" "$own_home/.ssh" 200 || fixture_fail "replace failed"
# For scale: the CLI's own start, and the lightest round trip.
"$tool" spawn cli_version 200 "$SSHLEASE" --version || fixture_fail "sshlease --version failed"
"$tool" spawn status_rtt 200 "$SSHLEASE" --socket "$DAEMON_SOCKET" status ||
	fixture_fail "sshlease status failed"

echo "== revocation lateness"
late_home=$(home_of "${accounts[1]}")
"$tool" lateness "$DAEMON_SOCKET" "${accounts[1]}" "$work/keys" 202 120 \
	"$late_home/.ssh/authorized_keys" || fixture_fail "lateness failed"

echo "== daemon memory"
[ "$(status_grants)" -eq 0 ] || fixture_fail "grants left over before the RSS figures"
"$tool" socket-grants "$DAEMON_SOCKET" "$account_list" "$work/keys" 323 1 24h ||
	fixture_fail "the first grant failed"
rss_1=$(rss_kib)
"$tool" socket-grants "$DAEMON_SOCKET" "$account_list" "$work/keys" 324 999 24h ||
	fixture_fail "999 grants failed"
[ "$(status_grants)" -eq 1000 ] || fixture_fail "expected 1000 active grants"
rss_1000=$(rss_kib)
daemon_stop
"$tool" mass-state "$DAEMON_STATE" "$account_list" "$work/keys" 1323 9000 \
	$(($(date +%s) + 86400)) || fixture_fail "mass-state failed"
start_ns=$(now_ns)
daemon_start
start_ms=$((($(now_ns) - start_ns) / 1000000))
[ "$(status_grants)" -eq 10000 ] ||
	fixture_fail "expected 10000 active grants after the restart, the daemon has $(status_grants)"
rss_10000=$(rss_kib)
echo "(daemon start with 10,000 grants, to its first answer: $start_ms ms)"
"$tool" grant-rtt "$SSHLEASE" "$DAEMON_SOCKET" "${accounts[0]}" "$work/keys" 10323 20 \
	"$own_home/.ssh/authorized_keys" || fixture_fail "grant-rtt at 10,000 failed"
sl audit --verify >/dev/null || fixture_fail "audit --verify failed"
daemon_stop

value() { awk -v k="$1" '$1 == k { v = $2 } END { print v }' "$BENCH_RESULTS"; }
ms() { awk -v ns="$1" 'BEGIN { printf "%.3f ms", ns / 1e6 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
rtt=$(awk '$1 == "grant_rtt_ns" { print $2; exit }' "$BENCH_RESULTS")
rtt_10000=$(value grant_rtt_ns)
replace=$(value replace_ns)
echo
echo "== figures"
figure() { printf '%-46s %s\n' "$1:" "$2"; }
figure "grant round trip, median of 200" "$(ms "$rtt")"
figure "bare atomic replace, median of 200" "$(ms "$replace")"
figure "ratio grant / bare replace" "$(awk -v a="$rtt" -v b="$replace" 'BEGIN { printf "%.1f", a / b }')"
figure "for scale: sshlease --version, median" "$(ms "$(value cli_version_ns)")"
figure "for scale: sshlease status, median" "$(ms "$(value status_rtt_ns)")"
figure "revocation lateness, median of 120" "$(ms "$(value lateness_ns)")"
figure "revocation lateness, maximum of 120" "$(ms "$(value lateness_max_ns)")"
figure "daemon RSS, 1 active grant" "$(mib "$rss_1")"
figure "daemon RSS, 1,000 active grants" "$(mib "$rss_1000")"
figure "daemon RSS, 10,000 active grants" "$(mib "$rss_10000")"
figure "daemon start with 10,000 grants" "$start_ms ms"
figure "grant round trip at 10,000 grants, median 20" "$(ms "$rtt_10000")"
