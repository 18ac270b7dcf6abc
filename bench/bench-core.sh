#!/bin/bash
# The core benchmarks of asyncd, each beside its baseline in one run; run
# by hand from a build (not a pass/fail test):
#   bench/bench-core.sh [BUILD_DIR]      (default: build/normal)
# Prints the median of RUNS runs of each measure, and the ratios.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-3}
bin=$build/bench/bench-core
make -s -C "$build" bench/bench-core
dir=$(mktemp -d /tmp/asyncd-bench.XXXXXX)
sock=$dir/asyncd.sock
trap 'kill $daemon 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

start_daemon() {
	"$build/daemon/asyncd" --socket "$sock" --log-level warning \
		--max-queued-per-user 1000000 --keep-finished 10000 "$@" 2>"$dir/log" &
	daemon=$!
	for _ in $(seq 100); do [ -S "$sock" ] && return; sleep 0.05; done
	echo "asyncd did not start" >&2
	exit 1
}
stop_daemon() { kill "$daemon"; wait "$daemon" || true; }

# median NAME CMD...: runs CMD $runs times, prints the median of NAME.
median() {
	local name=$1
	shift
	for _ in $(seq "$runs"); do "$@"; done | awk -v n="$name" '$1 == n { print $2 }' |
		sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

start_daemon
raw=$(median raw_pingpong_p50 "$bin" pingpong 20000)
get=$(median job_get_p50 "$bin" get "$sock" 20000)
one=$(median sleep0_1_clients "$bin" sleep0 "$sock" 1 100000)
many=$(median sleep0_64_clients "$bin" sleep0 "$sock" 64 128000)
stop_daemon
start_daemon
"$bin" pending "$sock" 100000 >"$dir/pending"
stop_daemon

echo "raw 200-byte ping-pong p50:        $raw us"
echo "job.get round trip p50:            $get us   (ratio to raw: $(echo "scale=2; $get / $raw" | bc))"
echo "sleep-0 jobs, 1 client pipelined:  $one jobs/s"
echo "sleep-0 jobs, 64 clients:          $many jobs/s"
awk '/rss_per_pending_job/ { print "RSS per pending sleep job:         " $2 " bytes" }
     /rss_after/ { print "RSS with 100,000 pending jobs:     " $2 " KiB" }' "$dir/pending"
