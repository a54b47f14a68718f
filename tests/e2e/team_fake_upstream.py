"""team_fake_upstream.py: a small scripted Anthropic upstream for the issue-15 end-to-end tests
(budget_status_probe_test.sh, team_claude_cli_test.sh). Standard library only.

  --listen 127.0.0.1:0    prints "listening 127.0.0.1:PORT" once it accepts connections
  --request-log FILE      one JSON line per request, appended and flushed before the answer:
                          seq, method, target, model, stream, status, error_type, usage (the
                          usage the answer reports, success only), header_names, seen
  --watch FILE            lines NAME=SECRET: for each request, "seen" maps every NAME whose
                          SECRET occurs in a header value (or the body) to the header names
                          ("<body>" for the body) where it occurs. The secrets themselves are
                          never written anywhere.
  --error STATUS:TYPE     answer every POST /v1/messages with this error (JSON, the Anthropic
                          shape); without it, answers are successful SSE streams
  --error-message TEXT    the error's message
  --error-header N:V      a header added to the error answer (repeatable)
  --error-count N         only the first N POSTs get the error, the next ones succeed
                          (default: all)
  --text TEXT             the text of a successful answer

Successful answers: an SSE stream with message_start (usage input_tokens, cache_creation_input_
tokens, cache_read_input_tokens), one text block, message_delta (output_tokens), message_stop.
The usage of the answer to the request with sequence number S (from 1) is:
  input_tokens = 1000 + S, cache_creation_input_tokens = 200 + S, cache_read_input_tokens =
  300 + S, output_tokens = 10 + S
so that every request's tokens differ and a test can sum them per user from the request log.
POST /v1/messages/count_tokens answers {"input_tokens": 7}.
HEAD and GET answer 200 with an empty body (Claude Code's connectivity check) and are logged
with status 200.
"""

import argparse
import http.server
import json
import sys
import threading


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:0")
    p.add_argument("--request-log")
    p.add_argument("--watch")
    p.add_argument("--error")
    p.add_argument("--error-message", default="error from the fake upstream")
    p.add_argument("--error-header", action="append", default=[])
    p.add_argument("--error-count", type=int, default=-1)
    p.add_argument("--text", default="Hello from the team fake.")
    return p.parse_args()


ARGS = parse_args()
LOCK = threading.Lock()
STATE = {"seq": 0, "posts": 0}


def load_watch():
    out = []
    if not ARGS.watch:
        return out
    with open(ARGS.watch, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            name, sep, secret = line.partition("=")
            if sep and secret:
                out.append((name, secret))
    return out


def sse(event, data):
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def record(self, entry, body=b"", fill=None):
        seen = {}
        for name, secret in load_watch():
            where = [h.lower() for h, v in self.headers.items() if secret in v]
            if secret.encode() in body:
                where.append("<body>")
            if where:
                seen[name] = where
        entry.update({"method": self.command, "target": self.path,
                      "header_names": sorted({h.lower() for h in self.headers.keys()}),
                      "seen": seen})
        with LOCK:
            STATE["seq"] += 1
            entry["seq"] = STATE["seq"]
            if fill:
                fill(entry)
            if ARGS.request_log:
                with open(ARGS.request_log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
        return entry

    def send_json(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def empty(self, status):
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_HEAD(self):
        self.record({"status": 200})
        self.empty(200)

    def do_GET(self):
        self.record({"status": 200})
        self.empty(200)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            req = json.loads(body)
        except ValueError:
            req = {}
        model = req.get("model", "")
        if self.path.split("?")[0] == "/v1/messages/count_tokens":
            self.record({"model": model, "stream": False, "status": 200}, body)
            self.send_json(200, {"input_tokens": 7})
            return
        with LOCK:
            STATE["posts"] += 1
            post = STATE["posts"]
        if ARGS.error and (ARGS.error_count < 0 or post <= ARGS.error_count):
            status, _, etype = ARGS.error.partition(":")
            status = int(status)
            self.record({"model": model, "stream": bool(req.get("stream")), "status": status,
                         "error_type": etype}, body)
            headers = [("request-id", f"req_fake_{post}")]
            for h in ARGS.error_header:
                name, _, value = h.partition(":")
                headers.append((name.strip(), value.strip()))
            self.send_json(status, {"type": "error", "error": {"type": etype,
                                                               "message": ARGS.error_message}},
                           headers)
            return

        def fill(entry):
            s = entry["seq"]
            entry["usage"] = {"input_tokens": 1000 + s, "cache_creation_input_tokens": 200 + s,
                              "cache_read_input_tokens": 300 + s, "output_tokens": 10 + s}

        entry = self.record({"model": model, "stream": bool(req.get("stream")), "status": 200},
                            body, fill)
        s, usage = entry["seq"], entry["usage"]
        msg_id = f"msg_fake_{s}"
        if not req.get("stream"):
            self.send_json(200, {"id": msg_id, "type": "message", "role": "assistant",
                                 "model": model,
                                 "content": [{"type": "text", "text": ARGS.text}],
                                 "stop_reason": "end_turn", "stop_sequence": None,
                                 "usage": usage})
            return
        start_usage = {k: v for k, v in usage.items() if k != "output_tokens"}
        start_usage["output_tokens"] = 1
        chunks = [
            sse("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": start_usage}}),
            sse("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}}),
            sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": ARGS.text}}),
            sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                  "usage": {"output_tokens": usage["output_tokens"]}}),
            sse("message_stop", {"type": "message_stop"}),
        ]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for c in chunks:
            self.wfile.write(f"{len(c):x}\r\n".encode() + c + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def main():
    host, _, port = ARGS.listen.rpartition(":")
    server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    print(f"listening {host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
