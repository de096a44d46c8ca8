# shellcheck shell=bash
# Bash helpers for the system tests: the .deb built from a source tree, a
# cached Debian 12 root file system, and that system booted with systemd as
# PID 1 in systemd-nspawn, driven from outside through nsenter. Source after
# tests/lib/fixture.sh and call after fixture_init:
#
#     . "$(dirname "$0")/container.sh"
#     container_build_deb "$source_root"   # $CONTAINER_DEB
#     container_rootfs "$cache_dir" PKG... # $CONTAINER_ROOT, unpacked
#     container_boot                       # $CONTAINER_PID; systemd is up
#     in_ct systemctl is-active ssh        # a command inside, bounded
#
# Everything is undone by the fixture's EXIT trap, on every exit path: the
# container is halted (killed when it does not halt in time), its cgroups
# and its entries under /run/systemd/nspawn are removed, and the root file
# system goes with $FIXTURE_DIR. Only the rootfs tarball in the cache
# directory stays, so that the next run skips mmdebstrap.
#
# Settings:
#   SSHLEASE_DEB       a .deb to install instead of building one (.ci/run
#                      builds the package once for all its builds)
#   CONTAINER_TIMEOUT  seconds one in_ct command may take (default 60)
#
# Variables (read-only for tests):
#   CONTAINER_DEB    the built sshlease_*_ARCH.deb, next to the source copy
#   CONTAINER_ROOT   the root directory of the container (host path)
#   CONTAINER_NAME   its machine name (also its host name)
#   CONTAINER_PID    host pid of its PID 1 (systemd)
#   CONTAINER_CONSOLE  file with what the container printed on its console
#
# Package needs on Debian 12 (host): mmdebstrap, systemd-container (install
# it with --no-install-recommends: libnss-mymachines would rewrite the
# host's nsswitch.conf), util-linux (nsenter), dpkg-dev and the build
# dependencies debian/control declares.

# shellcheck disable=SC2034 # set here, read by the sourcing test
CONTAINER_DEB=
CONTAINER_ROOT=
CONTAINER_NAME=
CONTAINER_PID=
CONTAINER_CONSOLE=
CONTAINER_TIMEOUT=${CONTAINER_TIMEOUT:-60}
_container_nspawn_pid=
_container_cgroups=()
_container_run_systemd_existed=

