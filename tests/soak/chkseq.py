#!/usr/bin/env python3
"""chkseq - every line written is stored exactly once, whatever happens to the log and daemon.

In the manner of rsyslog's chkseq: a writer thread appends numbered Postfix delivery lines
(recipient nN@example.com) to a log while this driver, from a seeded random schedule, rotates
the log (rename + create, copytruncate, delete + recreate), truncates it, stops the daemon with
SIGTERM and SIGKILL (sometimes rotating while it is down) and restarts it, and restarts
PostgreSQL. At the end the deliveries table must hold each number exactly once.

Honest limits, the same for any log tailer:
  - copytruncate: lines written between the copy and the truncation are in neither file for a
    reader that has not read them yet; the writer pauses during the copy and truncation (what
    logrotate users accept) and the step waits until the daemon has caught up first.
  - truncate and delete + recreate discard what nobody has read yet: those steps wait until
    the daemon has read everything (its lag is 0) before they cut the file.
  - copytruncate while PostgreSQL is down (pg_copytruncate) does not wait for the daemon, and
    loses nothing: the daemon catches up, PostgreSQL is stopped, more than a batch is written
    at once (the reader is held by the failing commit of a full batch, in the middle of the
    file, with lines read and not committed), the writer runs a moment, then the copy and the
    truncation with the writer paused, so the copy holds every line up to the truncation. The
    live file is then written past the size of the copy, past wherever the reader stopped,
    before PostgreSQL comes back: the daemon must notice the rewrite before its next read and
    find the rest in mail.log.1 (a reader that looks only when idle, or only at the size, reads
    on at its old offset in the new file). These lines are all one length within a digit count
    and end alike, so the bytes just before that offset are often the same in the new file:
    they alone do not show the rewrite. One rotation per outage: the next fault waits until
    the daemon has stored every line written before PostgreSQL came back. A rename while the
    daemon still reads the copy loses the live file it renames (the daemon opens the path after
    the rotated files, by then another file), a limit of the daemon this does not test.
Renames (while running and while stopped), daemon kills and database restarts happen at any
moment, with the writer running.

usage: chkseq.py --bin MAILPULSE --pgdir DIR --work DIR --lines N [--seed S] [--rate R]
"""
import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request

KINDS = ["rename", "copytruncate", "delete", "truncate", "term", "kill", "kill_rotate",
         "term_rotate", "pg", "pg_copytruncate"]
