#!/usr/bin/python3
"""asyncctl top in a real pseudo-terminal (python3-pexpect), read back
through a terminal emulator (python3-pyte), against a running asyncd.

Usage: top-test.py ASYNCCTL SOCKET    run the test; exit 0 when it passed,
                                      1 with the reason and the screen
       top-test.py --check            exit 77 when a module is missing

Jobs are submitted through the socket by this script, another client than
the view. Every wait has a deadline and looks at the screen or the daemon
again and again, never a fixed sleep. Exit 77 when pexpect or pyte is
missing."""
import json
import re
import socket
import sys
import time

try:
    import pexpect
    import pyte
except ImportError as e:
    print("SKIP: python3-pexpect and python3-pyte are needed (%s)" % e,
          file=sys.stderr)
    sys.exit(77)

ROWS, COLS = 30, 120
DEADLINE = 10  # seconds any one thing may take on a loaded machine
ALT_SCREEN = 1049 << 5  # pyte keeps private modes shifted by 5


class Failure(Exception):
    pass


class Screen(pyte.Screen):
    """pyte's screen, plus what ncurses sends an xterm that pyte 0.8
    lacks: scrolling a region (SU, SD), repeating a character (REP) and
    the alternate screen (private mode 1049)."""

    def __init__(self, columns, lines):
        super().__init__(columns, lines)
        self.last_char = " "
        self.saved_screen = None

    def draw(self, data):
        if data:
            self.last_char = data[-1]
        super().draw(data)

    def repeat_char(self, count=1, *args, **kwargs):
        self.draw(self.last_char * max(count, 1))

    def _in_margins(self, count, insert):
        top = self.margins.top if self.margins else 0
        x, y = self.cursor.x, self.cursor.y
        self.cursor.y = top
        if insert:
            self.insert_lines(count or 1)
        else:
            self.delete_lines(count or 1)
        self.cursor.x, self.cursor.y = x, y

    def scroll_down(self, count=1, *args, **kwargs):
        self._in_margins(count, True)

    def scroll_up(self, count=1, *args, **kwargs):
        self._in_margins(count, False)

    def set_mode(self, *modes, **kwargs):
        if kwargs.get("private") and 1049 in modes:
            self.saved_screen = ({y: dict(line) for y, line in self.buffer.items()},
                                 self.cursor.x, self.cursor.y)
            self.erase_in_display(2)
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes, **kwargs):
        super().reset_mode(*modes, **kwargs)
        if kwargs.get("private") and 1049 in modes and self.saved_screen:
            lines, x, y = self.saved_screen
            self.buffer.clear()
            for row, chars in lines.items():
                self.buffer[row].update(chars)
            self.cursor.x, self.cursor.y = x, y
            self.saved_screen = None


class Stream(pyte.ByteStream):
    csi = dict(pyte.ByteStream.csi, S="scroll_up", T="scroll_down",
               b="repeat_char")


