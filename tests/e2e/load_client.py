"""A bounded load of Claude Code-like requests through one or more relays, recorded per request.

    python3 load_client.py --out FILE --stop-file F [--threads N] [--event-delay-ms MS]
        [--streams-only] [--id-header NAME] [--route-around] URL...

N threads per URL (default 2), each on its own keep-alive connection, send POST /v1/messages
in a loop, alternating streamed and JSON answers (only streams with --streams-only), until F
exists (or --max-seconds). Each request is one JSON line in FILE: url, t0 and t1 (time.time() at
start and end), status, the x-cc-relay-key fingerprint, the model the answer names, and ok (a
200 with a complete answer: message_stop for a stream, a Message for JSON).

--id-header NAME sends a fresh id with each request in header NAME (recorded as "id"; the relay
forwards it upstream, so an upstream's request log shows each id it saw).

--route-around: a thread's URL is its preferred data plane, the other URLs stand in for it. An
attempt that the relay cannot have taken on moves the request, with the same id, to the next
URL: the connection was refused ("refused": nothing sent), or the connection was closed or reset
before any byte of an answer came back ("unanswered": a data plane that drains closes the
connections that are between requests; whether the upstream saw such an attempt is for the
caller to check). A kept-alive connection is checked for a close by the peer before it is
reused, and replaced if closed (nothing sent). Once a status line has arrived the attempt is the
request's outcome, whatever happens next (a 503 included). A URL that refused or did not answer
is skipped for 200 ms, then taken back only once its GET /health says "ok" (as a load
balancer's health check would: a restarted data plane listens at once but answers 503 until its
first snapshot), probed again every 200 ms until then. The attempts are recorded as "attempts":
[{"url", "outcome", "error"}]; "url" is the one that answered. Standard library only.
"""

import argparse
import http.client
import itertools
import json
import os
import select
import socket
import threading
import time
import urllib.parse

BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello."}],
}
_ids = itertools.count(1)
_run = os.urandom(3).hex()


def one_request(conn, stream, args, request_id):
    """Sends one request on conn; returns (status, key, model, ok)."""
    return read_answer(send_request(conn, stream, args, request_id), stream)


def send_request(conn, stream, args, request_id):
    """Sends one request on conn; returns the response once its status line is in."""
    body = dict(BODY, stream=stream)
    headers = {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "client-key-not-used-upstream",
    }
    if args.event_delay_ms:
        headers["x-mock-event-delay-ms"] = str(args.event_delay_ms)
    if args.id_header:
        headers[args.id_header] = request_id
    conn.request("POST", "/v1/messages", body=json.dumps(body), headers=headers)
    return conn.getresponse()


def read_answer(resp, stream):
    data = resp.read()
    model = ""
    if resp.status != 200:
        ok = False
    elif stream:
        ok = b"event: message_stop" in data
        for block in data.split(b"\n\n"):
            if b"event: message_start" in block:
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        try:
                            model = json.loads(line[6:])["message"]["model"]
                        except (ValueError, KeyError, TypeError):
                            pass
    else:
        try:
            parsed = json.loads(data)
            ok = parsed.get("type") == "message"
            model = parsed.get("model", "")
        except ValueError:
            ok = False
    return resp.status, resp.getheader("x-cc-relay-key", ""), model, ok


def peer_closed(conn):
    """Whether the peer has closed (or reset) an idle kept-alive connection."""
    if conn.sock is None:
        return True
    try:
        readable, _, _ = select.select([conn.sock], [], [], 0)
        if not readable:
            return False
        return conn.sock.recv(1, socket.MSG_PEEK) == b""  # bytes nobody asked for: also unusable
    except OSError:
        return True


def healthy(url):
    """Whether the data plane at url answers GET /health with status "ok"."""
    parsed = urllib.parse.urlparse(url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=1)
    try:
        conn.request("GET", "/health")
        resp = conn.getresponse()
        return resp.status == 200 and json.loads(resp.read()).get("status") == "ok"
    except (OSError, http.client.HTTPException, ValueError):
        return False
    finally:
        conn.close()


