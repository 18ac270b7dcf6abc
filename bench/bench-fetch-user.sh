#!/bin/bash
# fetch-user answered from the cache, beside sleep-0 jobs through the same
# daemon (the same requests and events, no cache); run by hand from a
# build (not a pass/fail test):
#   bench/bench-fetch-user.sh [BUILD_DIR] [OTHER_ASYNCD]
# (default: build/normal). With OTHER_ASYNCD (another build's daemon, e.g.
# main's), both daemons run side by side and the runs alternate.
# N (default 200000) jobs, pipelined from one client; the median of RUNS
# (default 5) runs; memory-only daemons.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build/normal}" && pwd)
other=${2:-}
runs=${RUNS:-5}
n=${N:-200000}
make -s -C "$build" daemon/asyncd bench/bench-core
bin=$build/bench/bench-core
dir=$(mktemp -d /tmp/asyncd-bench.XXXXXX)
daemons=
trap '[ -n "$daemons" ] && kill $daemons 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
. "$top/bench/bench-lib.sh"

start_daemon() { # BINARY SOCKET
	"$1" --socket "$2" --log-level warning --state-dir none \
		--max-queued-per-user 1000000 --keep-finished 1000 2>>"$dir/log" &
	daemons="$daemons $!"
	for _ in $(seq 100); do [ -S "$2" ] && return; sleep 0.05; done
	echo "asyncd did not start" >&2
	exit 1
}
start_daemon "$build/daemon/asyncd" "$dir/this.sock"
[ -z "$other" ] || start_daemon "$other" "$dir/other.sock"

as() { # NAME CMD...: CMD's one figure, renamed NAME
	local name=$1
	shift
	"$@" | awk -v n="$name" '{ print n, $2 }'
}
for _ in $(seq "$runs"); do
	as this_fetch "$bin" fetchuser "$dir/this.sock" "$n"
	as this_sleep "$bin" sleep0 "$dir/this.sock" 1 "$n"
	[ -z "$other" ] || as other_fetch "$bin" fetchuser "$dir/other.sock" "$n"
	[ -z "$other" ] || as other_sleep "$bin" sleep0 "$dir/other.sock" 1 "$n"
done >"$dir/figures"

median() {
	awk -v n="$1" '$1 == n { print $2 }' "$dir/figures" |
		sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
echo "jobs/s, $n jobs pipelined from one client, median of $runs runs"
printf '%-28s %12s %12s %8s\n' "" "fetch-user" "sleep 0" "ratio"
tf=$(median this_fetch) ts=$(median this_sleep)
printf '%-28s %12s %12s %8s\n' "this build" "$tf" "$ts" "$(ratio "$tf" "$ts")"
if [ -n "$other" ]; then
	of=$(median other_fetch) os=$(median other_sleep)
	printf '%-28s %12s %12s %8s\n' "$other" "$of" "$os" "$(ratio "$of" "$os")"
fi
