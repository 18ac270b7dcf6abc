#!/bin/bash
# read-file and fetch-user beside their baselines in one run; run by hand
# from a build (not a pass/fail test):
#   bench/bench-read-file.sh [BUILD_DIR]      (default: build/normal)
# read-file: `cat` of a page-cached 1 GiB file to /dev/null, beside
# `asyncctl read-file` of it to /dev/null (binary frames), beside a client
# that reads the JSON events off the socket without parsing them (what the
# daemon delivers to a JSON client), and beside a client on a binary
# connection that reads 4 MiB at a time and parses only the headers; text
# and binary files. Rounds alternate the four, so that a neighbour's load
# falls on all of them alike. Then the daemon's peak RSS (VmHWM).
# fetch-user: jobs/s pipelined from one client, beside a plain loop of the
# same look-ups. Each figure is the median of RUNS runs (default 5).
# The two 1 GiB files go to BENCH_DIR (default: a temporary directory
# under /tmp) and are removed at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/bench-lib.sh"
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-5}
size=$((1024 * 1024 * 1024))
make -s -C "$build" daemon/asyncd client/asyncctl bench/bench-read-file
bin=$build/bench/bench-read-file
ctl=$build/client/asyncctl
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/asyncd-bench.XXXXXX")
sock=$dir/asyncd.sock
daemon=
trap '[ -n "$daemon" ] && kill $daemon 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

# Text: lines of base64 (ASCII, 76 characters and a newline), padded to
# the size; binary: random.
lines=$((size / 77))
head -c $((lines * 57)) /dev/urandom | base64 -w 76 >"$dir/text"
head -c $((size - lines * 77)) /dev/zero | tr '\0' x >>"$dir/text"
head -c $size /dev/urandom >"$dir/binary"
cat "$dir/text" "$dir/binary" >/dev/null # into the page cache

# Memory-only (--state-dir none): the stream is what is measured, and the
# default state directory may be another asyncd's, locked.
"$build/daemon/asyncd" --socket "$sock" --state-dir none --log-level warning \
	2>"$dir/log" &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

# median CMD...: the median of $runs numbers, one printed by each run.
median() {
	for _ in $(seq "$runs"); do "$@"; done | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

gbps() { awk -v s="$size" -v t="$1" 'BEGIN { printf "%.2f\n", s / t / 1e9 }'; }
rawread() { "$bin" rawread "$sock" "$1" | awk '{ print $2 }'; }

binread() { "$bin" binread "$sock" "$1" | awk '{ print $2 }'; }
# med FILE: the median of the numbers in FILE, one a line.
med() { sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# share T: the fraction of cat's throughput that time T gives.
share() { awk -v c="$c" -v t="$1" 'BEGIN { printf "%.2f", c / t }'; }

printf '%-7s %18s %18s %18s %18s\n' file "cat" "asyncctl read-file" \
	"JSON raw reader" "binary raw reader"
for f in text binary; do
	: >"$dir/t.cat"; : >"$dir/t.ctl"; : >"$dir/t.raw"; : >"$dir/t.bin"
	for _ in $(seq "$runs"); do
		seconds cat "$dir/$f" >>"$dir/t.cat"
		seconds "$ctl" --socket "$sock" read-file "$dir/$f" >>"$dir/t.ctl"
		rawread "$dir/$f" >>"$dir/t.raw"
		binread "$dir/$f" >>"$dir/t.bin"
	done
	c=$(med "$dir/t.cat"); a=$(med "$dir/t.ctl")
	r=$(med "$dir/t.raw"); b=$(med "$dir/t.bin")
	printf '%-7s %7s s %5s GB/s %7s s %5s GB/s %7s s %5s GB/s %7s s %5s GB/s\n' \
		"$f" "$c" "$(gbps "$c")" "$a" "$(gbps "$a")" "$r" "$(gbps "$r")" \
		"$b" "$(gbps "$b")"
	printf '%-7s %18s %18s %18s %18s\n' "" "share of cat:" "$(share "$a")" \
		"$(share "$r")" "$(share "$b")"
done
echo "(medians of $runs alternating rounds; share: cat's time / its time)"
echo "asyncd peak RSS (VmHWM): $(awk '/VmHWM/ { print $2, $3 }' /proc/$daemon/status)"

fetch=$(median sh -c "'$bin' fetch '$sock' 20000 | awk '{ print \$2 }'")
getpw=$(median sh -c "'$bin' getpw 200000 | awk '{ print \$2 }'")
echo "fetch-user, 1 client pipelined:    $fetch jobs/s"
echo "getpwuid_r+getgrouplist loop:      $getpw lookups/s   (ratio: $(ratio "$getpw" "$fetch"))"
