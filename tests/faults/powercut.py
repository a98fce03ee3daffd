#!/usr/bin/env python3
"""Power-loss test of the real daemon.

Runs `switchboard serve` (and the `tenant` CLI) with tests/faults/powercut.c
preloaded, drives bookings, customers and cancellations over HTTP from a few
threads, and notes the interposer log's length when each answer arrives.
Then it "cuts the power" at chosen points of the log: the image of each cut
is what every file had synced, plus none, all or a random subset (in
512-byte sectors, torn writes included) of the writes not yet synced. Each
image is opened by fresh processes (`switchboard check`, `jobs list`,
`serve`) and must hold: a clean check, every write acknowledged before the
cut, no job that had left the queue before a sync that ended before the cut,
and nothing acknowledged-after-the-cut half there (check's indexes, and
every entity either answered whole or missing).

With --expect-loss (used with --sync none) the run must find a lost
acknowledged write: the proof that the test sees a missing fsync.

Usage (see scripts/powercut.sh for the long form):
  powercut.py --binary build/app/switchboard --preload build/tests/faults/
      libpowercut.so [--runs 1] [--requests 60] [--boundaries 12]
      [--random 12] [--seed 1] [--sync full|none] [--expect-loss]
"""

import argparse
import datetime
import http.client
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

(WRITE, WRITE_SYNC, SYNC_BEGIN, SYNC_END, TRUNCATE, MSYNC, FAULT,
 WRITE_SHORT) = range(1, 9)
SECTOR = 512
# Files whose contents a restart does not read: LMDB rebuilds its lock file
# when it is the first to open the environment.
SKIPPED = {"lock.mdb"}


# -- processes ---------------------------------------------------------------


