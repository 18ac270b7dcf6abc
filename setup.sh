#!/bin/bash
# The two set-up commands of the README, for a fresh Debian 12 machine:
#   ./setup.sh run    install what is missing, build, install, start asyncd
#   ./setup.sh test   install what is missing, build, run the whole suite
#                     three times: a normal build, an ASan+UBSan build and
#                     one --without-systemd; build with clang and the
#                     benchmarks, fuzz the request path for 60 s
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD

# Build and test dependencies (Debian package names).
packages=(build-essential autoconf automake libtool pkg-config
	libevent-dev libjson-c-dev libcurl4-openssl-dev libssl-dev check
	libinih-dev libsqlite3-dev systemd mandoc curl
	ca-certificates libnss-wrapper libncurses-dev libseccomp-dev)
# What only the test command needs besides: clang and its libFuzzer, the
# metrics parser, sshd for the asyncctl -H tests (check_remote: they run
# their own; on a machine run by systemd the package also starts the
# system's sshd, which they never use), and a pseudo-terminal driver and
# terminal emulator for asyncctl top.
test_packages=(clang libclang-rt-14-dev python3-prometheus-client
	openssh-server python3-pexpect python3-pyte)

# install_missing PACKAGE...: apt-get installs those not installed.
install_missing() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "setup.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "setup.sh: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# configure_build DIR [CONFIGURE ARGS...]: an out-of-tree build in DIR.
configure_build() {
	local dir=$1
	shift
	[ -x configure ] || ./bootstrap >/dev/null 2>&1
	mkdir -p "$dir"
	if ! (cd "$dir" && "$top/configure" -q "$@" && make -j"$(nproc)") >"$dir/build.log" 2>&1; then
		tail -40 "$dir/build.log"
		echo "setup.sh: the build in $dir failed; see $dir/build.log" >&2
		exit 1
	fi
}

# Prints every suite's Check summary, or the reason a program skipped
# (exit 77, "SKIP: ..."); the full log of a suite that failed.
report() {
	local dir=$1 status=0 log
	for log in $(find "$dir/tests" -name '*.log' ! -name test-suite.log | sort); do
		if grep -q ':test-result: \(FAIL\|ERROR\)' "${log%.log}.trs" 2>/dev/null; then
			echo "---- $log"
			cat "$log"
			status=1
		else
			grep -H 'Checks:\|passed\|^SKIP: ' "$log" | sed "s|^$dir/||" || true
		fi
	done
	return $status
}

# The number of test programs in DIR that skipped.
skipped() {
	{ grep -rl --include='*.trs' ':test-result: SKIP' "$1/tests" || true; } | wc -l
}

# run_suite DIR LABEL: make check in DIR and show what Check said.
run_suite() {
	local dir=$1 label=$2 rc=0 skips
	echo "== $label test suite"
	(cd "$dir" && make -s -j2 check >/dev/null 2>&1) || rc=$?
	report "$dir" || rc=1
	skips=$(skipped "$dir")
	if [ $rc -ne 0 ]; then
		echo "== $label: FAILED"
	elif [ "$skips" -ne 0 ]; then
		echo "== $label: the suites that ran passed; $skips skipped (SKIP lines above)"
	else
		echo "== $label: all suites passed"
	fi
	return $rc
}

