#!/bin/bash
# A replay of kept output made of many small chunks, beside another
# build's daemon in the same run; by hand from a build (not a pass/fail
# test):
#   bench/bench-replay.sh [BUILD_DIR]                 (default: build/normal)
#   BASELINE=OTHER_BUILD_DIR bench/bench-replay.sh    (adds its daemon)
# A process job prints LINES (default 200000) lines one write each, which
# each daemon keeps (with a state directory); then a client asks for
# job.watch {"since": 0} and reads every replayed event. Prints, per
# daemon, the medians of RUNS (default 5) rounds: the time to the answer
# (what the loop did before it: counting the kept chunks), the time to
# the last replayed event, and how many events there were (the daemons
# may cut the output into chunks differently).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build/normal}" && pwd)
baseline=${BASELINE:+$(cd "$BASELINE" && pwd)}
runs=${RUNS:-5}
lines=${LINES:-200000}
make -s -C "$build" daemon/asyncd
dir=$(mktemp -d "${BENCH_DIR:-/tmp}/asyncd-bench-replay.XXXXXX")
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT

# start NAME BUILD: a daemon on $dir/NAME.sock with its own state.
start() {
	"$2/daemon/asyncd" --socket "$dir/$1.sock" --state-dir "$dir/$1.state" \
		--config /dev/null --log-level warning 2>"$dir/$1.log" &
	pids+=($!)
	for _ in $(seq 100); do [ -S "$dir/$1.sock" ] && break; sleep 0.05; done
}
names=(asyncd)
start asyncd "$build"
if [ -n "$baseline" ]; then
	start baseline "$baseline"
	names+=(baseline)
fi

python3 - "$dir" "$runs" "$lines" "${names[@]}" <<'PY'
import json, socket, statistics, sys, time

dir, runs, lines, names = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
program = ("import sys\nfor i in range(%d):\n"
           "  sys.stdout.write('line %%d\\n' %% i); sys.stdout.flush()" % lines)

def connect(name):
    s = socket.socket(socket.AF_UNIX)
    s.connect("%s/%s.sock" % (dir, name))
    return s, s.makefile("rb")

def call(conn, i, method, params):
    s, f = conn
    s.sendall((json.dumps({"jsonrpc": "2.0", "id": i, "method": method,
                           "params": params}) + "\n").encode())
    while True:
        m = json.loads(f.readline())
        if m.get("id") == i:
            return m

jobs = {}
for name in names:
    conn = connect(name)
    r = call(conn, 1, "job.submit", {"kind": "process", "watch": False,
             "args": {"argv": ["python3", "-c", program]}})
    jobs[name] = r["result"]["job"]["id"]
    while call(conn, 2, "job.get", {"id": jobs[name]})["result"]["job"]["state"] \
            in ("queued", "running"):
        time.sleep(0.1)

answer, whole, count = {n: [] for n in names}, {n: [] for n in names}, {}
for _ in range(runs):
    for name in names:  # alternating, so that load weighs on both alike
        s, f = connect(name)
        t0 = time.perf_counter()
        s.sendall((json.dumps({"jsonrpc": "2.0", "id": 9, "method": "job.watch",
                               "params": {"id": jobs[name], "since": 0}}) + "\n").encode())
        got = 0
        while True:
            m = json.loads(f.readline())
            if m.get("id") == 9:
                answer[name].append(time.perf_counter() - t0)
                count[name] = m["result"]["replayed"]
            elif "method" in m:
                got += 1
            if count.get(name) is not None and got == count[name] and "id" not in m:
                break
        whole[name].append(time.perf_counter() - t0)
        s.close()

print("a job of %d one-line writes, job.watch since 0, medians of %d rounds:" % (lines, runs))
for name in names:
    print("  %-9s %7d events   answer %8.1f ms   last event %8.1f ms" % (
        name, count[name], statistics.median(answer[name]) * 1000,
        statistics.median(whole[name]) * 1000))
PY