BATCH = 5000  # serve's BATCH_EVENTS: a full batch is committed in the middle of a read
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def log(msg):
    print("# %s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Writer(threading.Thread):
    """Appends numbered delivery lines; pause() stops it between two lines."""

    def __init__(self, path, total, rate):
        super().__init__(daemon=True)
        self.path = path
        self.total = total
        self.rate = rate  # lines per second
        self.written = 0
        self.lock = threading.Lock()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.done = threading.Event()
        self.late = 0  # lines still to write to the old file after a rotation

    def line(self, n):
        t = 1764324000 + n // 1000
        return ("2026-11-28T%02d:%02d:%02d.%06d+00:00 mx9 postfix/smtp[%d]: A%010X: "
                "to=<n%d@example.com>, relay=mx.example.com[192.0.2.1]:25, delay=1, "
                "delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 ok)\n" % (
                    (t // 3600) % 24, (t // 60) % 60, t % 60, n % 1000000, 100 + n % 900, n, n))

    def reopen(self, late=0):
        """After a rotation: keep writing `late` lines to the old file, then reopen the path
        (as a syslog daemon does on its HUP, a little later than the rename)."""
        self.late = 0 if self.done.is_set() else late
        if self.late == 0:
            self._reopen()

    def _reopen(self):
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _write(self, n):
        """The next n lines (fewer at the end), at once; the caller holds the lock."""
        n = min(n, self.total - self.written)
        data = "".join(self.line(self.written + 1 + i) for i in range(n))
        os.write(self.fd, data.encode())
        self.written += n
        if self.late:
            self.late = max(0, self.late - n)
            if self.late == 0:
                self._reopen()
        return n

    def burst(self, n):
        """n lines at once, faster than any rate (the caller holds the lock); how many."""
        return self._write(n)

    def run(self):
        chunk = max(1, self.rate // 50)
        while self.written < self.total:
            with self.lock:
                n = self._write(chunk)
            time.sleep(n / self.rate)
        with self.lock:
            if self.late:
                self._reopen()
        self.done.set()


class Daemon:
    def __init__(self, args, dsn, port):
        self.args, self.dsn, self.port = args, dsn, port
        self.proc = None
        self.errlog = open(os.path.join(args.work, "serve.err"), "ab")

    def start(self):
        cmd = [self.args.bin, "serve", "--db", self.dsn, "--log", self.args.log,
               "--listen", "127.0.0.1:%d" % self.port, "--state-dir", self.args.state,
               "--poll-interval", "100", "--rotate-wait", "300", "--foreground"]
        self.proc = subprocess.Popen(cmd, stderr=self.errlog, stdin=subprocess.DEVNULL)
        for _ in range(100):
            if self.health() is not None:
                return
            if self.proc.poll() is not None:
                raise SystemExit("daemon exited at start with %d" % self.proc.returncode)
            time.sleep(0.1)

    def health(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.port,
                                        timeout=2) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            try:
                return json.load(e)
            except Exception:
                return {}
        except Exception:
            return None

    def stop(self, sig):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=60)
        return rc


def psql(dsn, sql):
    return subprocess.run(["psql", dsn, "-qAt", "-c", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def stored(dsn):
    try:
        return int(psql(dsn, "select count(*) from deliveries"))
    except subprocess.CalledProcessError:
        return -1


def wait_caught_up(d, dsn, writer, timeout=120, upto=None):
    """Until the database holds every line written so far (the writer is paused), or the
    first `upto` lines (the writer may run)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if stored(dsn) >= (writer.written if upto is None else upto):
            return True
        time.sleep(0.1)
    return False


def pg(args, what):
    """Start or stop the test's PostgreSQL (fast shutdown: open connections are cut)."""
    subprocess.run(["sh", os.path.join(ROOT, "scripts/pg.sh"), what, args.pgdir],
                   check=True, capture_output=True)


def shift_rotated(path):
    """mail.log.K -> mail.log.K+1, ..., mail.log.1 -> mail.log.2 (logrotate's numbering)."""
    k = 1
    while os.path.exists("%s.%d" % (path, k)):
        k += 1
    for i in range(k - 1, 0, -1):
        os.rename("%s.%d" % (path, i), "%s.%d" % (path, i + 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--pgdir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--every", type=float, default=2.0, help="mean seconds between faults")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    print("# chkseq seed %d (rerun: --seed %d), %d lines at %d/s" % (seed, seed, args.lines,
                                                                     args.rate), flush=True)
    rnd = random.Random(seed)
    args.log = os.path.join(args.work, "mail.log")
    args.state = os.path.join(args.work, "state")
    os.makedirs(args.state, exist_ok=True)

    dsn = subprocess.run(["sh", os.path.join(ROOT, "scripts/pg.sh"), "start", args.pgdir],
                         check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([args.bin, "db", "migrate", "--db", dsn], check=True,
                   capture_output=True)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()

    writer = Writer(args.log, args.lines, args.rate)
    d = Daemon(args, dsn, port)
    d.start()
    writer.start()
    counts = {}
    bad = []
    plan = list(KINDS)
    rnd.shuffle(plan)

    def step(name):
        counts[name] = counts.get(name, 0) + 1
        log("%s (written %d, stored %d)" % (name, writer.written, stored(dsn)))

    # Until the writer is done and every kind of fault has happened at least once.
    while plan or not writer.done.is_set():
        time.sleep(rnd.uniform(0.3, 2 * args.every - 0.3))
        if writer.done.is_set() and not plan:
            break
        # Every kind once first (in a seeded order), then at random.
        what = plan.pop() if plan else rnd.choice(KINDS)
        step(what)
        if what == "rename":
            with writer.lock:
                shift_rotated(args.log)
                os.rename(args.log, args.log + ".1")
                writer.reopen(late=rnd.choice([0, 0, 20, 200]))
        elif what in ("copytruncate", "truncate", "delete"):
            with writer.lock:
                if not wait_caught_up(d, dsn, writer):
                    bad.append("the daemon did not catch up before %s" % what)
                    break
                if what == "copytruncate":
                    shift_rotated(args.log)
                    with open(args.log, "rb") as src, open(args.log + ".1", "wb") as dst:
                        dst.write(src.read())
                    os.truncate(args.log, 0)
                elif what == "truncate":
                    os.truncate(args.log, 0)
                else:
                    os.unlink(args.log)
                    writer.reopen()
        elif what in ("term", "kill", "kill_rotate", "term_rotate"):
            rc = d.stop(signal.SIGKILL if what.startswith("kill") else signal.SIGTERM)
            if what.startswith("term") and rc != 0:
                bad.append("SIGTERM: exit status %d, not 0" % rc)
            time.sleep(rnd.uniform(0, 1))
            if what.endswith("rotate"):
                for _ in range(rnd.choice([1, 1, 2])):
                    with writer.lock:
                        shift_rotated(args.log)
                        os.rename(args.log, args.log + ".1")
                        writer.reopen()
                    time.sleep(rnd.uniform(0.1, 0.5))
            d.start()
        elif what == "pg":
            pg(args, "stop")
            time.sleep(rnd.uniform(0.2, 2))
            pg(args, "start")
        elif what == "pg_copytruncate":
            # The reader is made to stop in the middle of a read, not at the end of the file:
            # caught up (its last commit done), then the database goes, then more than a batch
            # at once. The full batch's commit fails and holds the reader there, with lines
            # read and not committed and more not read.
            with writer.lock:
                if not wait_caught_up(d, dsn, writer):
                    bad.append("the daemon did not catch up before %s" % what)
                    break
                time.sleep(0.5)  # its idle commit of the checkpoint and parser state
                pg(args, "stop")
                held = writer.burst(BATCH + rnd.choice([2000, 10000, 40000]))
            time.sleep(rnd.uniform(0.2, 1.5))  # the writer goes on meanwhile
            # copytruncate with the writer paused, without waiting for the daemon (it cannot
            # store anything now): the copy holds every line written, read or not.
            with writer.lock:
                shift_rotated(args.log)
                with open(args.log, "rb") as src, open(args.log + ".1", "wb") as dst:
                    dst.write(src.read())
                    cut = dst.tell()
                os.truncate(args.log, 0)
            # The reader stopped at or before `cut`. Past it in the live file, a reader that
            # looks for truncation only when idle, or only by the size, reads on at its old
            # offset inside the new file. The writer gets there at its rate for a moment,
            # then the rest at once.
            time.sleep(rnd.uniform(0.2, 2))
            with writer.lock:
                for _ in range(3):  # once is enough (lines only grow longer) unless it ends
                    size = os.path.getsize(args.log)
                    per = len(writer.line(writer.written + 1))
                    if size > cut or writer.burst((cut - size) // per + 1 +
                                                  rnd.choice([1, 100, 2000])) == 0:
                        break
            log("%s: %d lines at once to a held reader, copy %d bytes, live file %d bytes%s"
                % (what, held, cut, size, "" if size > cut else " (not past the reader's "
                   "offset: the writer is done)"))
            pg(args, "start")
            # The daemon finishes the copy, then reads the live file from 0. No other fault
            # until it is through what was written up to now: a rename while it still reads
            # the copy would move the live file away before it opens it (see the docstring).
            if not wait_caught_up(d, dsn, writer, upto=writer.written):
                bad.append("the daemon did not catch up after %s" % what)
                break

    writer.join()
    log("writer done: %d lines; waiting for the daemon" % writer.written)
    deadline = time.time() + max(60, args.lines / 5000)
    while time.time() < deadline and stored(dsn) < writer.written:
        time.sleep(0.5)
    time.sleep(1.5)  # anything stored twice would show up now
    h = d.health() or {}
    rc = d.stop(signal.SIGTERM)
    if rc != 0:
        bad.append("final SIGTERM: exit status %d" % rc)
    got = psql(dsn, "select recipient from deliveries").split("\n")
    nums = {}
    for r in got:
        if r.startswith("n") and r.endswith("@example.com"):
            n = int(r[1:-12])
            nums[n] = nums.get(n, 0) + 1
    missing = [n for n in range(1, writer.written + 1) if n not in nums]
    dups = [n for n, c in nums.items() if c > 1]
    extra = [n for n in nums if n < 1 or n > writer.written]
    subprocess.run(["sh", os.path.join(ROOT, "scripts/pg.sh"), "stop", args.pgdir],
                   capture_output=True)
    print("# faults: %s" % ", ".join("%s %d" % kv for kv in sorted(counts.items())))
    print("# written %d, rows %d, distinct %d, missing %d, duplicated %d; healthz: %s" % (
        writer.written, len(got), len(nums), len(missing), len(dups), json.dumps(h)))
    if missing:
        bad.append("missing lines: %s%s" % (missing[:20], "..." if len(missing) > 20 else ""))
    if dups:
        bad.append("duplicated lines: %s" % sorted(dups)[:20])
    if extra:
        bad.append("unexpected rows: %s" % extra[:20])
    for b in bad:
        print("# FAIL: %s (seed %d)" % (b, seed))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
