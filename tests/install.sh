#!/bin/sh
# Installs into a scratch DESTDIR and checks that the programs, the
# systemd units, the manuals and the bash completion land where they
# belong, that the manuals are lint-clean, and that systemd accepts the
# units. Run from the top build directory (as `make check` does).
set -u

top=$(pwd)
if [ ! -f "$top/Makefile" ] && [ -n "${ASYNCD:-}" ]; then
	top=$(dirname "$(dirname "$ASYNCD")")
fi
dest=$(mktemp -d /tmp/asyncd-install.XXXXXX) || exit 99
trap 'rm -rf "$dest"' EXIT INT TERM
failures=0

fail() {
	echo "FAIL: $*"
	failures=$((failures + 1))
}

# The value of VAR in the Makefile, with make's own expansion.
makevar() {
	printf 'print-var:\n\t@echo $(%s)\n' "$1" |
		make -s -C "$top" -f Makefile -f - print-var
}

# A clean sub-make: not the job server of the `make check` running us.
unset MAKEFLAGS MFLAGS MAKELEVEL
if ! make -s -C "$top" install DESTDIR="$dest" >"$dest.log" 2>&1; then
	cat "$dest.log"
	rm -f "$dest.log"
	echo "FAIL: make install"
	exit 1
fi
rm -f "$dest.log"

sbindir=$(makevar sbindir)
bindir=$(makevar bindir)
mandir=$(makevar mandir)
unitdir=$(makevar systemdsystemunitdir)
userunitdir=$(makevar systemduserunitdir)
compdir=$(makevar bashcompletiondir)

for f in "$sbindir/asyncd" "$bindir/asyncctl"; do
	[ -x "$dest$f" ] || fail "$f not installed"
done
for f in "$mandir/man8/asyncd.8" "$mandir/man1/asyncctl.1" \
	"$mandir/man5/asyncd.conf.5" "$unitdir/asyncd.socket" \
	"$unitdir/asyncd.service" "$userunitdir/asyncd.socket" \
	"$userunitdir/asyncd.service" "$compdir/asyncctl"; do
	[ -s "$dest$f" ] || fail "$f not installed"
done

# The service units start the installed daemon.
for f in "$unitdir/asyncd.service" "$userunitdir/asyncd.service"; do
	grep -q "^ExecStart=$sbindir/asyncd\$" "$dest$f" 2>/dev/null ||
		fail "$f: ExecStart does not name $sbindir/asyncd"
	! grep -q '@[a-z]*@' "$dest$f" 2>/dev/null ||
		fail "$f: unsubstituted @variable@"
done

# The manuals: lint-clean at warning level, and a page for each option
# of `asyncd --help`.
if command -v mandoc >/dev/null 2>&1; then
	for f in "$dest$mandir"/man*/*; do
		out=$(mandoc -Tlint -Wwarning "$f" 2>&1) ||
			fail "mandoc -Tlint $f: $out"
	done
	for opt in $("$dest$sbindir/asyncd" --help |
		sed -n 's/^  \(--[a-z-]*\).*/\1/p'); do
		# ".It Fl \-name": Fl writes the first dash.
		awk -v o="${opt#-}" '$1 == ".It" {
			for (i = 2; i < NF; i++)
				if ($i == "Fl" && $(i + 1) == "\\" o)
					found = 1
		} END { exit !found }' "$dest$mandir/man8/asyncd.8" ||
			fail "asyncd.8 does not document $opt"
	done
else
	echo "SKIP: mandoc not installed"
fi

# The completion script loads in bash and completes a subcommand.
if command -v bash >/dev/null 2>&1; then
	out=$(bash -c '. "$1" && COMP_LINE="asyncctl rea" &&
		COMP_POINT=${#COMP_LINE} && COMP_WORDS=(asyncctl rea) &&
		COMP_CWORD=1 && _asyncctl asyncctl rea asyncctl &&
		echo "${COMPREPLY[*]}"' sh "$dest$compdir/asyncctl" 2>&1)
	[ "$out" = read-file ] || fail "completion: got '$out'"
fi

# systemd-analyze verify on the installed units, with the installed
# daemon in place of the one they name (it is not installed for real).
if command -v systemd-analyze >/dev/null 2>&1; then
	vdir="$dest/verify"
	mkdir -p "$vdir/user"
	for u in asyncd.socket asyncd.service; do
		sed "s|^ExecStart=$sbindir/|ExecStart=$dest$sbindir/|" \
			"$dest$unitdir/$u" >"$vdir/$u"
		sed "s|^ExecStart=$sbindir/|ExecStart=$dest$sbindir/|" \
			"$dest$userunitdir/$u" >"$vdir/user/$u"
	done
	# The metrics timer pair: installed, not enabled.
	sed "s|^ExecStart=$bindir/|ExecStart=$dest$bindir/|" \
		"$dest$unitdir/asyncd-metrics.service" >"$vdir/asyncd-metrics.service"
	cp "$dest$unitdir/asyncd-metrics.timer" "$vdir/"
	if out=$(systemd-analyze verify --man=no "$vdir/asyncd.socket" \
		"$vdir/asyncd.service" "$vdir/asyncd-metrics.service" \
		"$vdir/asyncd-metrics.timer" 2>&1); then
		[ -z "$out" ] || fail "systemd-analyze verify: $out"
	elif echo "$out" | grep -q -i -e 'failed to initialize' \
		-e 'failed to .*manager' -e 'no such device'; then
		echo "SKIP: systemd-analyze verify cannot run here: $out"
	else
		fail "systemd-analyze verify: $out"
	fi
	rt=${XDG_RUNTIME_DIR:-$dest/runtime}
	mkdir -p "$rt" && chmod 700 "$rt"
	if out=$(XDG_RUNTIME_DIR=$rt systemd-analyze --user verify \
		--man=no "$vdir/user/asyncd.socket" \
		"$vdir/user/asyncd.service" 2>&1); then
		[ -z "$out" ] || fail "systemd-analyze --user verify: $out"
	elif echo "$out" | grep -q -i -e 'failed to initialize' \
		-e 'failed to .*manager' -e 'no such device'; then
		echo "SKIP: systemd-analyze --user verify cannot run here: $out"
	else
		fail "systemd-analyze --user verify: $out"
	fi
else
	echo "SKIP: systemd-analyze not installed"
fi

if [ "$failures" -ne 0 ]; then
	echo "$failures check(s) failed"
	exit 1
fi
echo "PASS: install into DESTDIR, units, manuals, completion"
exit 0
