# shellcheck shell=sh
# Shared by run-key-fuzz.sh and run-token-fuzz.sh: run one libFuzzer target
# over the private corpus copy in $work/corpus for $seconds seconds (0: once
# over the corpus, no mutation), leak detection on, a slow input (10 s)
# failing like a crash. Expects $work (with corpus/ and artifacts/),
# $seconds and die() from the caller.
#
#   fuzz_run FUZZER DICT MAX_LEN   → sets fuzz_runs (executed inputs)
fuzz_run() {
	fuzz_name=$(basename "$1")
	if [ "$seconds" -gt 0 ]; then
		fuzz_limit=-max_total_time=$seconds
	else
		fuzz_limit=-runs=0
	fi
	if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$1" "$fuzz_limit" -dict="$2" -detect_leaks=1 \
		-max_len="$3" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/" "$work/corpus" \
		>"$work/fuzz.log" 2>&1; then
		tail -n 60 "$work/fuzz.log" >&2
		die "$fuzz_name failed (crash, leak, timeout or broken invariant); log in $work/fuzz.log"
	fi
	if [ -n "$(ls -A "$work/artifacts")" ]; then
		die "$fuzz_name left artifacts in $work/artifacts"
	fi
	fuzz_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log")
}
