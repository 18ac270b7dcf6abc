#!/bin/bash
# Downloads with asyncd beside curl -o (the same libcurl) and wget, in one
# run; by hand from a build (not a pass/fail test):
#   bench/bench-download.sh [BUILD_DIR]      (default: build/normal)
#   BASELINE=OTHER_BUILD_DIR bench/bench-download.sh   (adds a row for the
#       asyncd of another build, e.g. one from before a change)
# Part 1 downloads from nginx (installed for the bench when missing and
# run as root; without it, from tests/httpd/testhttpd); part 2 needs socat
# and aria2c (installed the same way); a missing tool's rows are
# skipped.
#
#   1. one BIG-byte file (default 1 GiB, random bytes) written to the
#      same file system by each client in turn, RUNS (5) alternating
#      rounds: median MB/s and the ratio to curl -o (above 1: faster than
#      curl). asyncd also hashes it (SHA-256) as it goes; the others do
#      not. During one more asyncd download a second client times
#      daemon.info round trips (p50, p99, max): how long a download holds
#      the event loop up.
#   2. N (100) files of SMALL bytes (10 MiB) at once: asyncd with
#      --max-downloads N, all jobs submitted on one connection; against
#      curl fetching them one after another (one process, one
#      connection), curl --parallel and aria2c -j N. Total time, and the
#      peak RSS of asyncd (VmHWM of a fresh daemon).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build/normal}" && pwd)
baseline=${BASELINE:+$(cd "$BASELINE" && pwd)}
runs=${RUNS:-5}
big=${BIG:-1073741824}
n=${N:-100}
small=${SMALL:-10485760}
make -s -C "$build" daemon/asyncd daemon/asyncd-net client/asyncctl \
	tests/httpd/testhttpd
dir=$(mktemp -d /var/tmp/asyncd-bench-dl.XXXXXX)
sock=$dir/asyncd.sock
base_sock=$dir/baseline.sock
out=$dir/out
mkdir "$out" "$dir/www" "$dir/tmp"
daemon=
base_daemon=
httpd=
nginx=
trap 'kill $daemon $base_daemon $httpd $nginx 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$dir"' EXIT
have() { command -v "$1" >/dev/null; }

"$build/tests/httpd/testhttpd" --port 0 --port-file "$dir/port" >/dev/null &
httpd=$!
for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
url=http://127.0.0.1:$(cat "$dir/port")

# The tools the bench compares with, installed when missing (as root).
missing=()
[ -x /usr/sbin/nginx ] || missing+=(nginx)
have socat || missing+=(socat)
have aria2c || missing+=(aria2)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
	echo "installing ${missing[*]} for the bench (no service is started)" >&2
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || true
	rm -f /usr/sbin/policy-rc.d
fi

# nginx on a port of its own, one process as this user, serving $dir/www.
big_url=$url/bytes/$big
server=testhttpd
if [ -x /usr/sbin/nginx ]; then
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	head -c "$big" /dev/urandom >"$dir/www/big"
	{
		echo "daemon off; master_process off; pid $dir/nginx.pid;"
		echo "error_log stderr error; events { worker_connections 64; }"
		echo "http { access_log off; sendfile on;"
		for t in client_body proxy fastcgi uwsgi scgi; do
			echo "${t}_temp_path $dir/tmp;"
		done
		echo "server { listen 127.0.0.1:$port; root $dir/www; } }"
	} >"$dir/nginx.conf"
	/usr/sbin/nginx -e stderr -p "$dir" -c "$dir/nginx.conf" &
	nginx=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null -r 0-0 "http://127.0.0.1:$port/big" && break
		sleep 0.05
	done
	big_url=http://127.0.0.1:$port/big
	server=nginx
fi

