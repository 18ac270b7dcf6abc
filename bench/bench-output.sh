#!/bin/bash
# Kept output beside live output, in one run; run by hand from a build
# (not a pass/fail test):
#   [BASELINE=OTHER_BUILD_DIR] bench/bench-output.sh [BUILD_DIR]
#                                          (default: build/normal)
# A process job writes a page-cached 1 GiB text file to its stdout
# (`cat FILE`), followed live by `asyncctl process ... >/dev/null`
# (binary frames), on a daemon that keeps no output (--keep-output 0) and
# on one that keeps all of it (--keep-output 2 GiB, in its state
# directory); then by a client that takes JSON lines (bench-read-file
# rawproc: the events read and not parsed) on both; then the kept 1 GiB
# is read back with `asyncctl log ID >/dev/null`. Rounds alternate
# between the daemons; each figure is the median of RUNS rounds (default
# 5), with `cat FILE >/dev/null` as the baseline. Beside each time: the
# share of it the daemon's loop thread was on a CPU (user + system,
# /proc/PID/task/PID/stat). With BASELINE, the same daemons built there
# run in the same rounds (the build of another branch, say main).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/bench-lib.sh"
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-5}
size=$((${SIZE_MB:-1024} * 1024 * 1024))
builds=("$build")
names=(new)
if [ -n "${BASELINE:-}" ]; then
	builds+=("$(cd "$BASELINE" && pwd)")
	names+=(base)
fi
for b in "${builds[@]}"; do
	make -s -C "$b" daemon/asyncd client/asyncctl bench/bench-read-file
done
ctl=$build/client/asyncctl
raw=$build/bench/bench-read-file
hz=$(getconf CLK_TCK)
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/asyncd-bench-output.XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

# Lines of base64: ASCII, so every chunk goes out as UTF-8 text.
lines=$((size / 77))
head -c $((lines * 57)) /dev/urandom | base64 -w 76 >"$dir/text"
head -c $((size - lines * 77)) /dev/zero | tr '\0' x >>"$dir/text"
cat "$dir/text" >/dev/null # into the page cache

declare -A pid
# start BUILD NAME OPTIONS...: BUILD's daemon on $dir/NAME.sock with its
# own state.
start() {
	local b=$1 name=$2
	shift 2
	"$b/daemon/asyncd" --socket "$dir/$name.sock" \
		--state-dir "$dir/$name.state" --config /dev/null \
		--log-level warning "$@" 2>"$dir/$name.log" &
	pids+=($!)
	pid[$name]=$!
	for _ in $(seq 100); do [ -S "$dir/$name.sock" ] && break; sleep 0.05; done
}
for i in "${!builds[@]}"; do
	start "${builds[$i]}" "${names[$i]}-live" --keep-output 0
	start "${builds[$i]}" "${names[$i]}-kept" \
		--keep-output $((2 * 1024 * 1024 * 1024)) \
		--keep-output-total $((2 * 1024 * 1024 * 1024))
done

# loop_ticks NAME: CPU ticks of daemon NAME's loop (main) thread.
loop_ticks() { awk '{ print $14 + $15 }' "/proc/${pid[$1]}/task/${pid[$1]}/stat"; }
# timed DAEMON LABEL CMD...: CMD's seconds to t.LABEL, and the loop
# thread's busy share meanwhile, in percent, to l.LABEL.
timed() {
	local d=$1 label=$2 c0 c1 t
	shift 2
	c0=$(loop_ticks "$d")
	t=$(seconds "$@")
	c1=$(loop_ticks "$d")
	echo "$t" >>"$dir/t.$label"
	awk -v c=$((c1 - c0)) -v hz="$hz" -v t="$t" \
		'BEGIN { printf "%.0f\n", 100 * c / hz / t }' >>"$dir/l.$label"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mbps() { awk -v s="$size" -v t="$1" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }

: >"$dir/t.cat"
for round in $(seq "$runs"); do
	seconds cat "$dir/text" >>"$dir/t.cat"
	for n in "${names[@]}"; do
		timed "$n-live" "$n.live" "$ctl" --socket "$dir/$n-live.sock" \
			process -- cat "$dir/text"
		timed "$n-kept" "$n.kept" "$ctl" --socket "$dir/$n-kept.sock" \
			process -- cat "$dir/text"
		id=$("$ctl" --socket "$dir/$n-kept.sock" --json list --limit 1 |
			sed -n 's/.*"jobs":\[{"id":\([0-9]*\).*/\1/p')
		timed "$n-kept" "$n.log" "$ctl" --socket "$dir/$n-kept.sock" log "$id"
		if [ "$round" = 1 ]; then
			"$ctl" --socket "$dir/$n-kept.sock" log "$id" | cmp - "$dir/text" ||
				{ echo "bench-output: asyncctl log gave other bytes" >&2; exit 1; }
		fi
		timed "$n-live" "$n.json" "$raw" rawproc "$dir/$n-live.sock" "$dir/text"
		timed "$n-kept" "$n.jsonkept" "$raw" rawproc "$dir/$n-kept.sock" "$dir/text"
	done
done
cat=$(median <"$dir/t.cat")
echo "$(($size / 1024 / 1024)) MiB of text, medians of $runs alternating rounds" \
	"(loop: the daemon's loop thread's share of the time):"
printf '  %-62s %7s s %6s MB/s\n' "cat FILE >/dev/null" "$cat" "$(mbps "$cat")"
row() {
	local t l
	t=$(median <"$dir/t.$2")
	l=$(median <"$dir/l.$2")
	printf '  %-62s %7s s %6s MB/s  loop %3s%%\n' "$1" "$t" "$(mbps "$t")" "$l"
}
for n in "${names[@]}"; do
	echo " ${n}:"
	row "asyncctl process -- cat FILE >/dev/null, --keep-output 0" "$n.live"
	row "asyncctl process -- cat FILE >/dev/null, output kept" "$n.kept"
	row "asyncctl log ID >/dev/null (the kept output read back)" "$n.log"
	row "JSON client (rawproc), --keep-output 0" "$n.json"
	row "JSON client (rawproc), output kept" "$n.jsonkept"
	live=$(median <"$dir/t.$n.live")
	echo "  kept / not kept, following live:      $(ratio "$live" "$(median <"$dir/t.$n.kept")")x the throughput"
	echo "  log read-back / live with --keep-output 0: $(ratio "$live" "$(median <"$dir/t.$n.log")")x the throughput"
done
if [ -n "${BASELINE:-}" ]; then
	echo " new / base throughput:"
	for l in live kept log json jsonkept; do
		echo "  $l: $(ratio "$(median <"$dir/t.base.$l")" "$(median <"$dir/t.new.$l")")x"
	done
fi
