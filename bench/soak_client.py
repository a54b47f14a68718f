#!/usr/bin/python3
"""Soak load for cc-relay (driven by bench/soak.sh; standard library only).

    soak_client.py --port P --pid PID --seconds N --bodies DIR --config FILE
                   [--interval-s S] [--reload-s R] [--concurrency C] [--rate Q] [--out FILE]

C threads each send, over their own kept-alive connection, a fixed rotation of Claude Code
requests (bodies from ccr_bench_body in DIR): SSE streams of 3 KB and 200 KB bodies, JSON answers
of both, upstream errors scripted through the mock's x-mock-status header (500 and 529 on a
model only the relay's `errors` provider serves, 429 with retry-after: 1 on one only its
`limited` provider serves), and streams the client
closes after reading the first events (the mock spaces those events 20 ms apart). Every R
seconds the relay's config FILE is swapped for the other of FILE.a / FILE.b (provider weights
1:3 and 3:1) by an atomic rename; every second swap is also followed by SIGHUP, so both the file
watch and the signal are exercised. Every S seconds the relay's VmRSS, VmHWM, threads, open
descriptors and CPU time are sampled from /proc/PID, with the requests done so far.

The result (JSON, to --out or stdout) has the samples and a summary. A request that should
have succeeded and did not (a stream without message_stop or with an error event, a JSON answer
that is not a Message, a non-200 status, a socket error), an error request answered 2xx, a
relay that died, a reload that made no new routing snapshot, or more open descriptors at the
end than at the start of the steady state + C + --fd-margin counts as a failure (the first 20
are listed in `failure_examples`); the exit status is then 1.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import sys
import threading
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# One rotation per thread (started at a different offset in each): 20 requests.
ROTATION = (
    ["stream_small"] * 6 + ["stream_large"] * 3 + ["json_small"] * 3 + ["json_large"] * 2
    + ["error_500", "error_529", "error_429"] + ["disconnect"] * 3
)

SESSION = "7c9e6679-7425-40de-944b-e07fc1f90ae7"  # ccr_bench_body's session_id

HEADERS = {
    "content-type": "application/json",
    "anthropic-version": "2023-06-01",
    "anthropic-beta": "claude-code-20250219,interleaved-thinking-2025-05-14",
    "x-api-key": "soak-client",
    "user-agent": "claude-cli/2.0.0 (external, cli)",
    "x-app": "cli",
}


def proc_sample(pid):
    status = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            status[k] = v.strip()
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return {
        "rss_kb": int(status["VmRSS"].split()[0]),
        "hwm_kb": int(status["VmHWM"].split()[0]),
        "threads": int(status["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "cpu_ms": (int(fields[11]) + int(fields[12])) * 1000 // CLK_TCK,
    }


def metrics(port):
    """The relay's /metrics as {line name+labels: value} (only the counters and gauges we read)."""
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
    except OSError as e:
        return {"error": str(e)}
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, _, value = line.rpartition(" ")
        if "_bucket{" in name or name.startswith("ccrelay_key_state"):
            continue
        try:
            out[name] = float(value)
        except ValueError:
            pass
    return out


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.done = 0
        self.by_kind = {}
        self.failures = []
        self.failure_count = 0

    def record(self, kind, ok, what=""):
        with self.lock:
            self.done += 1
            k = self.by_kind.setdefault(kind, {"done": 0, "failed": 0})
            k["done"] += 1
            if not ok:
                k["failed"] += 1
                self.failure_count += 1
                if len(self.failures) < 20:
                    self.failures.append(f"{kind}: {what}")

    def fail(self, what):
        with self.lock:
            self.failure_count += 1
            if len(self.failures) < 20:
                self.failures.append(what)


