#!/bin/bash
# Many jobs from one asyncctl, beside a raw client, in one run; run by
# hand from a build (not a pass/fail test):
#   bench/bench-batch.sh [BUILD_DIR]      (default: build/normal)
# N (default 1000) process jobs of /bin/true, each run to its end:
# - asyncctl batch: one job.submit params a line on stdin, followed;
# - the raw baseline: bench-spawn asyncd (the same submits pipelined from
#   one client, watching, until every terminal event);
# - one `asyncctl process -- /bin/true` per job, in a shell loop.
# Jobs per second, the median of RUNS runs (default 5), the three taking
# turns within a run, on one daemon.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/bench-lib.sh"
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-5}
n=${N:-1000}
make -s -C "$build" daemon/asyncd client/asyncctl bench/bench-spawn
ctl=$build/client/asyncctl
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/asyncd-bench.XXXXXX")
sock=$dir/asyncd.sock
pid=
trap '[ -n "$pid" ] && kill $pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
"$build/daemon/asyncd" --socket "$sock" --state-dir none --log-level warning \
	--max-queued-per-user 1000000 --keep-finished 100000 2>>"$dir/log" &
pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
for _ in $(seq "$n"); do
	echo '{"kind":"process","args":{"argv":["/bin/true"]}}'
done >"$dir/lines"
loop() { for _ in $(seq "$n"); do "$ctl" --socket "$sock" process -- /bin/true; done; }
for _ in $(seq "$runs"); do
	s=$(seconds "$ctl" --socket "$sock" batch <"$dir/lines")
	awk -v n="$n" -v s="$s" 'BEGIN { printf "batch %.0f\n", n / s }'
	"$build/bench/bench-spawn" asyncd "$sock" "$n" /bin/true |
		awk '$1 == "asyncd_spawns_per_s" { print "raw", $2 }'
	s=$(seconds loop)
	awk -v n="$n" -v s="$s" 'BEGIN { printf "loop %.0f\n", n / s }'
done >"$dir/figures"
median() {
	awk -v k="$1" '$1 == k { print $2 }' "$dir/figures" |
		sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
b=$(median batch) r=$(median raw) l=$(median loop)
echo "median of $runs runs, $(nproc) CPUs, $n process jobs of /bin/true"
printf '  %-46s %7s jobs/s\n' "raw pipelined client (bench-spawn asyncd)" "$r"
printf '  %-46s %7s jobs/s  ratio to raw %s\n' "asyncctl batch <lines" "$b" "$(ratio "$b" "$r")"
printf '  %-46s %7s jobs/s  ratio to raw %s\n' "asyncctl process per job, shell loop" "$l" "$(ratio "$l" "$r")"
