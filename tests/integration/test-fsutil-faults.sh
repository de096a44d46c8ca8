#!/bin/bash
# Fault injection on fsutil_replace, the one atomic replace every durable
# file goes through (state.json, the audit head, authorized_keys, signer
# keys): every write, fsync and rename of one replace fails in turn with
# ENOSPC and with EIO, under strace. After every case the file is byte for
# byte the original (or absent, as it was), and no temp file is left; a
# failed directory fsync, the one step after the rename, says so and leaves
# the new content; an fsync that failed with EIO is never retried. Run for
# a replace of an existing file, a create, and a create-only-if-absent.
# Then the programs' key writers (sshlease token keygen, token sign
# --new-key): each of their fsyncs fails in turn with EIO, and they must
# fail leaving neither file of the pair, nor a temp file, nor a token.
#
# usage: test-fsutil-faults.sh FSUTIL_TOOL SSHLEASE
# Needs strace; not root.

# shellcheck source=../lib/fixture.sh
. "$(dirname "$0")/../lib/fixture.sh"

tool=${1:-}
sl_bin=${2:-}
[ -n "$tool" ] && [ -x "$tool" ] && [ -n "$sl_bin" ] && [ -x "$sl_bin" ] ||
	fixture_fail "usage: $0 FSUTIL_TOOL SSHLEASE"
sl_bin=$(realpath "$sl_bin")
fixture_require_cmd strace cmp
# LeakSanitizer cannot run under ptrace; the sanitizer build runs this too.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

fixture_init
dir=$FIXTURE_DIR/dir
work=$FIXTURE_DIR/work
mkdir -p "$dir" "$work"
target=$dir/target

# The original: bytes a careless writer would lose (CRLF, no final newline).
orig=$work/orig
printf '# keep me\r\nline two\n\tthree, no final newline' >"$orig"
new_text=$'the new content\nin three writes\n'
new=$work/new
printf '%s' "$new_text" >"$new"

# Scenarios: "name before flags"; before is the original file or ABSENT.
scenarios=(
	"replace $orig"
	"create ABSENT"
	"create-only-if-absent ABSENT --noreplace"
)

set_state() { # before
	rm -rf "$dir"
	mkdir -p "$dir"
	[ "$1" = ABSENT ] || cp "$1" "$target"
}

state_is() { # before|new
	case $1 in
	ABSENT) [ ! -e "$target" ] && [ ! -L "$target" ] ;;
	*) [ -f "$target" ] && [ ! -L "$target" ] && cmp -s "$target" "$1" ;;
	esac
}

# Whatever else is in the directory (temp files left behind).
stray_files() {
	find "$dir" -mindepth 1 -maxdepth 1 ! -name target -printf '%f\n' | sort
}

fault_syscalls=(write writev pwrite64 fsync fdatasync rename renameat renameat2)
trace_set=$(
	IFS=,
	echo "${fault_syscalls[*]},openat,linkat,unlinkat"
)

run_traced() { # inject-rule-or-empty flags...
	local rc=0 inject=()
	[ -z "$1" ] || inject=(-e "inject=$1")
	shift
	timeout 60 strace -qq -y -s 64 -o "$work/trace" -e "trace=$trace_set" "${inject[@]}" \
		-- "$tool" "$@" --chunks 3 "$dir" target "$new_text" >"$work/out" 2>"$work/err" || rc=$?
	return "$rc"
}

# The step the tool says failed.
failed_step() {
	sed -n 's/^fsutil-tool: failed at \([a-z]*\):.*/\1/p' "$work/err" | head -n 1
}