class Worker(threading.Thread):
    def __init__(self, index, args, bodies, stats, stop):
        super().__init__(daemon=True)
        self.index, self.args, self.stats, self.stop = index, args, stats, stop
        # A session of its own per thread (Claude Code's metadata.user_id session_id): a bounded
        # set of sessions for the relay's session affinity.
        session = f"{SESSION[:-4]}{index:04x}".encode()
        self.bodies = {k: v.replace(SESSION.encode(), session) for k, v in bodies.items()}
        self.conn = None
        # Pacing: this thread's share of --rate requests per second (0: back to back).
        self.period = args.concurrency / args.rate if args.rate > 0 else 0.0

    def connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.args.port, timeout=60)
        return self.conn

    def drop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def run(self):
        i = self.index * 7
        next_start = time.monotonic() + self.index * self.period / self.args.concurrency
        while not self.stop.is_set():
            if self.period:
                delay = next_start - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    break
                next_start = max(next_start + self.period, time.monotonic() - self.period)
            kind = ROTATION[i % len(ROTATION)]
            i += 1
            try:
                ok, what = self.one(kind)
            except (OSError, http.client.HTTPException) as e:
                ok, what = False, f"{type(e).__name__}: {e}"
                self.drop()
            self.stats.record(kind, ok, what)
        self.drop()

    def one(self, kind):
        headers = dict(HEADERS)
        if kind.startswith("error_"):
            headers["x-mock-status"] = kind[6:]
            body = self.bodies["error"]
            if kind == "error_429":
                body = self.bodies["error_429"]
                headers["x-mock-retry-after"] = "1"
        elif kind == "disconnect":
            body = self.bodies["stream_small"]
            headers["x-mock-event-delay-ms"] = "20"
        else:
            body = self.bodies[kind]
        conn = self.connection()
        conn.request("POST", "/v1/messages?beta=true", body=body, headers=headers)
        resp = conn.getresponse()
        if kind.startswith("error_"):
            resp.read()
            if resp.will_close:
                self.drop()
            return resp.status >= 400, f"status {resp.status}, expected an error"
        if resp.status != 200:
            data = resp.read()[:300]
            if resp.will_close:
                self.drop()
            return False, f"status {resp.status}: {data!r}"
        if kind == "disconnect":
            # Read the first events (message_start ... the first text deltas), then hang up.
            got = b""
            while got.count(b"\n\n") < 4:
                chunk = resp.read1(4096)
                if not chunk:
                    break
                got += chunk
            self.conn.sock.shutdown(socket.SHUT_RDWR)
            self.drop()
            return got.count(b"\n\n") >= 4, f"only {got[:200]!r} before the planned close"
        data = resp.read()
        if resp.will_close:
            self.drop()
        if kind.startswith("stream"):
            if b"event: message_stop" not in data or b"event: error" in data:
                return False, f"incomplete stream ({len(data)} bytes): {data[-300:]!r}"
            return True, ""
        try:
            ok = json.loads(data).get("type") == "message"
        except ValueError:
            ok = False
        return ok, f"not a Message: {data[:300]!r}"