class Attempt(Exception):
    def __init__(self, outcome, error):
        super().__init__(error)
        self.outcome = outcome
        self.error = error


def routed_request(conns, urls, down, suspect, stream, args, request_id, attempts):
    """One request with --route-around; returns (url, status, key, model, ok, error)."""
    deadline = time.time() + 10
    while True:
        now = time.time()
        order = [u for u in urls if down.get(u, 0) <= now] or list(urls)
        for url in order:
            if url in suspect:
                if not healthy(url):
                    down[url] = time.time() + 0.2
                    continue
                suspect.discard(url)
            conn = conns.get(url)
            if conn is not None and peer_closed(conn):
                conn.close()
                conn = None
            try:
                if conn is None:
                    parsed = urllib.parse.urlparse(url)
                    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
                    try:
                        conn.connect()
                    except OSError as e:
                        conn.close()
                        raise Attempt("refused", f"{type(e).__name__}: {e}") from None
                    conns[url] = conn
                try:
                    resp = send_request(conn, stream, args, request_id)
                except (http.client.RemoteDisconnected, ConnectionResetError,
                        BrokenPipeError) as e:
                    # No status line came back (http.client raises these before any byte of
                    # one; a status line cut short is a BadStatusLine, a failure below).
                    conn.close()
                    conns.pop(url, None)
                    raise Attempt("unanswered", f"{type(e).__name__}: {e}") from None
            except Attempt as a:
                attempts.append({"url": url, "outcome": a.outcome, "error": a.error})
                down[url] = time.time() + 0.2
                suspect.add(url)
                continue
            try:
                return (url,) + read_answer(resp, stream) + ("",)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conns.pop(url, None)
                return url, resp.status, resp.getheader("x-cc-relay-key", ""), "", False, \
                    f"{type(e).__name__}: {e}"
        if time.time() > deadline:
            raise Attempt("gave_up", "no data plane took the request for 10 s")
        time.sleep(0.05)


def worker(url, args, out, lock, index):
    parsed = urllib.parse.urlparse(url)
    conn = None
    conns, down, suspect = {}, {}, set()
    urls = [url] + [u for u in args.urls if u != url]
    n = 0
    deadline = time.time() + args.max_seconds
    while not os.path.exists(args.stop_file) and time.time() < deadline:
        stream = args.streams_only or (n + index) % 2 == 0
        n += 1
        request_id = f"load-{_run}-{next(_ids)}"
        attempts = []
        t0 = time.time()
        served_by = url
        model = ""
        try:
            if args.route_around:
                served_by, status, key, model, ok, error = routed_request(
                    conns, urls, down, suspect, stream, args, request_id, attempts)
            else:
                if conn is None:
                    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
                status, key, model, ok = one_request(conn, stream, args, request_id)
                error = ""
        except Attempt as a:
            status, key, ok, error = 0, "", False, a.error
        except (OSError, http.client.HTTPException) as e:
            status, key, ok, error = 0, "", False, f"{type(e).__name__}: {e}"
            if conn is not None:
                conn.close()
            conn = None
            if served_by in conns:
                conns.pop(served_by).close()
        record = {"url": served_by, "t0": t0, "t1": time.time(), "stream": stream,
                  "status": status, "key": key, "model": model, "ok": ok, "error": error}
        if args.id_header:
            record["id"] = request_id
        if args.route_around:
            record["preferred"] = url
            record["attempts"] = attempts
        with lock:
            out.write(json.dumps(record) + "\n")
            out.flush()
    if conn is not None:
        conn.close()
    for c in conns.values():
        c.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--event-delay-ms", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=120)
    p.add_argument("--streams-only", action="store_true")
    p.add_argument("--id-header", default="")
    p.add_argument("--route-around", action="store_true")
    p.add_argument("urls", nargs="+")
    args = p.parse_args()
    lock = threading.Lock()
    with open(args.out, "w", encoding="utf-8") as out:
        threads = [threading.Thread(target=worker, args=(url, args, out, lock, i))
                   for url in args.urls for i in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()


if __name__ == "__main__":
    main()
