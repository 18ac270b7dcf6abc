#!/bin/bash
# Downloads with asyncd beside curl (the same libcurl), wget and aria2c,
# all from the same test server (tests/httpd/testhttpd) on loopback, in one
# run; by hand from a build (not a pass/fail test):
#   bench/bench-download.sh [BUILD_DIR]      (default: build/normal)
# Needs curl, wget, aria2c, socat and python3 (apt-get install curl wget
# aria2 socat python3); a missing tool's rows are skipped.
#
#   1. one BIG-byte file (default 1 GiB) written to disk: MB/s, and the
#      ratio to curl -o (above 1: faster than curl). asyncd also hashes it
#      (SHA-256) as it goes; the others do not. During one more asyncd
#      download a second client times daemon.info round trips (p50, p99,
#      max): how long a download holds the event loop up.
#   2. N (100) files of SMALL bytes (10 MiB) at once: asyncd with
#      --max-downloads N, all jobs submitted on one connection; against
#      curl fetching them one after another (one process, one
#      connection), curl --parallel and aria2c -j N. Total time, and the
#      peak RSS of asyncd (VmHWM of a fresh daemon).
# Each figure is the median of RUNS (3) runs.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-3}
big=${BIG:-1073741824}
n=${N:-100}
small=${SMALL:-10485760}
make -s -C "$build" daemon/asyncd client/asyncctl tests/httpd/testhttpd
dir=$(mktemp -d /tmp/asyncd-bench-dl.XXXXXX)
sock=$dir/asyncd.sock
out=$dir/out
mkdir "$out"
daemon=
httpd=
trap 'kill $daemon $httpd 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

"$build/tests/httpd/testhttpd" --port 0 --port-file "$dir/port" >/dev/null &
httpd=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
url=http://127.0.0.1:$(cat "$dir/port")

