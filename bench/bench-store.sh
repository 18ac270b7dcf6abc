#!/bin/bash
# The durable store (the state database) beside its baselines, in one
# run; run by hand from a build (not a pass/fail test):
#   bench/bench-store.sh [BUILD_DIR]      (default: build/normal)
# 1. sleep-0 jobs/s, pipelined, from 64 clients and from 1: a daemon with
#    --state-dir DIR --sync normal, one with --state-dir none, one with
#    --sync full, side by side, taking turns within each run.
# 2. job.get of a finished job no longer in memory (20,000 jobs run,
#    --keep-finished 10000: random ids among the oldest 9,700 kept), beside
#    job.get of the newest job (in memory) and a raw Unix-socket round trip
#    of the same request and response sizes.
# 3. 1,000,000 finished jobs (--keep-finished 1000000) and 10 fetch-user
#    jobs older than them: RSS once they ended; daemon.info's p99 while
#    another client pages job.list through a rare kind (an index) and
#    through failed jobs (none: a bounded scan per answer), beside its
#    p99 with no other client; then the restart, exec of asyncd to the first answer to
#    daemon.info, beside an empty start (--state-dir none, and a new state
#    directory), and once more with the database dropped from the page
#    cache first.
# 4. 100,000 queued jobs (each "after" a day-long sleep): the restart.
# Each figure is the median of RUNS runs (default 3); the measures taking
# turns within a run weigh a change of load on the machine alike. The
# state directories go to BENCH_DIR (default /tmp): about 200 MB.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/bench-lib.sh"
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-3}
make -s -C "$build" daemon/asyncd bench/bench-core bench/bench-store
core=$build/bench/bench-core
store=$build/bench/bench-store
asyncd=$build/daemon/asyncd
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/asyncd-bench.XXXXXX")
daemons=
trap '[ -n "$daemons" ] && kill $daemons 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
common=(--log-level warning --max-queued-per-user 1000000)

# start_daemon SOCK OPTION...: a daemon on SOCK; its pid in $pid.
start_daemon() {
	local sock=$1
	shift
	"$asyncd" --socket "$sock" "${common[@]}" "$@" 2>>"$dir/log" &
	pid=$!
	daemons="$daemons $pid"
	for _ in $(seq 200); do [ -S "$sock" ] && return; sleep 0.05; done
	echo "asyncd did not start" >&2
	exit 1
}
stop_daemon() { kill "$1" && wait "$1" || true; }

