#!/usr/bin/python3
r"""bedrock_client.py: a small Bedrock Runtime client for the tests of fake_bedrock.py, signing
with AWS's own code (botocore.auth.SigV4Auth) or a Bedrock API key.

  bedrock_client.py --endpoint http://127.0.0.1:PORT --op invoke|stream|count-tokens
      --model MODEL_ID [--body JSON | --body-file FILE]
      [--sigv4 AKID:SECRET [--token TOKEN] | --bearer KEY]
      [--region us-east-1] [--service bedrock] [--time-offset SECONDS] [--content-sha256]
      [--tamper-body] [--header NAME:VALUE]... [--signed-header NAME:VALUE]...
      [--path RAW_PATH] [--query QUERY] [--repeat N]

The path is /model/<model id with '/' as %2F, ':' kept>/<op> unless --path gives it raw. For
count-tokens the body is wrapped as {"input":{"invokeModel":{"body":"<base64>"}}}.
--time-offset signs at now+SECONDS (botocore.auth's clock patched, as botocore's tests do);
--tamper-body appends a space to the body after signing; --signed-header adds a header before
signing, --header one after.

Prints one JSON line per response (--repeat N sends N requests on one connection) on stdout,
or into --out FILE:
  {"status", "reason", "headers" (lowercase), "error_type" (x-amzn-ErrorType name),
   "body" (parsed JSON, else text), "local_port",
   stream only: "frames": [{"headers", "payload" (parsed JSON or text), "t_ms"}],
                "events": [decoded Anthropic events of the chunk frames],
                "incomplete": bool, "read_error": str|null, "decode_error": str|null}

  bedrock_client.py --serve
A long-lived helper for shell tests (importing botocore takes about a second per process):
reads commands from stdin, each "<field count>\0<field>\0<field>\0...", and answers each with
a line "done <exit status>":
  call <request options as above, with --out FILE>
  query RESPONSES_FILE REQUEST_LOG EXPR RESULT_FILE
      evaluates the Python expression EXPR and writes its value to RESULT_FILE (a string as is,
      anything else as JSON). Names: rs = the JSON lines of RESPONSES_FILE, r = rs[0],
      logs = the JSON lines of REQUEST_LOG (fake_bedrock's --request-log), log = the entry of
      logs whose request_id is r's x-amzn-requestid, text(events) = the concatenated text
      deltas of a list of events; json and base64 are imported.
"""

import argparse
import base64
import datetime
import hashlib
import http.client
import json
import os
import sys
import time
import traceback
import types
from unittest import mock
from urllib.parse import quote, urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.eventstream

OPS = {"invoke": "invoke", "stream": "invoke-with-response-stream", "count-tokens": "count-tokens"}


def sign(method, url, headers, body, access_key, secret, token, region, service, offset):
    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        request.headers[name] = value
    auth = botocore.auth.SigV4Auth(botocore.credentials.Credentials(access_key, secret, token),
                                   service, region)
    if offset:
        when = datetime.datetime.utcnow() + datetime.timedelta(seconds=offset)

        class Shifted(datetime.datetime):
            @classmethod
            def utcnow(cls):
                return when

        with mock.patch.object(botocore.auth, "datetime",
                               types.SimpleNamespace(datetime=Shifted)):
            auth.add_auth(request)
    else:
        auth.add_auth(request)
    return list(request.headers.items())


def read_stream(response, started):
    buf = botocore.eventstream.EventStreamBuffer()
    out = {"frames": [], "events": [], "incomplete": False, "read_error": None,
           "decode_error": None}
    while True:
        try:
            data = response.read1(65536)
        except (http.client.IncompleteRead, ConnectionError, OSError) as e:
            out["incomplete"] = True
            out["read_error"] = type(e).__name__
            break
        if not data:
            break
        buf.add_data(data)
        try:
            for message in buf:
                payload = message.payload
                try:
                    payload = json.loads(payload) if payload else None
                except ValueError:
                    payload = payload.decode("utf-8", "replace")
                frame = {"headers": message.headers, "payload": payload,
                         "t_ms": round((time.monotonic() - started) * 1000, 1)}
                out["frames"].append(frame)
                if message.headers.get(":message-type") == "event" and isinstance(payload, dict):
                    out["events"].append(json.loads(base64.b64decode(payload["bytes"])))
        except botocore.eventstream.ParserError as e:
            out["decode_error"] = type(e).__name__
            response.close()
            break
    if buf._data and not out["decode_error"]:  # noqa: SLF001 - leftover bytes = cut frame
        out["incomplete"] = True
        out["leftover_bytes"] = len(buf._data)  # noqa: SLF001
    return out


def load_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def text(events):
    return "".join(e["delta"].get("text", "") for e in events
                   if e.get("type") == "content_block_delta")