start_daemon() {
	"$build/daemon/asyncd" --socket "$sock" --state-dir none \
		--log-level warning --download-dir "$out" "$@" 2>"$dir/log" &
	daemon=$!
	for _ in $(seq 100); do [ -S "$sock" ] && return; sleep 0.05; done
	echo "asyncd did not start" >&2
	exit 1
}
stop_daemon() { kill "$daemon"; wait "$daemon" || true; daemon=; }
now() { date +%s.%N; }
# Empties the output directory and lets the disk settle, untimed.
clean() { rm -rf "${out:?}"/*; sync; }

# timed CMD...: prints the seconds CMD took.
timed() {
	local t0 t1
	clean
	t0=$(now)
	"$@" >/dev/null
	t1=$(now)
	echo "$t1 - $t0" | bc
}

# median_of FILE: the median of the numbers in FILE, one a line.
median_of() {
	sort -n "$1" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# median CMD...: the median of $runs outputs of CMD.
median() {
	for _ in $(seq "$runs"); do "$@"; done >"$dir/samples"
	median_of "$dir/samples"
}

# probe STOPFILE: daemon.info round trips on a connection of its own, one
# every 5 ms, from when it creates STOPFILE.ready until STOPFILE exists;
# prints "p50 p99 max" in ms.
probe() {
	python3 - "$sock" "$1" <<'PY'
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rb")
lat, i = [], 0
open(sys.argv[2] + ".ready", "w").close()
while not os.path.exists(sys.argv[2]) or not lat:
    i += 1
    t0 = time.perf_counter()
    s.sendall(b'{"jsonrpc":"2.0","id":%d,"method":"daemon.info"}\n' % i)
    f.readline()
    lat.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.005)
lat.sort()
print("%.2f %.2f %.2f" % (lat[len(lat) // 2], lat[int(len(lat) * 0.99)], lat[-1]))
PY
}

# ---- 1. One big file ---------------------------------------------------------
one_asyncd() { "$build/client/asyncctl" --socket "$sock" download "$big_url" -o "$out/f"; }
one_baseline() { "$baseline/client/asyncctl" --socket "$base_sock" download "$big_url" -o "$out/f"; }
one_curl() { curl -sS -o "$out/f" "$big_url"; }
one_wget() { wget -q -O "$out/f" "$big_url"; }

tools=(asyncd curl)
if have wget; then tools+=(wget); fi
if [ -n "$baseline" ]; then
	"$baseline/daemon/asyncd" --socket "$base_sock" --state-dir none \
		--log-level warning --download-dir "$out" 2>"$dir/baseline.log" &
	base_daemon=$!
	for _ in $(seq 100); do [ -S "$base_sock" ] && break; sleep 0.05; done
	tools+=(baseline)
fi
start_daemon
# The hash asyncd reports is the file's.
want=$(curl -sS "$big_url" | sha256sum | cut -d' ' -f1)
got=$("$build/client/asyncctl" --socket "$sock" --json download "$big_url" -o "$out/f" |
	grep -o '"sha256":"[0-9a-f]*"' | tail -1 | cut -d'"' -f4)
if [ "$got" != "$want" ]; then
	echo "asyncd's SHA-256 $got is not the file's $want" >&2
	exit 1
fi
for _ in $(seq "$runs"); do
	for tool in "${tools[@]}"; do timed "one_$tool" >>"$dir/t1.$tool"; done
done
declare -A t1
for tool in "${tools[@]}"; do t1[$tool]=$(median_of "$dir/t1.$tool"); done
if have python3; then
	clean
	rm -f "$dir/stop"
	probe "$dir/stop" >"$dir/probe" &
	prober=$!
	while [ ! -e "$dir/stop.ready" ]; do sleep 0.05; done
	one_asyncd >/dev/null
	touch "$dir/stop"
	wait "$prober"
	read -r p50 p99 pmax <"$dir/probe"
fi
stop_daemon
if [ -n "$base_daemon" ]; then
	kill "$base_daemon"
	wait "$base_daemon" || true
	base_daemon=
fi

printf '1. one %d-byte file from %s to %s (median of %d alternating rounds)\n' \
	"$big" "$server" "$(df --output=fstype "$out" | tail -1)" "$runs"
for tool in "${tools[@]}"; do
	printf '   %-8s %7.2f s  %7.1f MB/s  ratio to curl %.2f\n' "$tool" \
		"${t1[$tool]}" "$(echo "$big / ${t1[$tool]} / 1000000" | bc -l)" \
		"$(echo "${t1[curl]} / ${t1[$tool]}" | bc -l)"
done
if [ -n "${t1[baseline]:-}" ]; then
	printf '   asyncd against the baseline build: %.2f\n' \
		"$(echo "${t1[baseline]} / ${t1[asyncd]}" | bc -l)"
fi
if [ -n "${p50:-}" ]; then
	printf '   daemon.info while asyncd downloads: p50 %s ms, p99 %s ms, max %s ms\n' \
		"$p50" "$p99" "$pmax"
fi
if ! have socat; then
	echo "2. skipped: no socat"
	exit 0
fi

# ---- 2. N files at once ------------------------------------------------------
# The job.submit lines, one connection; the daemon closes it once every job
# has ended and socat's side is shut.
many_asyncd() {
	local i
	for i in $(seq "$n"); do
		printf '{"jsonrpc":"2.0","id":%d,"method":"job.submit","params":{"kind":"download","args":{"url":"%s/bytes/%d","dest":"%s/m%d"}}}\n' \
			"$i" "$url" "$small" "$out" "$i"
	done | socat -t 600 - "UNIX-CONNECT:$sock" |
		awk -v n="$n" '/"job.failed"/ { print "FAILED: " $0 > "/dev/stderr" }
			/"job.(completed|failed)"/ { if (++ended == n) exit }'
}
many_curl() {
	local i args=()
	for i in $(seq "$n"); do args+=(-o "$out/m$i" "$url/bytes/$small"); done
	curl -sS "${args[@]}"
}
many_curl_parallel() {
	local i args=()
	for i in $(seq "$n"); do args+=(-o "$out/m$i" "$url/bytes/$small"); done
	curl -sS --parallel --parallel-max "$n" "${args[@]}" 2>/dev/null
}
many_aria2() {
	local i
	for i in $(seq "$n"); do printf '%s/bytes/%d\n  out=m%d\n' "$url" "$small" "$i"; done >"$dir/list"
	aria2c -q --file-allocation=none -j "$n" -x1 -s1 -d "$out" -i "$dir/list"
}
# A fresh daemon per run, so that VmHWM is this run's peak.
many_asyncd_run() {
	start_daemon --max-downloads "$n"
	local t
	t=$(timed many_asyncd)
	echo "$t $(awk '/VmHWM/ { print $2 }' "/proc/$daemon/status")" >>"$dir/hwm"
	stop_daemon
	echo "$t"
}

: >"$dir/hwm"
t2_asyncd=$(median many_asyncd_run)
hwm=$(sort -n -k2 "$dir/hwm" | awk '{ v[NR] = $2 } END { print v[int((NR + 1) / 2)] }')
start_daemon
idle_hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$daemon/status")
stop_daemon
t2_curl=$(median timed many_curl)
t2_curlp=$(median timed many_curl_parallel)
t2_aria2=
have aria2c && t2_aria2=$(median timed many_aria2)

printf '2. %d files of %d bytes at once (median of %d)\n' "$n" "$small" "$runs"
row() {
	printf '   %-28s %7.2f s  %7.1f MB/s  ratio to sequential curl %.2f\n' \
		"$1" "$2" "$(echo "$n * $small / $2 / 1000000" | bc -l)" \
		"$(echo "$t2_curl / $2" | bc -l)"
}
row "asyncd ($n concurrent)" "$t2_asyncd"
row "curl, one after another" "$t2_curl"
row "curl --parallel" "$t2_curlp"
if [ -n "$t2_aria2" ]; then row "aria2c -j $n" "$t2_aria2"; fi
printf '   asyncd peak RSS (VmHWM): %d KiB (idle daemon: %d KiB)\n' "$hwm" "$idle_hwm"
