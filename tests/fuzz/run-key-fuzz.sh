#!/bin/sh
# Fuzz key_parse, then hold what it accepted against ssh-keygen.
#
#   run-key-fuzz.sh FUZZ_BUILD_DIR CHECK_TOOL SECONDS
#
# FUZZ_BUILD_DIR  a build configured with CC=clang and -Dfuzz=enabled (it
#                 holds tests/fuzz/fuzz-key); '-' to skip fuzzing entirely
# CHECK_TOOL      the key-check program of any build
# SECONDS         how long to fuzz (-max_total_time); 0 runs the fuzzer once
#                 over the corpus without mutating it
#
# The fuzzer works on a private copy of tests/fuzz/corpus/key (and the
# dictionary tests/fuzz/key.dict), with leak
# detection on; any crash, leak or broken invariant fails the run. Then up to
# 200 corpus entries the parser accepts are picked at random and each must be
# read by `ssh-keygen -l -E sha256 -f` with the same fingerprint and size.
# Exit 0 when all holds, 1 on any failure or disagreement, 2 on bad usage.
# On failure the work directory is kept and its path printed.
set -eu

die() {
	echo "run-key-fuzz: $*" >&2
	exit 1
}

if [ $# -ne 3 ]; then
	echo "usage: run-key-fuzz.sh FUZZ_BUILD_DIR|- CHECK_TOOL SECONDS" >&2
	exit 2
fi
fuzz_build=$1
check_tool=$2
seconds=$3
case $seconds in
'' | *[!0-9]*)
	echo "run-key-fuzz: SECONDS must be a whole number" >&2
	exit 2
	;;
esac
[ -x "$check_tool" ] || die "no key-check program at $check_tool"
command -v ssh-keygen >/dev/null || die "ssh-keygen (OpenSSH) is needed"

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=fuzz-lib.sh
. "$here/fuzz-lib.sh"
seeds=$here/corpus/key
sample_max=200

work=$(mktemp -d "${TMPDIR:-/tmp}/key-fuzz.XXXXXX")
keep_work=1
cleanup() {
	if [ "$keep_work" = 0 ]; then
		rm -rf "$work"
	else
		echo "run-key-fuzz: work directory kept: $work" >&2
	fi
}
trap cleanup EXIT
mkdir "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"

fuzzed="not fuzzed"
if [ "$fuzz_build" != - ]; then
	fuzzer=$fuzz_build/tests/fuzz/fuzz-key
	[ -x "$fuzzer" ] ||
		die "no fuzzer at $fuzzer; configure that build with CC=clang meson setup -Dfuzz=enabled"
	# Lines up to the 8 KiB limit and a little over.
	fuzz_run "$fuzzer" "$here/key.dict" 8300
	fuzzed="fuzzed ${seconds}s, ${fuzz_runs:-?} runs, no crash or leak"
fi

entries=$(find "$work/corpus" -type f | wc -l)
find "$work/corpus" -type f -print0 | xargs -0 "$check_tool" -l >"$work/accepted" ||
	die "key-check failed"
accepted=$(wc -l <"$work/accepted")
[ "$accepted" -gt 0 ] || die "the parser accepted no corpus entry at all"

shuf -n "$sample_max" "$work/accepted" >"$work/sample"
checked=0
disagreements=0
while read -r fingerprint bits path; do
	checked=$((checked + 1))
	if ! theirs=$(ssh-keygen -l -E sha256 -f "$path" 2>/dev/null); then
		echo "disagreement: ssh-keygen refuses $path, which key_parse accepts" >&2
		disagreements=$((disagreements + 1))
		continue
	fi
	their_bits=${theirs%% *}
	their_fingerprint=${theirs#* }
	their_fingerprint=${their_fingerprint%% *}
	if [ "$their_fingerprint" != "$fingerprint" ] || [ "$their_bits" != "$bits" ]; then
		echo "disagreement on $path: key_parse $bits $fingerprint, ssh-keygen $their_bits $their_fingerprint" >&2
		disagreements=$((disagreements + 1))
	fi
done <"$work/sample"

echo "key fuzz: $fuzzed; corpus $entries entries, $accepted accepted, $checked checked with ssh-keygen, $disagreements disagreements"
[ "$disagreements" -eq 0 ] || exit 1
keep_work=0
