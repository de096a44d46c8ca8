#!/bin/sh
# Fuzz token_decode and token_verify_signature.
#
#   run-token-fuzz.sh FUZZ_BUILD_DIR SECONDS
#
# FUZZ_BUILD_DIR  a build configured with CC=clang and -Dfuzz=enabled (it
#                 holds tests/fuzz/fuzz-token)
# SECONDS         how long to fuzz (-max_total_time); 0 runs the fuzzer once
#                 over the corpus without mutating it
#
# The fuzzer works on a private copy of tests/fuzz/corpus/token (and the
# dictionary tests/fuzz/token.dict), with leak detection on; any crash,
# leak, slow input or broken invariant fails the run. That the corpus's
# valid-* seeds still verify is checked by the unit test (test-token).
# Exit 0 when all holds, 1 on any failure, 2 on bad usage. On failure the
# work directory is kept and its path printed.
set -eu

die() {
	echo "run-token-fuzz: $*" >&2
	exit 1
}

if [ $# -ne 2 ]; then
	echo "usage: run-token-fuzz.sh FUZZ_BUILD_DIR SECONDS" >&2
	exit 2
fi
fuzz_build=$1
seconds=$2
case $seconds in
'' | *[!0-9]*)
	echo "run-token-fuzz: SECONDS must be a whole number" >&2
	exit 2
	;;
esac

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=fuzz-lib.sh
. "$here/fuzz-lib.sh"
seeds=$here/corpus/token
fuzzer=$fuzz_build/tests/fuzz/fuzz-token
[ -x "$fuzzer" ] ||
	die "no fuzzer at $fuzzer; configure that build with CC=clang meson setup -Dfuzz=enabled"

work=$(mktemp -d "${TMPDIR:-/tmp}/token-fuzz.XXXXXX")
keep_work=1
cleanup() {
	if [ "$keep_work" = 0 ]; then
		rm -rf "$work"
	else
		echo "run-token-fuzz: work directory kept: $work" >&2
	fi
}
trap cleanup EXIT
mkdir "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"
entries=$(find "$work/corpus" -type f | wc -l)

# Inputs up to the 4 KiB token limit and a little over.
fuzz_run "$fuzzer" "$here/token.dict" 4200
echo "token fuzz: fuzzed ${seconds}s, ${fuzz_runs:-?} runs over a corpus of $entries seeds, no crash or leak"
keep_work=0
