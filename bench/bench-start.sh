#!/bin/bash
# Start-up time of asyncd beside a minimal libevent server, in one run;
# run by hand from a build (not a pass/fail test):
#   bench/bench-start.sh [BUILD_DIR] [ASYNCD]
# (default: build/normal, and the asyncd built there; give another
# daemon binary as ASYNCD to compare builds with the same baseline).
# Each start is timed from fork to the first answered request on the
# socket (bench-start: connect, send, read one line, retried until it
# works); the servers start N times (default 50) alternately:
# - bench/minimal-server: a libevent listener that answers one line;
# - asyncd --state-dir none (memory only);
# - asyncd with a state directory, kept across its starts (a restart of
#   a daemon with no jobs);
# - minimal-server-sqlite: the same listener opening a copy of that state
#   directory's SQLite file first (WAL, quick check, one read), the least
#   a server that keeps its state in SQLite does: the baseline of the
#   state directory's row too.
# Prints the median of each and the ratios to the baseline.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build/normal}" && pwd)
asyncd=${2:-$build/daemon/asyncd}
n=${N:-50}
make -s -C "$build" daemon/asyncd bench/bench-start bench/minimal-server \
	bench/minimal-server-sqlite
bin=$build/bench/bench-start
dir=$(mktemp -d /tmp/asyncd-bench.XXXXXX)
sock=$dir/s.sock
trap 'rm -rf "$dir"' EXIT
. "$top/bench/bench-lib.sh"

# as NAME CMD...: CMD's one figure, renamed NAME.
as() {
	local name=$1
	shift
	"$@" 2>>"$dir/log" | awk -v n="$name" '{ print n, $2 }'
}

# One start makes the state directory, whose database the SQLite
# baseline opens a copy of (WAL mode, asyncd's schema).
"$bin" "$sock" "$asyncd" --socket "$sock" --log-level warning \
	--state-dir "$dir/state" >/dev/null 2>>"$dir/log"
cp "$dir/state/asyncd.db" "$dir/minimal.db"

# The servers alternate, so that a change of load on the machine weighs
# on all of them alike.
for _ in $(seq "$n"); do
	as minimal "$bin" "$sock" "$build/bench/minimal-server" "$sock"
	as minimaldb "$bin" "$sock" "$build/bench/minimal-server-sqlite" "$sock" \
		"$dir/minimal.db"
	as memory "$bin" "$sock" "$asyncd" --socket "$sock" \
		--log-level warning --state-dir none
	as state "$bin" "$sock" "$asyncd" --socket "$sock" \
		--log-level warning --state-dir "$dir/state"
done >"$dir/figures"

# median NAME: the median of the figures named NAME, in ms.
median() {
	awk -v n="$1" '$1 == n { print $2 }' "$dir/figures" | sort -n |
		awk '{ v[NR] = $1 } END { printf "%.2f", v[int((NR + 1) / 2)] / 1000 }'
}
m=$(median minimal) a=$(median memory) s=$(median state)
md=$(median minimaldb)
[ "$(grep -c . "$dir/figures")" -eq $((n * 4)) ] ||
	{ cat "$dir/log" >&2; echo "some starts failed" >&2; exit 1; }

echo "start to first answer, median of $n starts each, $(nproc) CPUs"
echo "shared libraries of asyncd: $(ldd "$asyncd" | grep -c '=>')"
printf '%-40s %8s ms\n' "minimal libevent server" "$m"
printf '%-40s %8s ms   ratio %s\n' "asyncd --state-dir none" "$a" "$(ratio "$a" "$m")"
printf '%-40s %8s ms   ratio %s\n' "asyncd, state directory" "$s" "$(ratio "$s" "$m")"
printf '%-40s %8s ms   ratio %s\n' "minimal server opening a SQLite file" "$md" "$(ratio "$md" "$m")"
echo "asyncd with a state directory / minimal server with SQLite: $(ratio "$s" "$md")"