# as NAME CMD...: CMD's figure called FIELD, renamed NAME ("as NAME/FIELD").
as() {
	local name=${1%/*} f=${1#*/}
	shift
	"$@" | awk -v n="$name" -v f="$f" '$1 == f { print n, $2 }'
}
# median NAME: the median of the figures named NAME.
median() {
	awk -v n="$1" '$1 == n { print $2 }' "$dir/figures" |
		sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
touch "$dir/figures"

# ---- 1. throughput ----------------------------------------------------------
start_daemon "$dir/normal.sock" --state-dir "$dir/normal" --sync normal
normal_pid=$pid
start_daemon "$dir/none.sock" --state-dir none
none_pid=$pid
start_daemon "$dir/full.sock" --state-dir "$dir/full" --sync full
full_pid=$pid
# sleep0 NAME CLIENTS TOTAL: jobs/s, and the daemon's CPU time per job
# (less noisy than the wall clock on a shared machine).
sleep0() {
	local pid_var=${1}_pid t0 t1
	t0=$(awk '{ print $14 + $15 }' "/proc/${!pid_var}/stat")
	as "$1-$2/sleep0_$2_clients" "$core" sleep0 "$dir/$1.sock" "$2" "$3"
	t1=$(awk '{ print $14 + $15 }' "/proc/${!pid_var}/stat")
	awk -v n="$1-$2-cpu" -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v jobs="$3" \
		'BEGIN { printf "%s %.1f\n", n, t / hz * 1e6 / jobs }'
}
for _ in $(seq "$runs"); do
	for m in normal none full; do sleep0 $m 64 128000; done
	for m in none full normal; do sleep0 $m 1 100000; done
done >>"$dir/figures"
stop_daemon $normal_pid
stop_daemon $none_pid
stop_daemon $full_pid

# ---- 2. job.get from the database ------------------------------------------
start_daemon "$dir/get.sock" --state-dir "$dir/get" --keep-finished 10000
get_pid=$pid
"$store" fill "$dir/get.sock" 20000 >/dev/null
"$store" get "$dir/get.sock" 1 10001 10001 >"$dir/sizes"
req=$(awk '$1 == "request_bytes" { print $2 }' "$dir/sizes")
resp=$(awk '$1 == "response_bytes" { print $2 }' "$dir/sizes")
for _ in $(seq "$runs"); do
	as get-old/job_get_p50 "$store" get "$dir/get.sock" 5000 10001 19700
	as raw/raw_pingpong_p50 "$store" pingpong 5000 "$req" "$resp"
	as get-new/job_get_p50 "$store" get "$dir/get.sock" 5000 20000 20000
done >>"$dir/figures"
stop_daemon $get_pid

# ---- 3. 1,000,000 finished jobs ---------------------------------------------
big=(--state-dir "$dir/big" --keep-finished 1000000)
start_daemon "$dir/big.sock" "${big[@]}"
big_pid=$pid
"$store" call "$dir/big.sock" 10 job.submit \
	'{"kind":"fetch-user","args":{"uid":0},"watch":false}' >/dev/null
"$store" fill "$dir/big.sock" 1000000 >"$dir/fill"
"$store" rss "$big_pid" >>"$dir/fill"
# job.list among them: a filter that matches nothing (running), beside
# the newest 100 with no filter.
for _ in $(seq "$runs"); do
	as list-running/job_list_p50 "$store" list "$dir/big.sock" 50 '{"state":"running"}'
	as list-newest/job_list_p50 "$store" list "$dir/big.sock" 50 '{}'
	"$store" contend "$dir/big.sock" 3000 '{"kind":"fetch-user"}' |
		awk '{ print "contend-kind-" $1, $2 }'
	"$store" contend "$dir/big.sock" 3000 '{"state":"failed"}' |
		awk '{ print "contend-failed-" $1, $2 }'
done >>"$dir/figures"
stop_daemon $big_pid
db_mib=$(du -sm "$dir/big" | cut -f1)
restart() { # restart NAME OPTION...: the restart figures, named NAME-*
	local name=$1
	shift
	"$store" restart "$dir/r.sock" "$asyncd" --socket "$dir/r.sock" \
		"${common[@]}" "$@" 2>>"$dir/log" | awk -v n="$name" '{ print n "-" $1, $2 }'
}
for i in $(seq "$runs"); do
	restart big "${big[@]}"
	restart none --state-dir none
	restart empty --state-dir "$dir/empty$i"
	"$store" evict "$dir/big/asyncd.db" "$dir/big/asyncd.db-wal"
	restart cold "${big[@]}"
done >>"$dir/figures"

# ---- 4. 100,000 queued jobs -------------------------------------------------
for i in $(seq "$runs"); do
	start_daemon "$dir/q.sock" --state-dir "$dir/queued$i"
	"$store" queue "$dir/q.sock" 100000 >/dev/null
	stop_daemon $pid
	restart queued --state-dir "$dir/queued$i"
	restart none --state-dir none
	rm -rf "$dir/queued$i"
done >>"$dir/figures"

# ---- report ------------------------------------------------------------------
echo "median of $runs runs, $(nproc) CPUs; daemon options always: ${common[*]}"
echo
echo "1. sleep ms:0 jobs/s, pipelined, submit to terminal event"
for c in 64 1; do
	total=$([ $c = 64 ] && echo 128000 || echo 100000)
	echo "   bench-core sleep0 SOCK $c $total"
	n=$(median normal-$c) z=$(median none-$c) f=$(median full-$c)
	printf '     %-32s %7s jobs/s  ratio to none %s   daemon CPU %s us/job\n' \
		"--state-dir DIR --sync normal" "$n" "$(ratio "$n" "$z")" "$(median normal-$c-cpu)"
	printf '     %-32s %7s jobs/s                      daemon CPU %s us/job\n' \
		"--state-dir none" "$z" "$(median none-$c-cpu)"
	printf '     %-32s %7s jobs/s  ratio to none %s   daemon CPU %s us/job\n' \
		"--state-dir DIR --sync full" "$f" "$(ratio "$f" "$z")" "$(median full-$c-cpu)"
done
echo
o=$(median get-old) w=$(median get-new) r=$(median raw)
echo "2. round trip p50 ($req-byte request, $resp-byte response)"
printf '   %-62s %6s us   ratio to raw %s\n' \
	"job.get, finished, not in memory (get SOCK 5000 10001 19700)" "$o" "$(ratio "$o" "$r")"
printf '   %-62s %6s us   ratio to raw %s\n' \
	"job.get, newest job, in memory (get SOCK 5000 20000 20000)" "$w" "$(ratio "$w" "$r")"
printf '   %-62s %6s us\n' "raw socketpair round trip (pingpong 5000 $req $resp)" "$r"
echo
echo "3. 1,000,000 finished jobs: ${big[*]} (database $db_mib MiB)"
awk '$1 == "fill_finished_per_s" { f = $2 } $1 == "daemon_rss" { r = $2 } $1 == "daemon_hwm" { h = $2 }
     END { printf "   fill SOCK 1000000: %s jobs/s submitted and finished\n", f
           printf "   RSS after they finished: VmRSS %d KiB (%.1f MiB), VmHWM %d KiB (%.1f MiB)\n",
                  r, r / 1024, h, h / 1024 }' "$dir/fill"
lr=$(median list-running) ln=$(median list-newest)
printf '   %-50s %8s us   ratio to the newest 100 %s\n' \
	"job.list state running (matches none), p50" "$lr" "$(ratio "$lr" "$ln")"
printf '   %-50s %8s us\n' "job.list, the newest 100, no filter, p50" "$ln"
echo "   daemon.info p99 while another client pages job.list (contend SOCK 3000 PARAMS)"
for f in kind failed; do
	params=$([ $f = kind ] && echo '{"kind":"fetch-user"}' || echo '{"state":"failed"}')
	a=$(median contend-$f-info_alone_p99) p=$(median contend-$f-info_paging_p99)
	printf '     %-24s %8s us   alone %s us, ratio %s; slowest page %s us\n' \
		"$params" "$p" "$a" "$(ratio "$p" "$a")" "$(median contend-$f-pager_slowest_page)"
done
b=$(median big-restart_ms) z=$(median none-restart_ms)
printf '   %-50s %8s ms   ratio to none %s; RSS %s KiB\n' "restart, 1,000,000 finished, page cache warm" \
	"$b" "$(ratio "$b" "$z")" "$(median big-started_rss)"
printf '   %-50s %8s ms\n' "restart, the same, database not in the page cache" "$(median cold-restart_ms)"
printf '   %-50s %8s ms\n' "start, new empty --state-dir" "$(median empty-restart_ms)"
printf '   %-50s %8s ms\n' "start, --state-dir none (baseline)" "$z"
printf '   %-50s %8s ms\n' "stop (SIGTERM to exit), 1,000,000 finished" "$(median big-stop_ms)"
echo
q=$(median queued-restart_ms)
echo "4. 100,000 queued jobs (queue SOCK 100000: each after a day-long sleep)"
printf '   %-50s %8s ms   ratio to none %s; RSS %s KiB\n' "restart" "$q" \
	"$(ratio "$q" "$z")" "$(median queued-started_rss)"
printf '   %-50s %8s ms\n' "stop (SIGTERM to exit)" "$(median queued-stop_ms)"