start_daemon() {
	"$build/daemon/asyncd" --socket "$sock" --log-level warning \
		--download-dir "$out" "$@" 2>"$dir/log" &
	daemon=$!
	for _ in $(seq 100); do [ -S "$sock" ] && return; sleep 0.05; done
	echo "asyncd did not start" >&2
	exit 1
}
stop_daemon() { kill "$daemon"; wait "$daemon" || true; daemon=; }
have() { command -v "$1" >/dev/null; }
now() { date +%s.%N; }
# Empties the output directory and lets the disk settle, untimed.
clean() { rm -rf "${out:?}"/*; sync; }

# timed CMD...: prints the seconds CMD took.
timed() {
	local t0 t1
	clean
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc
}

# median CMD...: the median of $runs outputs of CMD.
median() {
	for _ in $(seq "$runs"); do "$@"; done | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# probe STOPFILE: daemon.info round trips on a connection of its own, one
# every 5 ms, from when it creates STOPFILE.ready until STOPFILE exists;
# prints "p50 p99 max" in ms.
probe() {
	python3 - "$sock" "$1" <<'PY'
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
lat, i = [], 0
open(sys.argv[2] + ".ready", "w").close()
while not os.path.exists(sys.argv[2]) or not lat:
    i += 1
    t0 = time.perf_counter()
    s.sendall(b'{"jsonrpc":"2.0","id":%d,"method":"daemon.info"}\n' % i)
    f.readline()
    lat.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.005)
lat.sort()
print("%.2f %.2f %.2f" % (lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1]))
PY
}

# ---- 1. One big file ---------------------------------------------------------
one_asyncd() { "$build/client/asyncctl" --socket "$sock" download "$url/bytes/$big" -o "$out/f"; }
one_curl() { curl -sS -o "$out/f" "$url/bytes/$big"; }
one_wget() { wget -q -O "$out/f" "$url/bytes/$big"; }
one_aria2() { aria2c -q --file-allocation=none -x1 -s1 -d "$out" -o f "$url/bytes/$big"; }

start_daemon
declare -A t1
for tool in asyncd curl wget aria2; do
	case $tool in
	asyncd | curl) ;;
	aria2) have aria2c || continue ;;
	*) have "$tool" || continue ;;
	esac
	t1[$tool]=$(median timed "one_$tool")
done
if have python3; then
	clean
	rm -f "$dir/stop"
	probe "$dir/stop" >"$dir/probe" &
	prober=$!
	while [ ! -e "$dir/stop.ready" ]; do sleep 0.05; done
	one_asyncd >/dev/null
	touch "$dir/stop"
	wait "$prober"
	read -r p50 p99 pmax <"$dir/probe"
fi
stop_daemon

printf '1. one %d-byte file to disk (median of %d)\n' "$big" "$runs"
for tool in asyncd curl wget aria2; do
	[ -n "${t1[$tool]:-}" ] || continue
	printf '   %-8s %7.2f s  %7.1f MB/s  ratio to curl %.2f\n' "$tool" \
		"${t1[$tool]}" "$(echo "$big / ${t1[$tool]} / 1000000" | bc -l)" \
		"$(echo "${t1[curl]} / ${t1[$tool]}" | bc -l)"
done
if [ -n "${p50:-}" ]; then
	printf '   daemon.info while asyncd downloads: p50 %s ms, p99 %s ms, max %s ms\n' \
		"$p50" "$p99" "$pmax"
fi

# ---- 2. N files at once ------------------------------------------------------
# The job.submit lines, one connection; the daemon closes it once every job
# has ended and socat's side is shut.
many_asyncd() {
	local i
	for i in $(seq "$n"); do
		printf '{"jsonrpc":"2.0","id":%d,"method":"job.submit","params":{"kind":"download","args":{"url":"%s/bytes/%d","dest":"%s/m%d"}}}\n' \
			"$i" "$url" "$small" "$out" "$i"
	done | socat -t 600 - "UNIX-CONNECT:$sock" |
		awk -v n="$n" '/"job.failed"/ { print "FAILED: " $0 > "/dev/stderr" }
			/"job.(completed|failed)"/ { if (++ended == n) exit }'
}
many_curl() {
	local i args=()
	for i in $(seq "$n"); do args+=(-o "$out/m$i" "$url/bytes/$small"); done
	curl -sS "${args[@]}"
}
many_curl_parallel() {
	local i args=()
	for i in $(seq "$n"); do args+=(-o "$out/m$i" "$url/bytes/$small"); done
	curl -sS --parallel --parallel-max "$n" "${args[@]}" 2>/dev/null
}
many_aria2() {
	local i
	for i in $(seq "$n"); do printf '%s/bytes/%d\n  out=m%d\n' "$url" "$small" "$i"; done >"$dir/list"
	aria2c -q --file-allocation=none -j "$n" -x1 -s1 -d "$out" -i "$dir/list"
}
# A fresh daemon per run, so that VmHWM is this run's peak.
many_asyncd_run() {
	start_daemon --max-downloads "$n"
	local t
	t=$(timed many_asyncd)
	echo "$t $(awk '/VmHWM/ { print $2 }' "/proc/$daemon/status")" >>"$dir/hwm"
	stop_daemon
	echo "$t"
}

: >"$dir/hwm"
t2_asyncd=$(median many_asyncd_run)
hwm=$(sort -n -k2 "$dir/hwm" | awk '{ v[NR] = $2 } END { print v[int((NR + 1) / 2)] }')
start_daemon
idle_hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$daemon/status")
stop_daemon
t2_curl=$(median timed many_curl)
t2_curlp=$(median timed many_curl_parallel)
t2_aria2=
have aria2c && t2_aria2=$(median timed many_aria2)

printf '2. %d files of %d bytes at once (median of %d)\n' "$n" "$small" "$runs"
row() {
	printf '   %-28s %7.2f s  %7.1f MB/s  ratio to sequential curl %.2f\n' \
		"$1" "$2" "$(echo "$n * $small / $2 / 1000000" | bc -l)" \
		"$(echo "$t2_curl / $2" | bc -l)"
}
row "asyncd ($n concurrent)" "$t2_asyncd"
row "curl, one after another" "$t2_curl"
row "curl --parallel" "$t2_curlp"
if [ -n "$t2_aria2" ]; then row "aria2c -j $n" "$t2_aria2"; fi
printf '   asyncd peak RSS (VmHWM): %d KiB (idle daemon: %d KiB)\n' "$hwm" "$idle_hwm"