# fuzz DIR SECONDS: the libFuzzer harness of the request path, from a
# copy of the corpus (new inputs stay out of the tree).
fuzz() {
	local dir=$1 seconds=$2 corpus
	corpus=$(mktemp -d /tmp/asyncd-fuzz.XXXXXX)
	cp tests/fuzz/corpus/* "$corpus"/
	echo "== fuzzing the request path for $seconds s"
	if "$dir/tests/fuzz/fuzz_request" -max_total_time="$seconds" \
		-print_final_stats=1 "$corpus" >"$dir/fuzz.log" 2>&1; then
		grep -E 'stat::number_of_executed_units|stat::new_units_added' \
			"$dir/fuzz.log" | sed 's/^/   /'
		echo "== fuzzing: no finding"
		rm -rf "$corpus"
	else
		tail -40 "$dir/fuzz.log"
		echo "== fuzzing FAILED: see $dir/fuzz.log and the crash file in $top"
		rm -rf "$corpus"
		return 1
	fi
}

cmd_test() {
	local rc=0
	install_missing "${packages[@]}" "${test_packages[@]}"
	configure_build build/normal --enable-werror
	run_suite build/normal normal || rc=1
	echo "== building the benchmark programs"
	make -s -C build/normal bench/bench-core bench/bench-read-file \
		bench/bench-spawn bench/bench-store bench/bench-queues \
		bench/bench-start bench/minimal-server bench/minimal-server-sqlite \
		>build/normal/bench.log 2>&1 ||
		{ tail -20 build/normal/bench.log; echo "== bench build FAILED"; rc=1; }
	# The sanitizer build: leaks, overflows and undefined behaviour abort.
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
	configure_build build/sanitizers --enable-werror --enable-sanitizers
	run_suite build/sanitizers "ASan+UBSan" || rc=1
	configure_build build/fuzz CC=clang --enable-werror --enable-fuzz \
		--enable-sanitizers
	fuzz build/fuzz 60 || rc=1
	unset ASAN_OPTIONS UBSAN_OPTIONS
	# No journal target: --log-target journal refused, auto is stderr.
	configure_build build/nosystemd --enable-werror --without-systemd
	run_suite build/nosystemd "without the journal" || rc=1
	# clang's warnings too (the fuzz build is clang's, but with the
	# sanitizers; this one is the plain build a packager would make, with
	# the user's -Wall -Wextra coming after ours, as in a distribution's
	# CFLAGS).
	echo "== clang build"
	configure_build build/clang CC=clang --enable-werror \
		CFLAGS="-O2 -g -Wall -Wextra -Werror"
	make -s -C build/clang check TESTS= >build/clang/tests.log 2>&1 ||
		{ tail -20 build/clang/tests.log; echo "== clang test build FAILED"; rc=1; }
	echo "== clang build passed"
	# The release tarball builds and installs from a read-only tree.
	echo "== make distcheck"
	(cd build/normal && make -s distcheck TESTS= >/dev/null 2>&1) &&
		echo "== distcheck passed" || { echo "== distcheck FAILED"; rc=1; }
	return $rc
}

# outdated PID BINARY: true when process PID runs other bytes than
# BINARY, as after a rebuild (/proc/PID/exe reads even a replaced file).
outdated() {
	[ -n "$1" ] && [ "$1" != 0 ] && ! cmp -s "/proc/$1/exe" "$2"
}

# default_socket: the socket asyncd and asyncctl use by default for this
# user (proto_default_socket() in proto/proto.c).
default_socket() {
	if [ "$(id -u)" -eq 0 ]; then
		echo /run/asyncd/asyncd.sock
	elif [ "${XDG_RUNTIME_DIR:-}" = /* ]; then
		echo "$XDG_RUNTIME_DIR/asyncd/asyncd.sock"
	else
		echo "/tmp/asyncd-$(id -u)/asyncd.sock"
	fi
}

cmd_run() {
	local prefix sock log pid ctl
	install_missing "${packages[@]}"
	if [ "$(id -u)" -eq 0 ]; then
		prefix=/usr/local
		configure_build build/release --prefix=$prefix --sysconfdir=/etc \
			--localstatedir=/var \
			--with-systemdsystemunitdir=/etc/systemd/system \
			--with-systemduserunitdir=/etc/systemd/user
	else
		# A user installs where the user can write.
		prefix=$HOME/.local
		configure_build build/release --prefix="$prefix"
	fi
	make -s -C build/release install >/dev/null
	# The user the network process runs as when asyncd is root (else
	# nobody): a system user of its own owns nothing and shares nothing.
	if [ "$(id -u)" -eq 0 ] && ! id asyncd-net >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin asyncd-net
	fi
	ctl=$prefix/bin/asyncctl
	if [ "$(id -u)" -eq 0 ] && [ -d /run/systemd/system ]; then
		systemctl daemon-reload
		systemctl enable --now asyncd.socket
		# A daemon still running the binary this install replaced.
		pid=$(systemctl show -p MainPID --value asyncd.service)
		if outdated "$pid" "$prefix/sbin/asyncd"; then
			systemctl restart asyncd.service
		fi
		echo "asyncd: socket-activated on /run/asyncd/asyncd.sock (systemctl status asyncd)"
		return
	fi
	# No systemd here: start it by hand, in the background, on the
	# socket the client finds by default.
	sock=$(default_socket)
	if [ "$(id -u)" -eq 0 ]; then
		log=/var/log/asyncd.log
	else
		log="${XDG_STATE_HOME:-$HOME/.local/state}/asyncd.log"
		mkdir -p "$(dirname "$log")"
	fi
	pid=$("$ctl" --socket "$sock" --json info 2>/dev/null |
		sed -n 's/.*"pid":\([0-9]*\).*/\1/p' || true)
	if [ -n "$pid" ] && outdated "$pid" "$prefix/sbin/asyncd"; then
		echo "asyncd: restarting pid $pid on the new binary"
		kill "$pid"
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	elif [ -n "$pid" ]; then
		echo "asyncd: already running on $sock"
		return
	fi
	setsid "$prefix/sbin/asyncd" --socket "$sock" </dev/null >>"$log" 2>&1 &
	for _ in $(seq 50); do
		"$ctl" --socket "$sock" info >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$ctl" --socket "$sock" info
	echo "asyncd: running on $sock, log in $log"
}

case "${1:-}" in
run) cmd_run ;;
test) cmd_test ;;
*)
	echo "usage: $0 run|test" >&2
	exit 2
	;;
esac