class Daemon:
    """A `switchboard serve` on a data directory, on a free port."""

    def __init__(self, args, env, store, sets=()):
        cmd = [args.binary, "serve"] + base_args(args, store) + [
            "--set", "http.port=0"]
        for s in sets:
            cmd += ["--set", s]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True)
        self.output = []
        self.port = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            m = re.search(r"http listening on [^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("serve did not start:\n" + "".join(self.output))
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self):
        for line in self.proc.stdout:
            self.output.append(line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def base_args(args, store):
    return ["--config", os.path.join(args.source_dir, "config.ini"),
            "--set", "store.path=" + store]


def run_cli(args, env, store, cli_args, sets=()):
    cmd = [args.binary] + cli_args + base_args(args, store)
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def request(port, method, path, token, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = {"Authorization": "Bearer " + token}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        text = r.read().decode()
        return r.status, text
    finally:
        conn.close()


# -- the run under load ------------------------------------------------------


class Run:
    """One daemon run under the interposer, with what it acknowledged."""

    def __init__(self, args, work, seed):
        self.args = args
        self.work = work
        self.store = os.path.join(work, "data")
        self.log = os.path.join(work, "powercut.log")
        self.rng = random.Random(seed)
        # (log length at the answer, kind, id, expected) per acknowledged
        # write; kind is "customer", "appointment" or "cancel".
        self.acked = []
        # Every id a request was sent for, answered or not.
        self.sent = {"customer": set(), "appointment": set()}
        # (log length after the listing, set of unfinished job ids).
        self.job_views = []
        self.token = None
        self.token_at = None
        # Jobs checked not to be queued again, over every image.
        self.jobs_checked = 0
        self.lock = threading.Lock()

    def env(self):
        env = dict(os.environ)
        env["LD_PRELOAD"] = self.args.preload
        env["POWERCUT_DIR"] = self.store
        env["POWERCUT_LOG"] = self.log
        # An ASan build wants its runtime first; the interposer is plain C.
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + \
            ":verify_asan_link_order=0"
        return env

    def log_len(self):
        return os.stat(self.log).st_size

    def go(self):
        os.makedirs(self.store)
        env = self.env()
        # Confirmations go out during the run (not 5 s after each
        # booking, past its end), so that cuts fall around their commits.
        sets = ["store.sync=" + self.args.sync,
                "listener.send_appointment_notification.delay_ms=0"]
        daemon = Daemon(self.args, env, self.store, sets)
        try:
            # Tenants are made durable whatever the daemon's sync: the
            # sync=none run must lose the daemon's writes, not its token.
            rc, out, err = run_cli(self.args, env, self.store,
                                   ["tenant", "add", "acme"],
                                   ["store.sync=full"])
            if rc != 0:
                raise RuntimeError("tenant add failed: " + err)
            self.token = [l for l in out.splitlines()
                          if l.startswith("sb_")][0]
            rc, out, err = run_cli(self.args, env, self.store,
                                   ["tenant", "add", "ops", "--admin"],
                                   ["store.sync=full"])
            self.admin = [l for l in out.splitlines()
                          if l.startswith("sb_")][0]
            self.token_at = self.log_len()
            self.load(daemon.port)
        finally:
            daemon.stop()

    def load(self, port):
        for path, body in [
                ("/api/staff", {"id": "s1", "name": "Sam"}),
                ("/api/services", {"id": "svc", "name": "Cut",
                                   "price_cents": 100,
                                   "duration_minutes": 30})]:
            st, text = request(port, "POST", path, self.token, body)
            if st not in (200, 201):
                raise RuntimeError(f"POST {path}: {st} {text}")
        day = (datetime.datetime.utcnow() + datetime.timedelta(days=2)
               ).replace(hour=0, minute=0, second=0, microsecond=0)
        stop = threading.Event()
        watcher = threading.Thread(target=self.watch_jobs,
                                   args=(port, stop))
        watcher.start()
        threads = []
        per = max(1, self.args.requests // (3 * self.args.threads))
        for t in range(self.args.threads):
            th = threading.Thread(target=self.client,
                                  args=(port, t, per, day))
            th.start()
            threads.append(th)
        for th in threads:
            th.join()
        # Let the queues run what the load queued (the reminders due 3 s
        # after their booking), so that jobs leave the queue while the log
        # is still written.
        time.sleep(4.0)
        stop.set()
        watcher.join()

    def ack(self, kind, ident, expected):
        at = self.log_len()
        with self.lock:
            self.acked.append((at, kind, ident, expected))

    def client(self, port, t, n, day):
        for i in range(n):
            cid = f"c-{t}-{i}"
            aid = f"a-{t}-{i}"
            with self.lock:
                self.sent["customer"].add(cid)
            st, _ = request(port, "POST", "/api/customers", self.token,
                            {"id": cid, "name": f"Customer {t} {i}",
                             "phone": f"+49301{t:02d}{i:05d}",
                             "prefers_sms": True})
            if st in (200, 201):
                self.ack("customer", cid, None)
            start = day + datetime.timedelta(minutes=30 * (t * 1000 + i))
            staff = "s1"
            if i % 3 == 1:
                # An appointment in an hour and 3 s, with a staff member
                # of its own: its reminder of an hour before is a job due
                # in 3 s, which the job listings see pending, then gone
                # (the check of done jobs; a booking makes no other job
                # that runs).
                staff = f"r-{t}-{i}"
                request(port, "POST", "/api/staff", self.token,
                        {"id": staff, "name": "Ray"})
                start = (datetime.datetime.utcnow()
                         + datetime.timedelta(hours=1, seconds=3))
            with self.lock:
                self.sent["appointment"].add(aid)
            st, _ = request(port, "POST", "/api/appointments", self.token,
                            {"id": aid, "customer_id": cid,
                             "service_id": "svc", "staff_id": staff,
                             "start_time": start.strftime(
                                 "%Y-%m-%dT%H:%M:%SZ")})
            if st not in (200, 201):
                continue
            self.ack("appointment", aid, None)
            if i % 3 == 2:
                st, _ = request(port, "POST",
                                f"/api/appointments/{aid}/cancel",
                                self.token, {"reason": "ill"})
                if st in (200, 201):
                    self.ack("cancel", aid, "cancelled")

    def unfinished_jobs(self, port):
        ids = set()
        for state in ("pending", "leased"):
            after = 0
            while True:
                st, text = request(
                    port, "GET",
                    f"/api/jobs?state={state}&limit=1000&after={after}",
                    self.admin)
                if st != 200:
                    raise RuntimeError(f"GET /api/jobs: {st} {text}")
                page = json.loads(text)
                ids.update(j["id"] for j in page["jobs"])
                if page.get("next_after") is None:
                    break
                after = page["next_after"]
        return ids

    def watch_jobs(self, port, stop):
        while True:
            done = stop.is_set()
            ids = self.unfinished_jobs(port)
            self.job_views.append((self.log_len(), ids))
            if done:
                return
            stop.wait(0.1)


# -- the log and its images --------------------------------------------------


def read_log(path):
    """The records: (start, end, type, file, a, b, payload)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        start = pos
        typ = data[pos]
        (plen,) = struct.unpack_from("<I", data, pos + 1)
        pos += 5
        name = data[pos:pos + plen].decode()
        pos += plen
        a, b = struct.unpack_from("<QQ", data, pos)
        pos += 16
        payload = b""
        if typ in (WRITE, WRITE_SYNC):
            payload = data[pos:pos + b]
            pos += b
        out.append((start, pos, typ, name, a, b, payload))
    return out


class FileState:
    def __init__(self):
        self.durable = bytearray()
        self.pending = []  # (seq, op, offset or size, bytes)
        self.syncs = {}  # sync id -> seq when it began


def apply(buf, op, off, data):
    if op == TRUNCATE:
        del buf[off:]
        if len(buf) < off:
            buf.extend(b"\0" * (off - len(buf)))
        return
    end = off + len(data)
    if len(buf) < end:
        buf.extend(b"\0" * (end - len(buf)))
    buf[off:end] = data


def images(records, cuts, rng):
    """Yields (cut, mode, {file: bytes}) for each (cut, mode) in `cuts`,
    sorted by cut."""
    files = {}
    seq = 0
    want = sorted(cuts)
    k = 0
    for rec in [None] + records:
        if rec is not None:
            start, end, typ, name, a, b, payload = rec
            if typ == MSYNC:
                raise RuntimeError("msync in the log: MDB_WRITEMAP is not "
                                   "modelled")
            fs = files.setdefault(name, FileState()) if name else None
            if typ in (WRITE, WRITE_SYNC, TRUNCATE):
                seq += 1
                op = TRUNCATE if typ == TRUNCATE else WRITE
                fs.pending.append((seq, op, a, payload))
                if typ == WRITE_SYNC:
                    apply(fs.durable, WRITE, a, payload)
            elif typ == SYNC_BEGIN:
                fs.syncs[a] = seq
            elif typ == SYNC_END:
                began = fs.syncs.pop(a)
                if b == 0:  # a failed sync makes nothing durable
                    keep = []
                    for p in fs.pending:
                        if p[0] <= began:
                            apply(fs.durable, p[1], p[2], p[3])
                        else:
                            keep.append(p)
                    fs.pending = keep
            pos = end
        else:
            pos = 0
        while k < len(want) and want[k][0] == pos:
            cut, mode = want[k]
            out = {}
            for name, fs in files.items():
                buf = bytearray(fs.durable)
                for _, op, off, data in fs.pending:
                    if mode == "none":
                        continue
                    if mode == "all" or op == TRUNCATE:
                        if mode == "all" or rng.random() < 0.5:
                            apply(buf, op, off, data)
                        continue
                    # torn: each sector of the write lands or not
                    first = off - off % SECTOR
                    for s in range(first, off + len(data), SECTOR):
                        lo, hi = max(s, off), min(s + SECTOR, off + len(data))
                        if rng.random() < 0.5:
                            apply(buf, WRITE, lo, data[lo - off:hi - off])
                out[name] = bytes(buf)
            yield cut, mode, out
            k += 1


# -- checks ------------------------------------------------------------------


def check_image(args, run, cut, mode, files, records, sync_ends, tmp):
    """Returns a list of problems of the image (empty when it is sound)."""
    problems = []
    img = os.path.join(tmp, "img")
    shutil.rmtree(img, ignore_errors=True)
    os.makedirs(img)
    for name, data in files.items():
        rel = os.path.relpath(name, os.path.realpath(run.store))
        if rel.startswith("..") or os.path.basename(rel) in SKIPPED:
            continue
        os.makedirs(os.path.dirname(os.path.join(img, rel)), exist_ok=True)
        with open(os.path.join(img, rel), "wb") as f:
            f.write(data)
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if not os.path.exists(os.path.join(img, "data.mdb")):
        if any(at <= cut for at, *_ in run.acked):
            problems.append("no data.mdb, but writes were acknowledged")
        return problems
    rc, out, err = run_cli(args, env, img, ["check"])
    if rc != 0:
        problems.append(f"check exited {rc}: {out}{err}")
        return problems
    # Jobs still to run in the image.
    unfinished = set()
    for state in ("pending", "leased"):
        rc, out, err = run_cli(args, env, img,
                               ["jobs", "list", "--state", state, "--json",
                                "--limit", "100000"])
        if rc != 0:
            problems.append(f"jobs list exited {rc}: {err}")
            return problems
        for line in out.splitlines():
            if line.startswith("{"):
                unfinished.add(json.loads(line)["id"])
    # A job unfinished in one listing and gone from later ones was done
    # (or failed) by a commit before that listing; the first sync that
    # began after it made that durable.
    # A job between two states (a retry's leased -> pending) may be missed
    # by one listing: only two listings in a row without it count.
    seen = set()
    prev = set()
    for at, ids in run.job_views:
        gone = seen - ids - prev
        seen |= ids
        prev = ids
        durable_at = next((end for begin, end in sync_ends if begin >= at),
                          None)
        if durable_at is None or durable_at > cut:
            continue
        run.jobs_checked += len(gone)
        again = gone & unfinished
        if again:
            problems.append(f"jobs done before the cut are queued again: "
                            f"{sorted(again)[:5]}")
    if cut < run.token_at:
        return problems
    try:
        # Confirmations go out at once, so that every one is due.
        daemon = Daemon(args, env, img, [
            "store.sync=none",
            "listener.send_appointment_notification.delay_ms=0"])
    except RuntimeError as e:
        # An image the daemon refuses to open is a loss too (without
        # fsync, a torn page can leave a record that no longer decodes).
        problems.append(f"the daemon refuses the image: {e}")
        return problems
    try:
        state = {}
        for at, kind, ident, expected in run.acked:
            if at <= cut:
                state.setdefault((kind, ident), expected)
                if expected is not None:
                    state[(kind, ident)] = expected
        for (kind, ident), expected in sorted(state.items(),
                                              key=lambda x: x[0]):
            if kind == "customer":
                st, text = request(daemon.port, "GET",
                                   f"/api/customers/{ident}", run.token)
            else:
                st, text = request(daemon.port, "GET",
                                   f"/api/appointments/{ident}", run.token)
            if st != 200:
                problems.append(f"acknowledged {kind} {ident} lost ({st})")
            elif expected is not None and json.loads(text).get(
                    "status") != expected:
                problems.append(f"acknowledged {kind} {ident} is not "
                                f"{expected}: {text}")
        # Writes not acknowledged by the cut: whole or absent.
        for kind in ("customer", "appointment"):
            for ident in sorted(run.sent[kind]):
                if (kind, ident) in state:
                    continue
                path = ("/api/customers/" if kind == "customer"
                        else "/api/appointments/") + ident
                st, text = request(daemon.port, "GET", path, run.token)
                if st not in (200, 404):
                    problems.append(f"unacknowledged {kind} {ident}: "
                                    f"{st} {text}")
        problems += check_analytics(args, env, img, daemon, run)
        problems += check_external_sync(args, env, img)
        problems += check_confirmations(args, env, img, daemon, run)
    finally:
        daemon.stop()
    return problems


def check_analytics(args, env, img, daemon, run):
    """UpdateAnalytics counted every appointment and customer of the
    image's log exactly once, whatever the cut: its checkpoint is written
    in the commit of its counters."""
    for _ in range(400):
        st, text = request(daemon.port, "GET", "/api/queues", run.admin)
        if st != 200:
            return [f"GET /api/queues: {st} {text}"]
        body = json.loads(text)
        behind = sum(e["events_behind"] for e in body["catch_up"])
        waiting = sum(q["ready"] + q["delayed"] + q["leased"]
                      for q in body["queues"] if q["name"] == "analytics")
        if behind == 0 and waiting == 0:
            break
        time.sleep(0.05)
    else:
        return ["analytics did not catch up with the log"]
    st, text = request(daemon.port, "GET", "/api/analytics", run.token)
    if st != 200:
        return [f"GET /api/analytics: {st} {text}"]
    report = json.loads(text)
    problems = []
    for section, etype in (("appointments", "appointment.created"),
                           ("customers", "customer.created")):
        rc, out, err = run_cli(args, env, img,
                               ["events", "--type", etype, "--json",
                                "--limit", "1000000"])
        if rc != 0:
            return [f"events exited {rc}: {err}"]
        logged = sum(1 for line in out.splitlines() if line.startswith("{"))
        counted = report[section]["count"]
        if counted != logged:
            problems.append(f"analytics counted {counted} {section}, the "
                            f"log holds {logged}")
    return problems


def check_external_sync(args, env, img):
    """The external sync's reader (run to the log's end by
    check_analytics's wait) wrote one CRM message for every appointment
    and customer change of the image's log, none twice: its messages are
    written in the commit of its checkpoint."""
    logged = []
    for etype in ("appointment.created", "appointment.updated",
                  "appointment.cancelled", "customer.updated"):
        rc, out, err = run_cli(args, env, img,
                               ["events", "--type", etype, "--json",
                                "--limit", "1000000"])
        if rc != 0:
            return [f"events exited {rc}: {err}"]
        logged += [json.loads(line)["id"] for line in out.splitlines()
                   if line.startswith("{")]
    rc, out, err = run_cli(args, env, img,
                           ["outbox", "--channel", "crm", "--json",
                            "--limit", "1000000"])
    if rc != 0:
        return [f"outbox exited {rc}: {err}"]
    sent = [json.loads(line)["idempotency_key"].split(":")[-2]
            for line in out.splitlines() if line.startswith("{")]
    if sorted(sent) != sorted(logged):
        twice = sorted({e for e in sent if sent.count(e) > 1})
        missing = sorted(set(logged) - set(sent))
        return [f"the CRM has {len(sent)} messages for {len(logged)} logged "
                f"changes (twice: {twice[:3]}, missing: {missing[:3]})"]
    return []


def check_confirmations(args, env, img, daemon, run):
    """The notification's reader (run to the log's end by check_analytics's
    wait) confirmed every booking still scheduled by SMS once, and none
    twice: its messages are written in the commit of its checkpoint."""
    rc, out, err = run_cli(args, env, img,
                           ["events", "--type", "appointment.created",
                            "--json", "--limit", "1000000"])
    if rc != 0:
        return [f"events exited {rc}: {err}"]
    created = {}
    for line in out.splitlines():
        if line.startswith("{"):
            e = json.loads(line)
            created[e["id"]] = e["aggregateid"]
    rc, out, err = run_cli(args, env, img,
                           ["outbox", "--channel", "sms", "--json",
                            "--limit", "1000000"])
    if rc != 0:
        return [f"outbox exited {rc}: {err}"]
    sent = {}
    for line in out.splitlines():
        if line.startswith("{"):
            m = json.loads(line)
            # The confirmation's key ends in its channel job's name; a
            # reminder's names the reminder.
            if (m["event_id"] in created
                    and m["idempotency_key"].endswith(":notify.sms")):
                sent[m["event_id"]] = sent.get(m["event_id"], 0) + 1
    problems = []
    twice = sorted(e for e, n in sent.items() if n > 1)
    if twice:
        problems.append(f"{len(twice)} booking(s) confirmed twice: "
                        f"{twice[:3]}")
    missing = []
    for event_id, appointment in sorted(created.items()):
        if sent.get(event_id, 0) > 0:
            continue
        st, text = request(daemon.port, "GET",
                           f"/api/appointments/{appointment}", run.token)
        if st == 200 and json.loads(text).get("status") == "scheduled":
            missing.append(appointment)
    if missing:
        problems.append(f"{len(missing)} scheduled booking(s) never "
                        f"confirmed: {missing[:3]}")
    return problems


def choose_cuts(records, args, rng):
    """(cut, mode) pairs: sync boundaries (just before and just after each
    completed sync) and random record boundaries."""
    ends = [r for r in records if r[2] == SYNC_END and r[5] == 0]
    boundaries = []
    for r in ends:
        boundaries += [r[0], r[1]]
    if args.boundaries >= 0 and len(boundaries) > args.boundaries:
        step = len(boundaries) / args.boundaries
        boundaries = [boundaries[int(i * step)]
                      for i in range(args.boundaries)]
    all_ends = [0] + [r[1] for r in records]
    randoms = [rng.choice(all_ends) for _ in range(args.random)]
    modes = ["none", "all", "torn"]
    # The end of the run, with none and with all of the unsynced writes:
    # whatever the random choices, every acknowledged write is due there.
    end = records[-1][1] if records else 0
    cuts = {(end, "none"), (end, "all")}
    for i, c in enumerate(boundaries + randoms):
        cuts.add((c, modes[i % 3]))
    return sorted(cuts)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--binary", required=True)
    p.add_argument("--preload", required=True)
    p.add_argument("--source-dir",
                   default=os.path.dirname(os.path.dirname(os.path.dirname(
                       os.path.abspath(__file__)))))
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--requests", type=int, default=60)
    p.add_argument("--threads", type=int, default=3)
    p.add_argument("--boundaries", type=int, default=12,
                   help="sync boundaries checked per run (-1: every one)")
    p.add_argument("--random", type=int, default=12,
                   help="random cut points per run")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--sync", default="full")
    p.add_argument("--expect-loss", action="store_true")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    seed = args.seed if args.seed is not None else int(time.time())
    print(f"powercut: seed {seed} (--seed {seed} repeats the cut choices)")
    total_cuts = 0
    total_checked = 0
    total_jobs = 0
    bad = []
    for n in range(args.runs):
        work = tempfile.mkdtemp(prefix="powercut-")
        try:
            run = Run(args, work, seed + n)
            run.go()
            records = read_log(run.log)
            if any(r[2] == MSYNC for r in records):
                raise RuntimeError("msync in the log: MDB_WRITEMAP is not "
                                   "modelled")
            if any(r[2] in (WRITE_SHORT, FAULT) for r in records):
                raise RuntimeError("a write failed or was short during the "
                                   "run: its image cannot be modelled")
            sync_ends = []
            begins = {}
            for r in records:
                if r[2] == SYNC_BEGIN and r[3].endswith("data.mdb"):
                    begins[r[4]] = r[0]
                elif r[2] == SYNC_END and r[4] in begins and r[5] == 0:
                    sync_ends.append((begins.pop(r[4]), r[1]))
            sync_ends.sort()
            rng = random.Random(seed * 7919 + n)
            cuts = choose_cuts(records, args, rng)
            print(f"run {n}: {len(run.acked)} acknowledged writes, "
                  f"{len(records)} log records, {len(sync_ends)} syncs, "
                  f"{len(cuts)} cuts")
            for cut, mode, files in images(records, cuts, rng):
                problems = check_image(args, run, cut, mode, files, records,
                                       sync_ends, work)
                checked = sum(1 for a in run.acked if a[0] <= cut)
                total_checked += checked
                status = "ok" if not problems else "LOST/BROKEN"
                print(f"  cut at {cut} ({mode}): {checked} acknowledged "
                      f"writes due, {status}")
                for pr in problems[:5]:
                    print("    " + pr)
                if problems:
                    bad.append((n, cut, mode, problems))
            total_cuts += len({c for c, _ in cuts})
            total_jobs += run.jobs_checked
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
            else:
                print("kept " + work)
    print(f"RESULT powercut sync={args.sync} runs={args.runs} "
          f"cut_points={total_cuts} acknowledged_checked={total_checked} "
          f"done_jobs_checked={total_jobs} bad_images={len(bad)}")
    if args.expect_loss:
        if not bad:
            print("FAIL: sync=" + args.sync + " lost nothing: the test "
                  "cannot see a missing fsync")
            return 1
        print(f"expected: sync={args.sync} lost acknowledged writes in "
              f"{len(bad)} image(s)")
        return 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
