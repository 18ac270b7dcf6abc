#!/bin/bash
# Kept output beside live output, in one run; run by hand from a build
# (not a pass/fail test):
#   bench/bench-output.sh [BUILD_DIR]        (default: build/normal)
# A process job writes a page-cached 1 GiB text file to its stdout
# (`cat FILE`), followed live by `asyncctl process ... >/dev/null`, on a
# daemon that keeps no output (--keep-output 0) and on one that keeps all
# of it (--keep-output 2 GiB, in its state directory); then the kept
# 1 GiB is read back with `asyncctl log ID >/dev/null`. Rounds alternate
# between the daemons; each figure is the median of RUNS rounds (default
# 5), with `cat FILE >/dev/null` as the baseline.
# A raw JSON client (bench-read-file rawcat: the events read off the
# socket, not parsed) follows the same job on the daemon that keeps
# nothing: every chunk is encoded as a JSON string for it. With
# BASELINE=OTHER_BUILD_DIR the same client runs against that build's
# daemon too, in the same rounds. Beside its throughput: the CPU time
# the daemon's loop thread spent for it, per GiB (from /proc).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/bench/bench-lib.sh"
build=$(cd "${1:-$top/build/normal}" && pwd)
runs=${RUNS:-5}
size=$((${SIZE_MB:-1024} * 1024 * 1024))
make -s -C "$build" daemon/asyncd client/asyncctl bench/bench-read-file
ctl=$build/client/asyncctl
raw=$build/bench/bench-read-file
baseline=${BASELINE:+$(cd "$BASELINE" && pwd)}
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/asyncd-bench-output.XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

# Lines of base64: ASCII, so every chunk goes out as UTF-8 text.
lines=$((size / 77))
head -c $((lines * 57)) /dev/urandom | base64 -w 76 >"$dir/text"
head -c $((size - lines * 77)) /dev/zero | tr '\0' x >>"$dir/text"
cat "$dir/text" >/dev/null # into the page cache

# start NAME OPTIONS...: a daemon on $dir/NAME.sock with its own state
# (from $daemon_build).
daemon_build=$build
start() {
	local name=$1
	shift
	"$daemon_build/daemon/asyncd" --socket "$dir/$name.sock" \
		--state-dir "$dir/$name.state" --config /dev/null \
		--log-level warning "$@" 2>"$dir/$name.log" &
	pids+=($!)
	for _ in $(seq 100); do [ -S "$dir/$name.sock" ] && break; sleep 0.05; done
}
start live --keep-output 0
live_pid=${pids[-1]}
start kept --keep-output $((2 * 1024 * 1024 * 1024)) \
	--keep-output-total $((2 * 1024 * 1024 * 1024))
if [ -n "$baseline" ]; then
	daemon_build=$baseline start base --keep-output 0
	base_pid=${pids[-1]}
fi

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
mbps() { awk -v s="$size" -v t="$1" 'BEGIN { printf "%.0f", s / t / 1e6 }'; }

: >"$dir/t.cat"
: >"$dir/t.live"
: >"$dir/t.kept"
: >"$dir/t.log"
: >"$dir/t.json"
: >"$dir/t.basejson"
: >"$dir/c.json"
: >"$dir/c.basejson"
hz=$(getconf CLK_TCK)
# loop_cpu PID: CPU seconds of the daemon's loop thread (its main one).
loop_cpu() { awk -v hz="$hz" '{ printf "%.2f\n", ($14 + $15) / hz }' "/proc/$1/task/$1/stat"; }
# rawcat NAME PID: the raw JSON client's seconds to t.NAME, and its loop
# CPU seconds per GiB to c.NAME.
rawcat() {
	local before after
	before=$(loop_cpu "$2")
	"$raw" rawcat "$dir/${3}.sock" "$dir/text" | awk '{ print $2 }' >>"$dir/t.$1"
	after=$(loop_cpu "$2")
	awk -v a="$before" -v b="$after" -v s="$size" \
		'BEGIN { printf "%.2f\n", (b - a) * 1073741824 / s }' >>"$dir/c.$1"
}
for round in $(seq "$runs"); do
	seconds cat "$dir/text" >>"$dir/t.cat"
	seconds "$ctl" --socket "$dir/live.sock" process -- cat "$dir/text" >>"$dir/t.live"
	rawcat json "$live_pid" live
	if [ -n "$baseline" ]; then rawcat basejson "$base_pid" base; fi
	seconds "$ctl" --socket "$dir/kept.sock" process -- cat "$dir/text" >>"$dir/t.kept"
	id=$("$ctl" --socket "$dir/kept.sock" --json list --limit 1 |
		sed -n 's/.*"jobs":\[{"id":\([0-9]*\).*/\1/p')
	seconds "$ctl" --socket "$dir/kept.sock" log "$id" >>"$dir/t.log"
	if [ "$round" = 1 ]; then
		"$ctl" --socket "$dir/kept.sock" log "$id" | cmp - "$dir/text" ||
			{ echo "bench-output: asyncctl log gave other bytes" >&2; exit 1; }
	fi
done
cat=$(median <"$dir/t.cat")
live=$(median <"$dir/t.live")
kept=$(median <"$dir/t.kept")
log=$(median <"$dir/t.log")
json=$(median <"$dir/t.json")
echo "$(($size / 1024 / 1024)) MiB of text, medians of $runs alternating rounds:"
printf '  %-58s %7s s %6s MB/s\n' \
	"cat FILE >/dev/null" "$cat" "$(mbps "$cat")" \
	"asyncctl process -- cat FILE >/dev/null, --keep-output 0" "$live" "$(mbps "$live")" \
	"asyncctl process -- cat FILE >/dev/null, output kept" "$kept" "$(mbps "$kept")" \
	"asyncctl log ID >/dev/null (the kept output read back)" "$log" "$(mbps "$log")" \
	"raw JSON client, --keep-output 0" "$json" "$(mbps "$json")"
if [ -n "$baseline" ]; then
	basejson=$(median <"$dir/t.basejson")
	printf '  %-58s %7s s %6s MB/s\n' \
		"raw JSON client, --keep-output 0, the baseline build" \
		"$basejson" "$(mbps "$basejson")"
	echo "  raw JSON client, this build / baseline: $(ratio "$basejson" "$json")x the throughput"
	echo "  loop thread CPU per GiB for the raw JSON client: $(median <"$dir/c.json") s," \
		"baseline $(median <"$dir/c.basejson") s"
else
	echo "  loop thread CPU per GiB for the raw JSON client: $(median <"$dir/c.json") s"
fi
echo "  kept / not kept, following live:      $(ratio "$live" "$kept")x the throughput"
echo "  log read-back / live with --keep-output 0: $(ratio "$live" "$log")x the throughput"
