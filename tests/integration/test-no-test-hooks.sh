#!/bin/bash
# The programs carry no test hooks: no symbol of the engine's test hooks
# (tests/lib/authkeys-hooks.c: authkeys_set_test_*, userfs_test_hook_*) is
# defined in the built sshleased or sshlease. In them the hook points are
# weak references that nothing defines, so they are NULL and no code to set
# them exists. nm must see the programs' own symbols (main), so a stripped
# binary cannot pass unexamined.
#
# usage: test-no-test-hooks.sh NM PROGRAM...

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"

nm_bin=${1:-}
[ -n "$nm_bin" ] && [ "$#" -ge 2 ] || fixture_fail "usage: $0 NM PROGRAM..."
shift
pattern='(test_[a-z_]*hook|set_test_)'
for program in "$@"; do
	symbols=$("$nm_bin" --defined-only "$program") || fixture_fail "nm cannot read $program"
	grep -Eq ' [Tt] main$' <<<"$symbols" || fixture_fail "nm shows no main in $program (stripped?)"
	found=$(grep -E " [A-Za-z] [A-Za-z0-9_]*$pattern" <<<"$symbols" || true)
	[ -z "$found" ] || fixture_fail "$program defines test hooks: $(tr '\n' ' ' <<<"$found")"
	fixture_pass "$(basename "$program"): no test hook defined"
done
