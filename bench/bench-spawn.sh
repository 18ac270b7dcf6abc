#!/bin/bash
# Spawn throughput of process jobs beside its baselines, in one run; run by
# hand from a build (not a pass/fail test):
#   bench/bench-spawn.sh [BUILD_DIR]      (default: build/normal)
# N (default 1000) runs of /bin/true:
# - through asyncd: all submitted at once, pipelined from one client,
#   watching, until every terminal event (asyncd runs --max-processes,
#   default the number of CPUs, at once);
# - a plain loop of posix_spawn + waitpid (one at a time);
# - tsp (task-spooler, as many slots as CPUs): N `tsp -n /bin/true`, then
#   until `tsp -l` lists them all finished;
# through an idle asyncd, and through one holding 256 MiB of live memory
# (256 queued process jobs with 1,000,000-byte args, waiting on a day-long
# sleep job: no special daemon option needed), beside posix_spawn and fork
# loops from a process with 256 MiB touched. Each figure is the median of
# RUNS runs (default 3); the measures alternate within a run.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-3}
n=${N:-1000}
ballast_mib=256
make -s -C "$build" daemon/asyncd bench/bench-spawn
bin=$build/bench/bench-spawn
dir=$(mktemp -d /tmp/asyncd-bench.XXXXXX)
sock=$dir/asyncd.sock
daemons=
export TS_SOCKET=$dir/tsp.sock TS_MAXFINISHED=$((n * 2)) TMPDIR=$dir
trap '[ -n "$daemons" ] && kill $daemons 2>/dev/null || true; tsp -K 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

command -v tsp >/dev/null || { echo "tsp missing: apt-get install task-spooler" >&2; exit 1; }

# Two daemons side by side: one idle, one holding the ballast.
start_daemon() {
	"$build/daemon/asyncd" --socket "$1" --log-level warning \
		--max-queued-per-user 1000000 --keep-finished 100000 2>>"$dir/log" &
	daemons="$daemons $!"
	for _ in $(seq 100); do [ -S "$1" ] && return; sleep 0.05; done
	echo "asyncd did not start" >&2
	exit 1
}
start_daemon "$sock"
idle_pid=${daemons##* }
start_daemon "$sock.big"
big_pid=${daemons##* }
"$bin" ballast "$sock.big" "$ballast_mib" >/dev/null

tsp_run() {
	local t0 t1
	tsp -K 2>/dev/null || true
	tsp -S "$(nproc)" >/dev/null
	t0=$(date +%s%N)
	for _ in $(seq "$n"); do tsp -n /bin/true >/dev/null; done
	while [ "$(tsp -l | grep -c ' finished ')" -lt "$n" ]; do sleep 0.01; done
	t1=$(date +%s%N)
	tsp -K
	echo "tsp_per_s $((n * 1000000000 / (t1 - t0)))"
}

# as NAME CMD...: CMD's one figure, renamed NAME.
as() {
	local name=$1
	shift
	"$@" | awk -v n="$name" '{ print n, $2 }'
}

# The measures alternate within each run, so that a change of load on the
# machine weighs on all of them alike.
for _ in $(seq "$runs"); do
	as asyncd_idle "$bin" asyncd "$sock" "$n" /bin/true
	as asyncd_big "$bin" asyncd "$sock.big" "$n" /bin/true
	as posix_idle "$bin" posix_spawn "$n" /bin/true 0
	as posix_big "$bin" posix_spawn "$n" /bin/true "$ballast_mib"
	as fork_idle "$bin" fork "$n" /bin/true 0
	as fork_big "$bin" fork "$n" /bin/true "$ballast_mib"
	as tsp tsp_run
done >"$dir/figures"

# median NAME: the median of the figures named NAME.
median() {
	awk -v n="$1" '$1 == n { print $2 }' "$dir/figures" |
		sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
ratio() { echo "scale=2; $1 / $2" | bc; }

a_idle=$(median asyncd_idle) a_big=$(median asyncd_big)
p_idle=$(median posix_idle) p_big=$(median posix_big)
f_idle=$(median fork_idle) f_big=$(median fork_big)
t_idle=$(median tsp)

echo "runs of /bin/true: $n, median of $runs runs, $(nproc) CPUs"
echo "asyncd RSS idle: $(rss_kib "$idle_pid") KiB; with the ballast: $(rss_kib "$big_pid") KiB"
echo
printf '%-34s %10s %10s\n' "spawns/s" "idle" "256 MiB"
printf '%-34s %10s %10s\n' "asyncd (pipelined, 1 client)" "$a_idle" "$a_big"
printf '%-34s %10s %10s\n' "posix_spawn loop" "$p_idle" "$p_big"
printf '%-34s %10s %10s\n' "fork+exec loop" "$f_idle" "$f_big"
printf '%-34s %10s %10s\n' "tsp" "$t_idle" "-"
echo
echo "asyncd / posix_spawn:  idle $(ratio "$a_idle" "$p_idle"), 256 MiB $(ratio "$a_big" "$p_big")"
echo "asyncd / tsp:          idle $(ratio "$a_idle" "$t_idle")"
echo "asyncd 256 MiB / idle: $(ratio "$a_big" "$a_idle")"
echo "fork 256 MiB / idle:   $(ratio "$f_big" "$f_idle")"