class Daemon:
    """A connection of our own to asyncd: requests and their answers."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 0

    def call(self, method, params=None):
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        self.sock.settimeout(DEADLINE)
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise Failure("the daemon closed the connection")
                self.buf += data
            line, self.buf = self.buf.split(b"\n", 1)
            reply = json.loads(line)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise Failure("%s: %s" % (method, reply["error"]))
                return reply["result"]

    def submit(self, kind, args, **extra):
        params = {"kind": kind, "args": args, "watch": False}
        params.update(extra)
        return self.call("job.submit", params)["job"]["id"]

    def job(self, job_id):
        return self.call("job.get", {"id": job_id})["job"]


class Terminal:
    """The view in a pseudo-terminal, and what the emulator shows."""

    def __init__(self, asyncctl, sock):
        self.screen = Screen(COLS, ROWS)
        self.stream = Stream(self.screen)
        # A shell around it shows what follows the view: its exit status
        # and the terminal's modes once it has restored them.
        script = ('echo before-top-marker; "$0" --socket "$1" top; '
                  'echo "top-exit=$?"; stty -a')
        self.child = pexpect.spawn(
            "/bin/sh", ["-c", script, asyncctl, sock],
            dimensions=(ROWS, COLS),
            env={"TERM": "xterm", "LANG": "C.UTF-8", "TZ": "UTC",
                 "PATH": "/usr/bin:/bin"})
        self.ended = False

    def pump(self, seconds):
        """Feeds what the view writes to the emulator for SECONDS."""
        end = time.monotonic() + seconds
        while not self.ended:
            left = end - time.monotonic()
            if left <= 0:
                break
            try:
                self.stream.feed(self.child.read_nonblocking(65536, left))
            except pexpect.TIMEOUT:
                break
            except pexpect.EOF:
                self.ended = True

    def text(self):
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait(self, what, check, timeout=DEADLINE):
        """Pumps until CHECK() is true; fails naming WHAT otherwise."""
        end = time.monotonic() + timeout
        while True:
            got = check()
            if got:
                return got
            if time.monotonic() > end or self.ended:
                raise Failure("no %s on the screen in %d s" % (what, timeout))
            self.pump(0.1)

    def wait_text(self, pattern, timeout=DEADLINE):
        return self.wait(repr(pattern),
                         lambda: re.search(pattern, self.text(), re.M),
                         timeout)

    def send(self, keys):
        self.child.send(keys)

    def row_of(self, job_id):
        """The line of the screen that shows job JOB_ID, or None."""
        for line in self.screen.display:
            if re.match(r"\s*%d\s" % job_id, line):
                return line
        return None

    def selected(self):
        """The line drawn in reverse video: the selection."""
        for y in range(self.screen.lines):
            if self.screen.buffer[y][0].reverse:
                return self.screen.display[y]
        return None


def wait_daemon(what, check):
    end = time.monotonic() + DEADLINE
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > end:
            raise Failure("the daemon never showed %s" % what)
        time.sleep(0.05)


def select(term, job_id):
    """Moves the selection onto JOB_ID with the arrow keys."""
    term.send("g")  # the first row
    for _ in range(40):
        term.wait("a selection", term.selected)
        if re.match(r"\s*%d\s" % job_id, term.selected()):
            return
        term.send("\x1b[B")  # down
        before = term.selected()
        term.wait("the selection moving",
                  lambda: term.selected() != before or
                  re.match(r"\s*%d\s" % job_id, term.selected()))
    raise Failure("could not select job %d" % job_id)


def percent(term, job_id):
    row = term.row_of(job_id)
    m = re.search(r"(\d+)%", row or "")
    return int(m.group(1)) if m else None


def run(d, term):
    term.wait_text(r"^asyncd \S+\s+up ")
    term.wait_text(r"^RUNNING \(0\)")

    # Jobs another client submits appear: a process that reports its
    # progress (and writes lines), a sleep, and a job held in a paused
    # queue, which no event announces until it starts.
    prog = d.submit("process", {"argv": [
        "sh", "-c",
        "i=0; while [ $i -lt 400 ]; do i=$((i+1)); "
        "echo $i/400 >&$ASYNCD_PROGRESS_FD; echo output line $i; "
        "sleep 0.05; done"]}, label="prog-job")
    sleeper = d.submit("sleep", {"ms": 60000}, label="sleeper-job")
    d.call("queue.set", {"name": "held", "max_running": 1})
    d.call("queue.pause", {"name": "held"})
    held = d.submit("sleep", {"ms": 1000}, queue="held", priority=7,
                    label="held-job")
    term.wait("job %d running with its label" % prog,
              lambda: "prog-job" in (term.row_of(prog) or ""))
    term.wait("job %d running" % sleeper,
              lambda: "sleeper-job" in (term.row_of(sleeper) or ""))
    term.wait("job %d queued in held, priority 7, queue paused" % held,
              lambda: re.search(r"held\s+7\s+queue paused\s+held-job",
                                term.row_of(held) or ""))
    term.wait_text(r"^QUEUED \(1\)")
    term.wait_text(r"held 0/1 max 1 PAUSED")

    # The running job's progress moves.
    first = term.wait("a percentage for job %d" % prog,
                      lambda: percent(term, prog))
    term.wait("job %d's progress moving past %d%%" % (prog, first),
              lambda: (percent(term, prog) or 0) > first)
    term.wait("a rate for job %d" % prog,
              lambda: re.search(r"\d/s", term.row_of(prog) or ""))

    # l: its output, kept and live, in a pane that follows the last
    # lines; g goes to the first one; Esc comes back.
    select(term, prog)
    term.send("l")
    term.wait_text(r"job %d \(process\): running" % prog)
    term.wait_text(r"^output line \d+$")
    term.send("g")
    term.wait_text(r"^output line 1$")
    term.send("\x1b")
    term.wait_text(r"^RUNNING \(2\)")

    # p pauses the selected job, r resumes it.
    select(term, prog)
    term.send("p")
    wait_daemon("job %d paused" % prog, lambda: d.job(prog)["paused"])
    term.wait("PAUSED on job %d's row" % prog,
              lambda: "PAUSED" in (term.row_of(prog) or ""))
    term.send("r")
    wait_daemon("job %d resumed" % prog, lambda: not d.job(prog)["paused"])
    term.wait("job %d no longer PAUSED" % prog,
              lambda: "PAUSED" not in (term.row_of(prog) or "PAUSED"))

    # c cancels it: it fails with "cancelled" and shows among the
    # finished jobs.
    term.send("c")
    job = wait_daemon("job %d failed" % prog,
                      lambda: (lambda j: j if j["state"] == "failed" else None)
                      (d.job(prog)))
    if job["error"]["code"] != "cancelled":
        raise Failure("job %d failed with %s" % (prog, job["error"]))
    term.wait("job %d finished as cancelled" % prog,
              lambda: re.search(r"\s%d\s+process\s+default\s+cancelled" % prog,
                                term.text()))
    term.wait_text(r"^FINISHED \(1\)")

    # The view follows the terminal's size.
    term.child.setwinsize(24, 90)
    term.screen.resize(24, 90)
    term.wait("the keys on the last row of 24",
              lambda: "q quit" in term.screen.display[23])
    term.wait("the sleeper in 90 columns",
              lambda: "sleeper-job" not in term.text() and
              term.row_of(sleeper) is not None)

    # q quits: status 0, the alternate screen is left (what was there
    # before shows again) and the terminal's modes are back.
    term.send("q")
    term.wait_text(r"^top-exit=0$")
    term.wait_text(r"\bicanon\b")
    if term.screen.mode & {ALT_SCREEN}:
        raise Failure("the alternate screen is still on")
    if "before-top-marker" not in term.text():
        raise Failure("the screen from before the view is not back")
    if re.search(r"(^|\s)-(icanon|echo)\b", term.text()):
        raise Failure("the terminal's modes were not restored")
    term.child.expect(pexpect.EOF, timeout=DEADLINE)
    term.child.close()
    for job_id in (sleeper, held):
        d.call("job.cancel", {"id": job_id})


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--check":
        return 0
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    start = time.monotonic()
    term = None
    try:
        d = Daemon(sys.argv[2])
        term = Terminal(sys.argv[1], sys.argv[2])
        run(d, term)
    except (Failure, pexpect.ExceptionPexpect, OSError) as e:
        print("FAIL: %s" % e, file=sys.stderr)
        if term is not None:
            print("The screen:\n%s" % term.text(), file=sys.stderr)
            term.child.close(force=True)
        return 1
    print("top-test passed in %.1f s" % (time.monotonic() - start))
    return 0


if __name__ == "__main__":
    sys.exit(main())