# Copy the source tree (the files git knows, tracked or not ignored, as
# they are on disk; without git, the whole tree but .git and the build
# directory) into $FIXTURE_DIR/deb/sshlease, and build the binary package
# there with dpkg-buildpackage. The debian/ directory comes from the tree.
# With $SSHLEASE_DEB set, that package is used instead.
container_build_deb() { # source_root [build_root, left out of a plain copy]
	local src=$1 build=${2:-} dir=$FIXTURE_DIR/deb copy log arch debs rel
	if [ -n "${SSHLEASE_DEB:-}" ]; then
		[ -f "$SSHLEASE_DEB" ] || fixture_fail "SSHLEASE_DEB=$SSHLEASE_DEB is not a file"
		fixture_log "installing SSHLEASE_DEB=$SSHLEASE_DEB, not a package built from $src"
		CONTAINER_DEB=$(realpath "$SSHLEASE_DEB")
		return 0
	fi
	copy=$dir/sshlease
	log=$dir/dpkg-buildpackage.log
	mkdir -p "$copy"
	[ -d "$src/debian" ] ||
		fixture_fail "the source tree $src has no debian/ directory: the .deb cannot be built"
	if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# --cached lists files deleted on disk too; tar skips nothing,
		# so keep only those that exist.
		git -C "$src" ls-files -z --cached --others --exclude-standard |
			(cd "$src" && while IFS= read -r -d '' f; do
				[ -e "$f" ] || [ -L "$f" ] && printf '%s\0' "$f"
			done) |
			tar -C "$src" --null -T - -cf - | tar -C "$copy" -xf - ||
			fixture_fail "copying the git files of $src failed"
	else
		rel=
		if [ -n "$build" ]; then
			rel=$(realpath --relative-base="$(realpath "$src")" "$(realpath "$build")")
			[[ $rel == /* ]] && rel=
		fi
		tar -C "$src" --exclude=./.git ${rel:+--exclude="./$rel"} -cf - . |
			tar -C "$copy" -xf - || fixture_fail "copying $src failed"
	fi
	# nocheck: this test runs the suite itself, and the suite holds this
	# test, which would build the package again inside the build.
	if ! (cd "$copy" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
		timeout 900 dpkg-buildpackage -us -uc -b) </dev/null >"$log" 2>&1; then
		tail -n 60 "$log" >&2
		fixture_fail "dpkg-buildpackage -us -uc -b failed (last lines above; missing build dependencies: apt-get build-dep ./ in the tree)"
	fi
	arch=$(dpkg --print-architecture)
	debs=("$dir"/sshlease_*_"$arch".deb)
	if [ ${#debs[@]} -ne 1 ] || [ ! -f "${debs[0]}" ]; then
		fixture_fail "expected one ../sshlease_*_$arch.deb next to the source copy, found: $(ls "$dir")"
	fi
	CONTAINER_DEB=${debs[0]}
}

# The packages a .deb needs installed, from Pre-Depends, Depends and
# Recommends, first alternative of each, without versions: so apt can
# install it inside a container that has no network.
container_deb_needs() { # deb
	local field
	for field in Pre-Depends Depends Recommends; do
		dpkg-deb -f "$1" "$field"
		echo
	done | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' |
		sed '/^$/d' | sort -u
}

# A Debian 12 minbase root with systemd, sshd and the given packages,
# unpacked into $FIXTURE_DIR/root. mmdebstrap runs once per package set:
# its tarball is kept in cache_dir, named by a hash of the set.
container_rootfs() { # cache_dir package...
	local cache=$1 include sources hash tarball
	shift
	include=$(printf '%s\n' systemd systemd-sysv dbus libpam-systemd \
		openssh-server openssh-client passwd "$@" | sort -u | paste -sd, -)
	for sources in /etc/apt/sources.list.d/debian.sources /etc/apt/sources.list; do
		[ -f "$sources" ] && break
	done
	[ -f "$sources" ] || fixture_fail "no apt sources on this host (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)"
	hash=$(printf '%s\n' "$include" | cat - "$sources" | sha256sum | cut -c1-16)
	tarball=$cache/bookworm-$hash.tar
	mkdir -p "$cache"
	if [ ! -f "$tarball" ]; then
		fixture_log "building the Debian 12 root file system (mmdebstrap, once)"
		if ! timeout 900 mmdebstrap --quiet --variant=minbase --format=tar \
			--include="$include" bookworm "$cache/partial-$hash.tar" "$sources" \
			</dev/null >"$FIXTURE_DIR/mmdebstrap.log" 2>&1; then
			rm -f "$cache/partial-$hash.tar"
			tail -n 40 "$FIXTURE_DIR/mmdebstrap.log" >&2
			fixture_fail "mmdebstrap failed (last lines above)"
		fi
		mv "$cache/partial-$hash.tar" "$tarball"
	fi
	CONTAINER_ROOT=$FIXTURE_DIR/root
	install -d -m 0755 "$CONTAINER_ROOT"
	tar -C "$CONTAINER_ROOT" -xf "$tarball" || fixture_fail "unpacking $tarball failed"
}

# The cgroup hierarchies to put the container in: the unified one, and on a
# hybrid host also the named systemd one, which systemd inside needs.
_container_hierarchies() {
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
		echo /sys/fs/cgroup
		return
	fi
	[ -d /sys/fs/cgroup/unified ] && echo /sys/fs/cgroup/unified
	[ -d /sys/fs/cgroup/systemd ] && echo /sys/fs/cgroup/systemd
}

# Boot $CONTAINER_ROOT in the background in cgroups of its own, and wait
# (bounded) until systemd inside reports the boot finished.
container_boot() {
	local hier cg i child state
	[ -n "$CONTAINER_ROOT" ] || fixture_fail "container_boot: call container_rootfs first"
	CONTAINER_NAME=sltest-$(_fixture_random_hex 4)
	# mmdebstrap copied the host's name; the journal should say which.
	echo "$CONTAINER_NAME" >"$CONTAINER_ROOT/etc/hostname"
	CONTAINER_CONSOLE=$FIXTURE_DIR/console.log
	_fixture_logs+=("$CONTAINER_CONSOLE")
	[ -d /run/systemd ] && _container_run_systemd_existed=yes
	fixture_on_exit "container_halt"
	while read -r hier; do
		cg=$hier/$CONTAINER_NAME
		mkdir "$cg" || fixture_fail "cannot make cgroup $cg"
		_container_cgroups+=("$cg")
	done < <(_container_hierarchies)
	[ ${#_container_cgroups[@]} -gt 0 ] || fixture_fail "no cgroup hierarchy under /sys/fs/cgroup"
	# --register=no --keep-unit: no machined on the host, and the cgroup
	# made above is the container's. --private-network: the container's
	# sshd must not take the host's port 22.
	(
		for cg in "${_container_cgroups[@]}"; do
			echo "$BASHPID" >"$cg/cgroup.procs" || exit 1
		done
		exec systemd-nspawn --quiet -D "$CONTAINER_ROOT" -M "$CONTAINER_NAME" --boot \
			--register=no --keep-unit --private-network --console=read-only
	) </dev/null >"$CONTAINER_CONSOLE" 2>&1 &
	_container_nspawn_pid=$!
	# PID 1 of the container is the child of nspawn that runs systemd.
	for ((i = 0; i < 300; i++)); do
		kill -0 "$_container_nspawn_pid" 2>/dev/null ||
			fixture_fail "systemd-nspawn exited while booting (console log below)"
		# shellcheck disable=SC2013 # one line of pids
		for child in $(cat "/proc/$_container_nspawn_pid/task/$_container_nspawn_pid/children" 2>/dev/null); do
			if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ]; then
				CONTAINER_PID=$child
				break 2
			fi
		done
		sleep 0.1
	done
	[ -n "$CONTAINER_PID" ] || fixture_fail "no systemd in the container within 30 s"
	# systemctl needs the manager's socket, made early in the boot.
	for ((i = 0; i < 300; i++)); do
		in_ct test -S /run/systemd/private && break
		sleep 0.1
	done
	state=$(CONTAINER_TIMEOUT=120 in_ct systemctl is-system-running --wait 2>&1)
	case $state in
	running) ;;
	degraded)
		fixture_log "the container booted degraded; failed units:" \
			"$(in_ct systemctl --failed --no-legend --plain | awk '{print $1}' | paste -sd' ' -)"
		;;
	*) fixture_fail "the container did not finish booting: is-system-running says '$state'" ;;
	esac
}

# Run a command inside the container, with a clean environment, for at
# most $CONTAINER_TIMEOUT seconds. Returns its exit code (124: timed out).
in_ct() { # command [arg...]
	timeout "$CONTAINER_TIMEOUT" nsenter -t "$CONTAINER_PID" -a \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 TERM=dumb "$@"
}

# Halt the container: nspawn turns SIGTERM into an orderly halt of systemd
# inside; after 30 s everything left in its cgroups is killed. Then the
# cgroups and its entries under /run/systemd/nspawn are removed.
container_halt() {
	local pid=$_container_nspawn_pid i cg
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null
		for ((i = 0; i < 300; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "warning: the container did not halt within 30 s; killing it" >&2
			_container_kill_cgroups
		fi
		wait "$pid" 2>/dev/null
		_container_nspawn_pid=
		CONTAINER_PID=
	fi
	_container_kill_cgroups
	for cg in "${_container_cgroups[@]}"; do
		# Deepest first: systemd inside made its slices and scopes.
		[ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
		[ -d "$cg" ] && echo "warning: could not remove cgroup $cg" >&2
	done
	_container_cgroups=()
	# The root goes now, while nothing can be mounted in it any more;
	# --one-file-system in case something still is.
	if [ -n "$CONTAINER_ROOT" ] && [ -z "$_container_nspawn_pid" ]; then
		rm -rf --one-file-system -- "$CONTAINER_ROOT"
	fi
	if [ -n "$CONTAINER_NAME" ]; then
		rm -rf "/run/systemd/nspawn/propagate/$CONTAINER_NAME" \
			"/run/systemd/nspawn/unix-export/$CONTAINER_NAME"
		# Emptied directories only: another container may be running.
		rmdir /run/systemd/nspawn/propagate /run/systemd/nspawn/unix-export \
			/run/systemd/nspawn/locks /run/systemd/nspawn 2>/dev/null
		[ -n "$_container_run_systemd_existed" ] || rmdir /run/systemd 2>/dev/null
	fi
	return 0
}

# SIGKILL every process left in the container's cgroups, and wait (bounded)
# until they are gone.
_container_kill_cgroups() {
	local cg i pids
	for ((i = 0; i < 50; i++)); do
		pids=
		for cg in "${_container_cgroups[@]}"; do
			[ -d "$cg" ] || continue
			if [ -f "$cg/cgroup.kill" ]; then
				echo 1 >"$cg/cgroup.kill" 2>/dev/null
			fi
			pids+=" $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)"
		done
		# shellcheck disable=SC2086 # a list of pids
		[ -n "${pids// /}" ] || return 0
		# shellcheck disable=SC2086
		kill -KILL $pids 2>/dev/null
		sleep 0.1
	done
	echo "warning: processes left in the container's cgroups: $pids" >&2
}
