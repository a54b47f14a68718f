"""A bounded load of Claude Code-like requests through one or more relays, recorded per request.

    python3 load_client.py --out FILE --stop-file F [--threads N] [--event-delay-ms MS] URL...

N threads per URL (default 2), each on its own keep-alive connection, send POST /v1/messages
in a loop, alternating streamed and JSON answers, until F exists (or --max-seconds). Each
request is one JSON line in FILE: url, t0 and t1 (time.time() at start and end), status, the
x-cc-relay-key fingerprint, and ok (a 200 with a complete answer: message_stop for a stream, a
Message for JSON). Standard library only.
"""

import argparse
import http.client
import json
import os
import threading
import time
import urllib.parse

BODY = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Say hello."}],
}


def one_request(conn, stream, delay_ms):
    body = dict(BODY, stream=stream)
    headers = {
        "content-type": "application/json",
        "anthropic-version": "2023-06-01",
        "x-api-key": "client-key-not-used-upstream",
    }
    if delay_ms:
        headers["x-mock-event-delay-ms"] = str(delay_ms)
    conn.request("POST", "/v1/messages", body=json.dumps(body), headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        ok = False
    elif stream:
        ok = b"event: message_stop" in data
    else:
        try:
            ok = json.loads(data).get("type") == "message"
        except ValueError:
            ok = False
    return resp.status, resp.getheader("x-cc-relay-key", ""), ok


def worker(url, args, out, lock, index):
    parsed = urllib.parse.urlparse(url)
    conn = None
    n = 0
    deadline = time.time() + args.max_seconds
    while not os.path.exists(args.stop_file) and time.time() < deadline:
        stream = (n + index) % 2 == 0
        n += 1
        t0 = time.time()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
            status, key, ok = one_request(conn, stream, args.event_delay_ms)
            error = ""
        except (OSError, http.client.HTTPException) as e:
            status, key, ok, error = 0, "", False, f"{type(e).__name__}: {e}"
            if conn is not None:
                conn.close()
            conn = None
        record = {"url": url, "t0": t0, "t1": time.time(), "stream": stream, "status": status,
                  "key": key, "ok": ok, "error": error}
        with lock:
            out.write(json.dumps(record) + "\n")
            out.flush()
    if conn is not None:
        conn.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--event-delay-ms", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=120)
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