def least_squares_slope(points):
    n = len(points)
    if n < 2:
        return None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--bodies", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--interval-s", type=float, default=10)
    ap.add_argument("--reload-s", type=float, default=30)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--rate", type=float, default=200, help="requests/s in all (0: unpaced)")
    ap.add_argument("--fd-margin", type=int, default=8)
    ap.add_argument("--out")
    args = ap.parse_args()

    bodies = {}
    for name in ("stream_small", "stream_large", "json_small", "json_large", "error", "error_429"):
        with open(os.path.join(args.bodies, name + ".json"), "rb") as f:
            bodies[name] = f.read()

    stats = Stats()
    stop = threading.Event()
    samples = []
    reloads = {"file": 0, "sighup": 0}
    t0 = time.monotonic()
    m_start = metrics(args.port)

    def sample(phase):
        try:
            s = proc_sample(args.pid)
        except OSError:
            stats.fail(f"relay (pid {args.pid}) gone at t={time.monotonic() - t0:.1f}s")
            return False
        s.update(t_s=round(time.monotonic() - t0, 1), requests=stats.done,
                 failures=stats.failure_count, phase=phase)
        samples.append(s)
        return True

    sample("start")
    workers = [Worker(i, args, bodies, stats, stop) for i in range(args.concurrency)]
    for w in workers:
        w.start()

    next_sample = args.interval_s
    next_reload = args.reload_s
    variant = 0
    alive = True
    while alive:
        now = time.monotonic() - t0
        if now >= args.seconds:
            break
        if now >= next_reload:
            variant ^= 1
            tmp = args.config + ".tmp"
            shutil.copyfile(args.config + (".b" if variant else ".a"), tmp)
            os.rename(tmp, args.config)
            reloads["file"] += 1
            if reloads["file"] % 2 == 0:
                time.sleep(0.3)  # after the watch's 100 ms debounce: a reload of its own
                try:
                    os.kill(args.pid, signal.SIGHUP)
                    reloads["sighup"] += 1
                except OSError:
                    alive = False
            next_reload += args.reload_s
        if now >= next_sample:
            alive = sample("load") and alive
            next_sample += args.interval_s
        time.sleep(min(0.2, max(0.0, min(next_sample, next_reload, args.seconds) - now)))

    stop.set()
    for w in workers:
        w.join(timeout=120)
        if w.is_alive():
            stats.fail(f"worker {w.index} still busy 120 s after the end")
    time.sleep(1.0)  # the relay notices the closed client connections
    alive = alive and sample("end")
    m_end = metrics(args.port) if alive else {}

    # Summary.
    duration = args.seconds
    warmup = max(duration * 0.10, args.interval_s)
    steady = [s for s in samples if s["phase"] == "load" and s["t_s"] >= warmup]
    load = [s for s in samples if s["phase"] == "load"]
    second_half = [s for s in load if s["t_s"] >= duration / 2]
    slope = least_squares_slope([(s["t_s"] / 60, s["rss_kb"]) for s in second_half])
    first = steady[0] if steady else (load[0] if load else samples[0])
    last_load = load[-1] if load else samples[-1]
    end = samples[-1]
    # Each swap changes a provider weight, so each applied reload is a new routing snapshot
    # (the SIGHUP after a swap reloads the same bytes: no new snapshot).
    snapshots = (m_end.get("ccrelay_snapshot_version", 0)
                 - m_start.get("ccrelay_snapshot_version", 0))
    fd_bound = first["fds"] + args.concurrency + args.fd_margin
    checks = {
        "relay_alive": alive,
        "no_failed_requests": stats.failure_count == 0,
        "fds_bounded": end["fds"] <= fd_bound,
        "reloads_applied": snapshots >= reloads["file"],
    }
    if not checks["fds_bounded"]:
        stats.fail(f"open fds {end['fds']} at the end > bound {fd_bound}")
    if not checks["reloads_applied"]:
        stats.fail(f"reloads: {reloads} done, snapshot version +{snapshots:.0f}")
    rate = stats.done / duration if duration else 0
    summary = {
        "duration_s": duration, "warmup_s": warmup, "interval_s": args.interval_s,
        "concurrency": args.concurrency, "requests": stats.done,
        "requests_per_s": round(rate, 1), "by_kind": stats.by_kind,
        "rate_target": args.rate, "reloads": reloads, "snapshot_versions": snapshots,
        "rss_kb": {"start": samples[0]["rss_kb"], "steady_start": first["rss_kb"],
                   "steady_start_t_s": first["t_s"], "end_of_load": last_load["rss_kb"],
                   "end": end["rss_kb"], "max": max(s["rss_kb"] for s in samples),
                   "hwm": end["hwm_kb"]},
        "rss_slope_kb_per_min_second_half": None if slope is None else round(slope, 1),
        "fds": {"start": samples[0]["fds"], "steady_start": first["fds"],
                "max": max(s["fds"] for s in samples), "end": end["fds"], "bound": fd_bound},
        "threads": {"start": samples[0]["threads"], "end": end["threads"]},
        "relay_cpu_ms": end["cpu_ms"] - samples[0]["cpu_ms"],
        "checks": checks, "failures": stats.failure_count, "failure_examples": stats.failures,
    }
    result = {"summary": summary, "samples": samples,
              "metrics": {"start": m_start, "end": m_end}}
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    return 0 if all(checks.values()) and stats.failure_count == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
