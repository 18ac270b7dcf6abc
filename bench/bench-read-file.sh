#!/bin/bash
# read-file and fetch-user beside their baselines in one run; run by hand
# from a build (not a pass/fail test):
#   bench/bench-read-file.sh [BUILD_DIR]      (default: build/normal)
# read-file: `cat` of a page-cached 1 GiB file to /dev/null, beside
# `asyncctl read-file` of it to /dev/null, and beside a client that reads
# the events off the socket without parsing them (what the daemon itself
# delivers); text and binary. Then the daemon's peak RSS (VmHWM).
# fetch-user: jobs/s pipelined from one client, beside a plain loop of the
# same look-ups. Each figure is the median of RUNS runs (default 3).
# The two 1 GiB files go to BENCH_DIR (default: a temporary directory
# under /tmp) and are removed at the end.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/bench-lib.sh"
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-3}
size=$((1024 * 1024 * 1024))
make -s -C "$build" daemon/asyncd client/asyncctl bench/bench-read-file
bin=$build/bench/bench-read-file
ctl=$build/client/asyncctl
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/asyncd-bench.XXXXXX")
sock=$dir/asyncd.sock
daemon=
trap '[ -n "$daemon" ] && kill $daemon 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

# Text: lines of base64 (ASCII, 76 characters and a newline), padded to
# the size; binary: random.
lines=$((size / 77))
head -c $((lines * 57)) /dev/urandom | base64 -w 76 >"$dir/text"
head -c $((size - lines * 77)) /dev/zero | tr '\0' x >>"$dir/text"
head -c $size /dev/urandom >"$dir/binary"
cat "$dir/text" "$dir/binary" >/dev/null # into the page cache

"$build/daemon/asyncd" --socket "$sock" --log-level warning 2>"$dir/log" &
daemon=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done

# median CMD...: the median of $runs numbers, one printed by each run.
median() {
	for _ in $(seq "$runs"); do "$@"; done | sort -n |
		awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

gbps() { awk -v s="$size" -v t="$1" 'BEGIN { printf "%.2f\n", s / t / 1e9 }'; }
rawread() { "$bin" rawread "$sock" "$1" | awk '{ print $2 }'; }

printf '%-8s %22s %22s %22s %8s\n' file "cat" "asyncctl read-file" \
	"raw socket reader" "ratio"
for f in text binary; do
	c=$(median seconds cat "$dir/$f")
	a=$(median seconds "$ctl" --socket "$sock" read-file "$dir/$f")
	r=$(median rawread "$dir/$f")
	printf '%-8s %9s s %6s GB/s %9s s %6s GB/s %9s s %6s GB/s %8s\n' \
		"$f" "$c" "$(gbps "$c")" "$a" "$(gbps "$a")" "$r" "$(gbps "$r")" \
		"$(ratio "$a" "$c")"
done
echo "(ratio: asyncctl time / cat time)"
echo "asyncd peak RSS (VmHWM): $(awk '/VmHWM/ { print $2, $3 }' /proc/$daemon/status)"

fetch=$(median sh -c "'$bin' fetch '$sock' 20000 | awk '{ print \$2 }'")
getpw=$(median sh -c "'$bin' getpw 200000 | awk '{ print \$2 }'")
echo "fetch-user, 1 client pipelined:    $fetch jobs/s"
echo "getpwuid_r+getgrouplist loop:      $getpw lookups/s   (ratio: $(ratio "$getpw" "$fetch"))"
