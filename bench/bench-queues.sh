#!/bin/bash
# The scheduler under named queues, beside its baseline, in one run; run
# by hand from a build (not a pass/fail test):
#   bench/bench-queues.sh [BUILD_DIR]      (default: build/normal)
# 100,000 sleep ms:0 jobs held behind a day-long sleep (after_any), then
# released at once; jobs run per second until none is queued or running:
#   one-queue      1 user, all jobs in one queue (the baseline)
#   users          10 users, one queue each
#   queues         10 users, 100 queues each: 1,000 queues
# Each figure is the median of RUNS runs (default 5), the three taking
# turns within a run. More than one user needs root (uids 60001...);
# without it only the one-queue figures are printed. A memory-only daemon
# (--state-dir none): this measures the scheduler, not the disk.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/bench-lib.sh"
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-5}
jobs=${JOBS:-100000}
make -s -C "$build" daemon/asyncd bench/bench-queues
bq=$build/bench/bench-queues
asyncd=$build/daemon/asyncd
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/asyncd-bench.XXXXXX")
chmod 755 "$dir"
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

# one NAME USERS QUEUES: a fresh daemon, one measure, its figure named NAME.
one() {
	local sock=$dir/q.sock
	"$asyncd" --socket "$sock" --socket-mode 0666 --state-dir none \
		--log-level warning --max-queued 1000000 \
		--max-queued-per-user 1000000 2>>"$dir/log" &
	pid=$!
	for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
	"$bq" "$sock" "$2" "$3" "$jobs" | awk -v n="$1" '$1 == "run_per_s" { print n, $2 }'
	kill "$pid" && wait "$pid" || true
	pid=
}
median() {
	awk -v n="$1" '$1 == n { print $2 }' "$dir/figures" |
		sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
touch "$dir/figures"
multi=$([ "$(id -u)" = 0 ] && echo yes || echo no)
for _ in $(seq "$runs"); do
	one one-queue 1 1
	if [ $multi = yes ]; then
		one users 10 1
		one queues 10 100
	fi
done >>"$dir/figures"

echo "median of $runs runs, $(nproc) CPUs, $jobs jobs; asyncd --state-dir none"
echo "jobs run per second, from the release of the hold to the last end:"
base=$(median one-queue)
printf '  %-40s %8s jobs/s\n' "1 user, 1 queue (bench-queues S 1 1 N)" "$base"
if [ $multi = yes ]; then
	u=$(median users) q=$(median queues)
	printf '  %-40s %8s jobs/s  ratio %s\n' "10 users, 1 queue each (S 10 1 N)" "$u" "$(ratio "$u" "$base")"
	printf '  %-40s %8s jobs/s  ratio %s\n' "10 users, 100 queues each (S 10 100 N)" "$q" "$(ratio "$q" "$base")"
else
	echo "  (10 users need root: not measured)"
fi