def query(responses_path, log_path, expr, result_path):
    rs = load_lines(responses_path)
    r = rs[0] if rs else None
    logs = load_lines(log_path)
    rid = (r or {}).get("headers", {}).get("x-amzn-requestid")
    log = next((e for e in logs if e.get("request_id") == rid), None)
    names = {"rs": rs, "r": r, "logs": logs, "log": log, "text": text, "json": json,
             "base64": base64}
    value = eval(expr, names)  # noqa: S307 - test expressions written by the test script
    with open(result_path, "w", encoding="utf-8") as f:
        f.write(value if isinstance(value, str) else json.dumps(value))
    return 0


def serve():
    stdin = sys.stdin.buffer

    def field():
        data = bytearray()
        while True:
            c = stdin.read(1)
            if not c:
                return None
            if c == b"\0":
                return data.decode("utf-8")
            data += c

    while True:
        count = field()
        if count is None:
            return 0
        fields = [field() for _ in range(int(count))]
        if any(f is None for f in fields):
            return 1
        try:
            if fields[0] == "call":
                rc = main(fields[1:])
            elif fields[0] == "query":
                rc = query(*fields[1:])
            else:
                raise ValueError(f"unknown command {fields[0]!r}")
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
        except Exception:  # noqa: BLE001 - reported, the helper keeps serving
            traceback.print_exc()
            rc = 1
        sys.stderr.flush()
        print(f"done {rc}", flush=True)


def main(argv):
    if argv == ["--serve"]:
        return serve()
    p = argparse.ArgumentParser()
    p.add_argument("--out", help="write the JSON lines here instead of stdout")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--op", choices=sorted(OPS), required=True)
    p.add_argument("--model", default="anthropic.claude-sonnet-4-5-20250929-v1:0")
    p.add_argument("--body")
    p.add_argument("--body-file")
    p.add_argument("--sigv4")
    p.add_argument("--token")
    p.add_argument("--bearer")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--service", default="bedrock")
    p.add_argument("--time-offset", type=int, default=0)
    p.add_argument("--content-sha256", action="store_true")
    p.add_argument("--tamper-body", action="store_true")
    p.add_argument("--header", action="append", default=[])
    p.add_argument("--signed-header", action="append", default=[])
    p.add_argument("--path")
    p.add_argument("--query")
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args(argv)

    if args.body_file:
        with open(args.body_file, "rb") as f:
            body = f.read()
    else:
        body = (args.body or "").encode("utf-8")
    if args.op == "count-tokens" and not args.path:
        body = json.dumps({"input": {"invokeModel": {
            "body": base64.b64encode(body).decode("ascii")}}}).encode("utf-8")
    path = args.path or "/model/%s/%s" % (quote(args.model, safe=":"), OPS[args.op])
    if args.query:
        path += "?" + args.query
    if args.out:
        with open(args.out, "w", encoding="utf-8") as sink:
            return send(args, body, path, sink)
    return send(args, body, path, sys.stdout)


def send(args, body, path, sink):
    endpoint = urlsplit(args.endpoint)
    conn = http.client.HTTPConnection(endpoint.hostname, endpoint.port, timeout=60)
    for _ in range(args.repeat):
        headers = [("Host", endpoint.netloc), ("Content-Type", "application/json")]
        headers += [tuple(h.split(":", 1)) for h in args.signed_header]
        if args.content_sha256:
            headers.append(("X-Amz-Content-SHA256", hashlib.sha256(body).hexdigest()))
        if args.sigv4:
            access_key, secret = args.sigv4.split(":", 1)
            headers = sign("POST", args.endpoint + path, headers, body, access_key, secret,
                           args.token, args.region, args.service, args.time_offset)
        elif args.bearer:
            headers.append(("Authorization", "Bearer " + args.bearer))
        headers += [tuple(h.split(":", 1)) for h in args.header]
        sent = body + b" " if args.tamper_body else body
        conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value.strip())
        conn.putheader("Content-Length", str(len(sent)))
        conn.endheaders(sent)
        started = time.monotonic()
        response = conn.getresponse()
        local_port = conn.sock.getsockname()[1] if conn.sock else None
        out = {"status": response.status, "reason": response.reason,
               "headers": {k.lower(): v for k, v in response.getheaders()},
               "local_port": local_port}
        error_type = out["headers"].get("x-amzn-errortype")
        out["error_type"] = error_type.split(":", 1)[0] if error_type else None
        if "eventstream" in out["headers"].get("content-type", "") and response.status == 200:
            out.update(read_stream(response, started))
        else:
            raw = response.read()
            try:
                out["body"] = json.loads(raw)
            except ValueError:
                out["body"] = raw.decode("utf-8", "replace")
        sink.write(json.dumps(out) + "\n")
        sink.flush()
        if out.get("incomplete") or out.get("decode_error"):
            conn.close()
    conn.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