# ---- baseline: an untouched run of each scenario, to know the points ----
declare -A points # "scenario syscall#ordinal" -> call, for calls on the directory's files
for scenario in "${scenarios[@]}"; do
	read -r name before flags <<<"$scenario"
	set_state "$before"
	rc=0
	# shellcheck disable=SC2086 # flags is one word or none
	run_traced "" $flags || rc=$?
	[ "$rc" -eq 0 ] || fixture_fail "baseline $name failed (rc $rc): $(head -c 300 "$work/err")"
	state_is "$new" || fixture_fail "baseline $name did not write the new content"
	[ -z "$(stray_files)" ] || fixture_fail "baseline $name left $(stray_files)"
	order=
	while IFS=$'\t' read -r sys n call; do
		points["$name $sys#$n"]=$call
		case $sys in
		write | writev | pwrite*) order+=W ;;
		rename*) order+=R ;;
		fsync | fdatasync) if [[ $call == *"<$dir>"* ]]; then order+=D; else order+=F; fi ;;
		esac
	done < <(awk -v dir="$dir" -v set=" ${fault_syscalls[*]} " '
		match($0, /^[a-z_0-9]+\(/) {
			sys = substr($0, 1, RLENGTH - 1)
			if (index(set, " " sys " ") == 0) next
			n[sys]++
			if (index($0, dir "/") > 0 || index($0, "<" dir ">") > 0)
				print sys "\t" n[sys] "\t" $0
		}' "$work/trace")
	echo "baseline $name: $order (W write, F fsync of the file, R rename, D fsync of the directory)"
	[ "$order" = WWWFRD ] || fixture_fail "$name: expected three writes, fsync of the file, rename, fsync of the directory; saw $order"
done

# ---- every point, every fault ----
cases=0
declare -A hit
for scenario in "${scenarios[@]}"; do
	read -r name before flags <<<"$scenario"
	for sys in "${fault_syscalls[@]}"; do
		for err in ENOSPC EIO; do
			rule="$sys:error=$err"
			for ((n = 1; ; n++)); do
				[ "$n" -le 50 ] || fixture_fail "$name $rule: still injecting at when=$n"
				set_state "$before"
				rc=0
				# shellcheck disable=SC2086
				run_traced "$rule:when=$n" $flags || rc=$?
				tampered=$(grep '(INJECTED)' "$work/trace" || true)
				repro="scenario $name; reproduce: strace -e inject=$rule:when=$n fsutil-tool $flags --chunks 3 DIR target TEXT"
				if [ -z "$tampered" ]; then
					[ "$rc" -eq 0 ] || fixture_fail "$name $rule when=$n: nothing injected, yet rc=$rc"
					state_is "$new" || fixture_fail "$name $rule when=$n: nothing injected, yet not the new content"
					break
				fi
				cases=$((cases + 1))
				hit["$name $err $sys#$n"]=1
				step=$(failed_step)
				path=${tampered#*<}
				path=${path%%>*}
				if [[ $sys == fsync || $sys == fdatasync ]] && [ "$path" = "$dir" ]; then
					# The directory fsync, after the rename.
					expect_step=dirsync expect=$new
				else
					case $sys in
					write | writev | pwrite64) expect_step=write ;;
					fsync | fdatasync) expect_step=fsync ;;
					rename*) expect_step=rename ;;
					esac
					expect=$before
				fi
				printf '%-22s %-22s when=%-2d rc=%d step=%s\n' "$name" "$rule" "$n" "$rc" "$step"
				[ "$rc" -eq 1 ] || fixture_fail "$name $rule when=$n: rc=$rc, expected 1 (failure); $repro"
				[ "$step" = "$expect_step" ] ||
					fixture_fail "$name $rule when=$n: reported the step '$step', expected '$expect_step'; $repro"
				if ! state_is "$expect"; then
					echo "---- $target after the fault ----" >&2
					[ -e "$target" ] && fixture_hexdump "$target" >&2
					fixture_fail "$name $rule when=$n: the file is not the $([ "$expect" = "$new" ] && echo new || echo original) content; $repro"
				fi
				[ -z "$(stray_files)" ] ||
					fixture_fail "$name $rule when=$n: a temp file was left: $(stray_files | tr '\n' ' '); $repro"
				if [ "$err" = EIO ] && [[ $sys == fsync || $sys == fdatasync ]]; then
					# After EIO the page cache may have dropped the dirty
					# pages: a second fsync would report success for data
					# that never reached the disk.
					if awk -v path="<$path>" '
						/\(INJECTED\)/ { after = 1; next }
						after && /^(fsync|fdatasync)\(/ && index($0, path) { found = 1 }
						END { exit !found }' "$work/trace"; then
						fixture_fail "$name $rule when=$n: fsync of $path retried after EIO; $repro"
					fi
				fi
			done
		done
	done
done

# Every point of the baseline must have been reached by both faults.
missing=()
for key in "${!points[@]}"; do
	name=${key%% *}
	point=${key#* }
	for err in ENOSPC EIO; do
		[ -n "${hit["$name $err $point"]:-}" ] || missing+=("$name:$err:$point")
	done
done
[ "${#missing[@]}" -eq 0 ] || fixture_fail "points never reached by a fault: ${missing[*]}"

# Create-only-if-absent never replaces: an existing file stays, no temp left.
set_state "$orig"
rc=0
run_traced "" --noreplace || rc=$?
[ "$rc" -eq 3 ] || fixture_fail "--noreplace over an existing file: rc=$rc, expected 3"
state_is "$orig" || fixture_fail "--noreplace changed an existing file"
[ -z "$(stray_files)" ] || fixture_fail "--noreplace over an existing file left $(stray_files)"

# ---- the programs' key writers: a failed fsync leaves nothing ----
keys=$FIXTURE_DIR/keys
mkdir -p "$keys"
(cd "$keys" && "$sl_bin" token keygen --output signer.key >/dev/null 2>"$work/err") ||
	fixture_fail "token keygen failed: $(cat "$work/err")"
writers=(
	"keygen new.key token keygen --output new.key"
	"sign-new-key fresh token sign --signer signer.key --new-key fresh --ticket T-1"
)
for writer in "${writers[@]}"; do
	read -r wname out argv <<<"$writer"
	read -r -a argv <<<"$argv"
	for ((n = 1; ; n++)); do
		[ "$n" -le 20 ] || fixture_fail "$wname: still injecting at when=$n"
		rm -f "$keys/$out" "$keys/$out.pub"
		rc=0
		(cd "$keys" && timeout 60 strace -qq -y -o "$work/trace" -e trace=fsync,fdatasync \
			-e "inject=fsync:error=EIO:when=$n" -- "$sl_bin" "${argv[@]}" \
			>"$work/out" 2>"$work/err") || rc=$?
		if ! grep -q '(INJECTED)' "$work/trace"; then
			[ "$rc" -eq 0 ] && [ -f "$keys/$out" ] && [ -f "$keys/$out.pub" ] ||
				fixture_fail "$wname: nothing injected at when=$n, yet rc=$rc: $(head -c 300 "$work/err")"
			[ "$n" -ge 5 ] || fixture_fail "$wname: only $((n - 1)) fsyncs (two files and their directory, twice, expected)"
			rm -f "$keys/$out" "$keys/$out.pub"
			break
		fi
		what=$(grep '(INJECTED)' "$work/trace" | sed 's/^\([a-z]*([0-9]*<[^>]*>\).*/\1/')
		printf '%-14s fsync:error=EIO when=%d rc=%d %s\n' "$wname" "$n" "$rc" "$what"
		[ "$rc" -ne 0 ] || fixture_fail "$wname: fsync failed ($what), yet it reported success"
		[ ! -e "$keys/$out" ] && [ ! -e "$keys/$out.pub" ] ||
			fixture_fail "$wname: fsync failed ($what), yet $(cd "$keys" && ls "$out"*) left behind"
		[ ! -s "$work/out" ] || fixture_fail "$wname: fsync failed ($what), yet it printed $(head -c 100 "$work/out")"
		stray=$(cd "$keys" && find . -mindepth 1 -maxdepth 1 ! -name 'signer.key*' -printf '%f\n')
		[ -z "$stray" ] || fixture_fail "$wname: fsync failed ($what), and left $stray"
		cases=$((cases + 1))
	done
done

fixture_pass "$cases fault cases at ${#points[@]} points: the file was always the original, or the new one only after its rename"
