"""anthropic_fake.py: the HTTP server shared by fake_vertex.py and fake_foundry.py, the strict
fakes of cloud endpoints that speak the Anthropic Messages API behind a bearer token (or key);
fake_bedrock.py uses its plumbing (FakeHTTPHandler, State, listen_and_serve). Standard library
only; imported, never run.

  Tokens          bearer tokens a fake accepts: the JSON tokens files the fake token endpoints
                  write (re-read on every request) plus --static-token values
  FakeError       an error answer, already in the provider's shape
  FakeHTTPHandler HTTP plumbing: methods, bodies, chunked writes, the /__fake/ control commands
  FakeHandler     request parsing, the request log, the /__fake/ control routes, the Anthropic
                  body rules, the scripted answers (JSON or SSE) with their faults; a fake
                  subclasses it and implements serve()
  State           the request log file, the sequence numbers and the queued failures
  add_common_args(), run(), listen_and_serve()   the command line and the server loop

Tokens file (JSON, written by tests/fakes/fake_gcp_auth.py, fake_azure_auth.py or a test):
  {"tokens": [{"token": "ya29.fake...", "expires_unix_ms": 1767225600000}, ...]}
  also read: "expires_unix" (seconds) instead of "expires_unix_ms", and "tokens" as an object
  {"TOKEN": {"expires_unix_ms": ...}}; an entry's optional "scope" (space-separated) must hold
  one of the fake's --token-scope values.
A token is good while now < its expiry (none given: never expires). A missing file holds no
tokens (the endpoint has issued none yet).

Request log (--request-log): one JSON object per request, appended and flushed before the
response is written:
  seq, time, request_id, method, path, query, operation, model, headers (lowercase name ->
  value; authorization, api-key, x-api-key and x-goog-api-key replaced by "<scheme> fp:<8 hex>"
  / "fp:<8 hex>", the first 8 hex of the SHA-256 of the secret, as common::FingerprintOf),
  auth {kind: bearer|api-key|none, verdict: ok|unknown|expired|missing|..., token_fingerprint,
  key_fingerprint}, token_fingerprint, verified, body_bytes, body_sha256, body (decoded JSON or
  null), anthropic_beta (list or null), rejected_betas, behaviour, fault, status, error_type,
  error_message, error_detail (why, for the test), stream {frame_delay_ms, outcome: complete |
  midstream-drop | midstream-error, events: [event types sent]}; plus the fake's own keys.
No token, key or secret is ever written anywhere, only fingerprints.
"""

import argparse
import datetime
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from urllib.parse import parse_qs

import anthropic_script

BODY_LIMIT = 32_000_000
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 413: "Payload Too Large",
           429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable",
           504: "Gateway Timeout", 529: "Overloaded"}
SECRET_HEADERS = ("authorization", "api-key", "x-api-key", "x-goog-api-key")

# Messages API top-level members (the Anthropic API answers any other with "Extra inputs are not
# permitted"); count_tokens takes fewer.
MESSAGES_KEYS = frozenset([
    "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature",
    "top_p", "top_k", "tools", "tool_choice", "thinking", "metadata", "output_config",
    "context_management", "service_tier", "container", "mcp_servers", "inference_geo"])
COUNT_TOKENS_KEYS = frozenset([
    "model", "messages", "system", "tools", "tool_choice", "thinking", "context_management",
    "output_config", "mcp_servers"])
MID_CONVERSATION_SYSTEM_BETA = "mid-conversation-system-2026-04-07"
PROMPT_CACHING_SCOPE_BETA = "prompt-caching-scope-2026-01-05"

# Anthropic error types by status (protocols.md 1.7).
ANTHROPIC_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                         402: "billing_error", 403: "permission_error", 404: "not_found_error",
                         409: "conflict_error", 413: "request_too_large",
                         429: "rate_limit_error", 500: "api_error", 503: "api_error",
                         504: "timeout_error", 529: "overloaded_error"}
STREAM_FAULTS = ("midstream-drop", "midstream-error")


def fingerprint(secret):
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def now_unix_ms():
    return int(time.time() * 1000)


class BodyTooLarge(Exception):
    """A request body over the handler's body_limit."""


class ControlError(Exception):
    """A /__fake/ control call refused: `status` and a message."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


class FakeError(Exception):
    """An error answer: `body` is already in the provider's shape."""

    def __init__(self, status, body, error_type, message, detail=None, headers=(),
                 content_type="application/json"):
        super().__init__(message)
        self.status = status
        self.body = body
        self.error_type = error_type  # logged
        self.message = message  # logged
        self.detail = detail  # logged only (why, for the test)
        self.headers = list(headers)
        self.content_type = content_type


def anthropic_error(status, message, request_id, error_type=None, detail=None, headers=()):
    error_type = error_type or ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": error_type, "message": message},
            "request_id": request_id}
    return FakeError(status, body, error_type, message, detail, headers)


def beta_error(rejected, request_id):
    """The Anthropic API's answer to betas it does not know (also Vertex's, with req_vrtx_ ids:
    anthropics/claude-code issues #12429, #21625)."""
    values = ", ".join(f"`{b}`" for b in rejected)
    return anthropic_error(400, f"Unexpected value(s) {values} for the `anthropic-beta` header. "
                           "Please consult our documentation at docs.anthropic.com or try again "
                           "without the header.", request_id, detail=f"rejected betas {rejected}")


class Tokens:
    """The bearer tokens a fake accepts: every tokens file (re-read on each check) and the static
    ones. `scopes`: when a file's entry names its scope, one of these must be in it."""

    def __init__(self, paths, static_tokens, scopes):
        self.paths = list(paths or [])
        self.static = list(static_tokens or [])
        self.scopes = set(scopes or [])

    @staticmethod
    def read_file(path):
        """[(token, expires_unix_ms or None, scope or None)]; [] when the file does not exist.
        A file caught half-written (a writer that does not rename) is read again a few times."""
        for attempt in range(10):
            try:
                with open(path, "r", encoding="utf-8") as f:
                    data = json.load(f)
                break
            except FileNotFoundError:
                return []
            except ValueError as e:
                if attempt == 9:
                    raise RuntimeError(f"tokens file {path}: not valid JSON ({e})")
                time.sleep(0.02)
            except OSError as e:
                raise RuntimeError(f"tokens file {path}: cannot read it ({e.strerror})")
        entries = data.get("tokens") if isinstance(data, dict) else None
        if isinstance(entries, dict):  # {"TOKEN": {"expires_unix_ms": ...}} (fake_azure_auth)
            entries = [dict(e, token=t) for t, e in entries.items() if isinstance(e, dict)]
        if not isinstance(entries, list):
            raise RuntimeError(f"tokens file {path}: want {{\"tokens\": [...]}}")
        out = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
                raise RuntimeError(f"tokens file {path}: an entry without a \"token\" string")
            expires = entry.get("expires_unix_ms")
            if expires is None and entry.get("expires_unix") is not None:  # fake_gcp_auth
                expires = float(entry["expires_unix"]) * 1000
            out.append((entry["token"], expires, entry.get("scope") or None))
        return out

    def check(self, token):
        """-> (verdict, detail): verdict "ok", "unknown", "expired" or "wrong-scope"."""
        for static in self.static:
            if hmac.compare_digest(static.encode("utf-8"), token.encode("utf-8")):
                return "ok", "a --static-token"
        now = now_unix_ms()
        refused = None
        for path in self.paths:
            for known, expires, scope in self.read_file(path):
                if not hmac.compare_digest(known.encode("utf-8"), token.encode("utf-8")):
                    continue
                where = f"in {os.path.basename(path)}"
                if expires is not None and now >= int(expires):
                    refused = ("expired", f"{where}, expired {now - int(expires)} ms ago")
                elif scope and self.scopes and not self.scopes & set(scope.split()):
                    refused = ("wrong-scope", f"{where}, issued for scope '{scope}'")
                else:
                    return "ok", where
        return refused or ("unknown", "in no tokens file")


class State:
    def __init__(self, log_path):
        self.lock = threading.Lock()
        self.fail_next = []  # [(status, type or None, message or None)], one per request
        self.counter = 0
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None

    def next_seq(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def take_failure(self):
        with self.lock:
            return self.fail_next.pop(0) if self.fail_next else None

    def write_log(self, entry):
        if self.log_file is None:
            return
        line = json.dumps(entry, ensure_ascii=False, default=str)
        with self.lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()


class Request:
    """One request as the handler parsed it."""

    def __init__(self, method, target, headers, body, log, request_id):
        self.method = method
        self.target = target
        self.path, _, self.query = target.partition("?")
        self.headers = headers  # [(lowercase name, value)] in wire order
        self.values = {}
        for name, value in headers:
            self.values.setdefault(name, []).append(value)
        self.body = body
        self.log = log
        self.request_id = request_id
        self.started = time.monotonic()
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
            self.json_error = None if body else "empty body"
        except (UnicodeDecodeError, ValueError) as e:
            self.json, self.json_error = None, e.__class__.__name__

    def header(self, name):
        """The single value of a header, None if absent; repeats joined with ", "."""
        values = self.values.get(name)
        return ", ".join(values) if values else None

    def betas(self):
        """anthropic-beta values (repeated headers and comma lists), in order."""
        out = []
        for value in self.values.get("anthropic-beta", []):
            out.extend(v.strip() for v in value.split(",") if v.strip())
        return out


def redact_header(name, value):
    if name == "authorization":
        scheme, _, secret = value.partition(" ")
        if secret:
            return f"{scheme} fp:{fingerprint(secret.strip())}"
    return f"fp:{fingerprint(value)}"


class FakeHTTPHandler(http.server.BaseHTTPRequestHandler):
    """What the handlers of the Python fakes share (fake_bedrock.py's too): HTTP/1.1 with
    keep-alive, every method to handle_request(), bodies read plain or chunked, chunked writes,
    the /__fake/ control commands. A subclass sets NAME, config (with .verbose) and state."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one response = several small writes
    timeout = 300
    body_limit = BODY_LIMIT
    NAME = "fake"
    config = None  # set before the server starts
    state = None

    def version_string(self):
        return self.NAME.replace("_", "-")

    def log_message(self, fmt, *args):
        if self.config.verbose:
            sys.stderr.write("%s: %s - %s\n" % (self.NAME, self.address_string(), fmt % args))

    def do_POST(self):
        self.handle_request()

    def do_GET(self):
        self.handle_request()

    def do_PUT(self):
        self.handle_request()

    def do_DELETE(self):
        self.handle_request()

    def do_HEAD(self):
        self.handle_request()

    def handle_request(self):
        raise NotImplementedError

    def read_body(self):
        """The request body, plain or chunked; BodyTooLarge over body_limit (a Content-Length
        over it also closes the connection, the body is never read)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline(65537)
                if len(data) > self.body_limit:
                    raise BodyTooLarge()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        length = int(length)
        if length > self.body_limit:
            self.close_connection = True
            raise BodyTooLarge()
        return self.rfile.read(length)

    def write_chunk(self, data):
        self.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n")
        self.wfile.flush()

    def drop_connection(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def control_command(self, path, query):
        """POST /__fake/fail-next?status=503&n=2[&type=T][&message=M] queues n failures
        (status, type or None, message or None) in state.fail_next; POST /__fake/reset drops
        them. Loopback peers only, no auth. -> failures pending; ControlError if refused."""
        host = self.client_address[0]
        if not (host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")):
            raise ControlError(403, f"{self.NAME} control: loopback only")
        if self.command != "POST" or path not in ("/__fake/fail-next", "/__fake/reset"):
            raise ControlError(404, f"{self.NAME} control: no route {self.command} {path}")
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        if path == "/__fake/reset":
            with self.state.lock:
                self.state.fail_next.clear()
                return 0
        try:
            status = int(params.get("status", "503"))
            count = int(params.get("n", "1"))
        except ValueError:
            raise ControlError(400, f"{self.NAME} control: status and n must be integers")
        with self.state.lock:
            self.state.fail_next.extend(
                [(status, params.get("type"), params.get("message"))] * count)
            return len(self.state.fail_next)


class FakeHandler(FakeHTTPHandler):
    """The shared request path. A fake sets NAME and SCRIPT and implements serve(req),
    injected_error(req, status, type, message), internal_error(req, message),
    response_headers(req) and new_request_id()."""

    SCRIPT = None
    tokens = None

    # -- hooks ----------------------------------------------------------------------------------

    def new_request_id(self):
        return "req_01" + uuid.uuid4().hex[:24]

    def response_headers(self, req):
        return []

    def injected_error(self, req, status, error_type, message):
        return anthropic_error(status, message, req.request_id, error_type)

    def internal_error(self, req, message):
        return anthropic_error(500, message, req.request_id)

    def serve(self, req):
        raise NotImplementedError

    def invalid(self, req):
        """-> invalid(message): a 400 invalid_request_error in Anthropic's shape."""
        return lambda message: anthropic_error(400, message, req.request_id)

    # -- writing --------------------------------------------------------------------------------

    def send_bytes(self, req, status, data, content_type, extra=()):
        self.send_response(status, REASONS.get(status, "Error"))
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in self.response_headers(req) + list(extra):
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def send_json(self, req, status, obj, extra=(), content_type="application/json"):
        self.send_bytes(req, status, json.dumps(obj, separators=(",", ":")).encode("utf-8"),
                        content_type, extra)

    def fail(self, req, err):
        req.log.update(status=err.status, error_type=err.error_type, error_message=err.message,
                       error_detail=err.detail or req.log.get("error_detail"))
        self.state.write_log(req.log)
        self.send_json(req, err.status, err.body, err.headers, err.content_type)

    # -- the request ----------------------------------------------------------------------------

    def handle_request(self):
        request_id = self.new_request_id()
        headers = [(k.lower(), v) for k, v in self.headers.items()]
        log = {"seq": self.state.next_seq(),
               "time": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
               "request_id": request_id, "method": self.command, "path": None, "query": None,
               "operation": None, "model": None, "headers": {}, "auth": {"kind": "none"},
               "token_fingerprint": None, "verified": False, "body_bytes": 0,
               "body_sha256": None, "body": None, "anthropic_beta": None,
               "rejected_betas": None, "behaviour": None, "fault": None, "status": None,
               "error_type": None, "error_message": None, "error_detail": None,
               "stream": None}
        for name, value in headers:
            shown = redact_header(name, value) if name in SECRET_HEADERS else value
            log["headers"][name] = (log["headers"][name] + ", " + shown
                                    if name in log["headers"] else shown)
        try:
            body = self.read_body()
        except BodyTooLarge:
            self.close_connection = True  # the rest of the body is not read
            req = Request(self.command, self.path, headers, b"", log, request_id)
            self.fail(req, anthropic_error(413, f"{self.NAME}: the body is over "
                                           f"{self.body_limit} bytes", request_id))
            return
        except (ValueError, OSError):
            self.close_connection = True
            return
        req = Request(self.command, self.path, headers, body, log, request_id)
        log.update(path=req.path, query=req.query or None, body_bytes=len(body),
                   body_sha256=hashlib.sha256(body).hexdigest(), body=req.json)
        if req.betas():
            log["anthropic_beta"] = req.betas()
        try:
            if req.path.startswith("/__fake/"):
                self.control(req)
            else:
                self.serve(req)
        except FakeError as err:
            self.fail(req, err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug in the fake: say so instead of hanging up
            traceback.print_exc()
            self.close_connection = True
            try:
                self.fail(req, self.internal_error(req, f"{self.NAME} bug: {e!r}"))
            except OSError:
                pass

    def control(self, req):
        req.log["operation"] = "Control"
        try:
            pending = self.control_command(req.path, req.query)
        except ControlError as e:
            raise anthropic_error(e.status, e.message, req.request_id)
        req.log["status"] = 200
        self.state.write_log(req.log)
        self.send_json(req, 200, {"ok": True, "pending_failures": pending})

    # -- shared checks --------------------------------------------------------------------------

    def authenticate_bearer(self, req):
        """Checks `Authorization: Bearer <token>` against the tokens; fills the log. Returns the
        verdict: "ok", "missing", "malformed", "unknown", "expired", "wrong-scope" (never raises
        for a bad token: each fake answers in its own shape)."""
        auth = req.log["auth"]
        values = req.values.get("authorization", [])
        if not values:
            auth.update(kind="none", verdict="missing")
            return "missing"
        auth["kind"] = "bearer"
        if len(values) != 1 or not values[0].startswith("Bearer ") or \
                not values[0][len("Bearer "):].strip():
            auth["verdict"] = "malformed"
            req.log["error_detail"] = "Authorization is not one 'Bearer <token>'"
            return "malformed"
        token = values[0][len("Bearer "):].strip()
        auth["token_fingerprint"] = req.log["token_fingerprint"] = fingerprint(token)
        try:
            verdict, detail = self.tokens.check(token)
        except RuntimeError as e:
            raise self.internal_error(req, f"{self.NAME}: {e}")
        auth.update(verdict=verdict, detail=detail)
        if verdict == "ok":
            req.log["verified"] = True
        return verdict

    def check_betas(self, req, reject):
        """400 (Anthropic shape) when an anthropic-beta value is in `reject`."""
        rejected = [b for b in req.betas() if b in reject]
        if rejected:
            req.log["rejected_betas"] = rejected
            raise beta_error(rejected, req.request_id)

    def check_json_body(self, req, invalid):
        content_type = (req.header("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise invalid(f"{self.NAME}: Content-Type must be application/json, got "
                          f"'{content_type}'")
        if not isinstance(req.json, dict):
            raise invalid("body: Input should be a valid dictionary"
                          if req.json_error is None
                          else f"{self.NAME}: the body is not JSON ({req.json_error})")

    def check_messages_body(self, req, invalid, allowed_keys, count_tokens):
        """The Messages API rules (Anthropic's messages) on req.json, a dict. The betas have
        passed check_betas already."""
        body = req.json
        extra = [k for k in body if k not in allowed_keys]
        if extra:
            req.log["extraneous_keys"] = extra
            raise invalid(f"{extra[0]}: Extra inputs are not permitted")
        if not count_tokens:
            anthropic_script.check_max_tokens(body, invalid,
                                              invalid("max_tokens: Field required"))
        if "stream" in body and not isinstance(body["stream"], bool):
            raise invalid("stream: Input should be a valid boolean")
        messages = body.get("messages")
        if messages is None:
            raise invalid("messages: Field required")
        if not isinstance(messages, list):
            raise invalid("messages: Input should be a valid list")
        if not messages and not count_tokens:
            raise invalid("messages: at least one message is required")
        system = body.get("system")
        if system is not None and not isinstance(system, (str, list)):
            raise invalid("system: Input should be a valid string or list")
        if "tools" in body and not isinstance(body["tools"], list):
            raise invalid("tools: Input should be a valid list")
        anthropic_script.check_thinking(body, invalid)
        anthropic_script.check_metadata(body, invalid)
        betas = req.betas()
        cache_keys = ("type", "ttl") + (("scope",) if PROMPT_CACHING_SCOPE_BETA in betas else ())
        anthropic_script.check_cache_control(
            {k: body[k] for k in ("system", "messages", "tools") if k in body}, "", invalid,
            cache_keys)
        anthropic_script.check_history(
            messages, invalid, self.SCRIPT.thinking_signature,
            self.config.allow_system_messages or MID_CONVERSATION_SYSTEM_BETA in betas)

    def take_injected_failure(self, req):
        failure = self.state.take_failure()
        if failure is not None:
            req.log["fault"] = "fail-next"
            status, error_type, message = failure
            raise self.injected_error(req, status, error_type,
                                      message or f"{self.NAME}: injected failure {status}")

    # -- answers --------------------------------------------------------------------------------

    def answer_count_tokens(self, req):
        req.log["status"] = 200
        self.state.write_log(req.log)
        self.send_json(req, 200, {"input_tokens": max(1, len(req.body) // 4)})

    def answer(self, req, model, stream, fault=None):
        """The scripted answer to req.json: a Message, or its SSE stream. `fault`: hang (wait
        --hang-ms, then answer), midstream-drop (the connection dies half way: half the JSON
        body, or the stream after its first text delta), midstream-error (the stream ends with
        an overloaded_error event after its first delta; JSON answers normally)."""
        if fault == "hang":
            time.sleep(self.config.hang_ms / 1000.0)
        input_tokens = max(1, len(req.body) // 4)
        behaviour, content, stop_reason = self.SCRIPT.plan_answer(req.json)
        req.log["behaviour"] = behaviour
        if not stream:
            message = self.SCRIPT.message(model, content, stop_reason, input_tokens)
            data = json.dumps(message, separators=(",", ":")).encode("utf-8")
            req.log["status"] = 200
            self.state.write_log(req.log)
            if fault != "midstream-drop":
                self.send_bytes(req, 200, data, "application/json")
                return
            # The whole length announced, half the body sent, then the connection dies.
            self.send_response(200, "OK")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in self.response_headers(req):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.drop_connection()
            return
        events = self.SCRIPT.stream_events(model, content, stop_reason, input_tokens)
        events = events[:1] + [{"type": "ping"}] + events[1:] + [{"type": "message_stop"}]
        stream_fault = fault if fault in STREAM_FAULTS else None
        if stream_fault is not None:
            events = events[:4]  # message_start, ping, content_block_start, one delta
            if stream_fault == "midstream-error":
                events.append({"type": "error", "error": {"type": "overloaded_error",
                                                          "message": "Overloaded"}})
        delay = self.config.frame_delay_ms / 1000.0
        req.log["status"] = 200
        req.log["stream"] = {"frame_delay_ms": self.config.frame_delay_ms,
                             "outcome": stream_fault or "complete",
                             "events": [e["type"] for e in events]}
        self.state.write_log(req.log)
        self.send_response(200, "OK")
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in self.response_headers(req):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.flush()
        for i, event in enumerate(events):
            if i > 0 and delay > 0:
                time.sleep(delay)
            self.write_chunk(anthropic_script.sse_event(event))
        if stream_fault == "midstream-drop":
            self.drop_connection()  # no last chunk: the client sees the body cut
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def beta_list_args(parser, default_help):
    parser.add_argument("--reject-betas",
                        help="comma list of anthropic-beta values answered with 400, replacing "
                             f"the default ({default_help}); '' for none")
    parser.add_argument("--reject-beta", action="append", default=[],
                        help="reject one more beta (repeatable)")
    parser.add_argument("--accept-beta", action="append", default=[],
                        help="take one beta out of the reject list (repeatable)")


def reject_set(args, default):
    out = set(args.reject_betas.split(",") if args.reject_betas is not None else default)
    out.update(args.reject_beta)
    out.difference_update(args.accept_beta)
    out.discard("")
    return out


def add_common_args(parser, default_scopes):
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default 127.0.0.1:0)")
    parser.add_argument("--port-file", help="write the chosen port here")
    parser.add_argument("--request-log", help="append one JSON line per request")
    parser.add_argument("--tokens", action="append", default=[], metavar="FILE",
                        help="tokens file of accepted bearer tokens, re-read per request "
                             "(repeatable)")
    parser.add_argument("--static-token", action="append", default=[], metavar="TOKEN",
                        help="a bearer token accepted without expiry (repeatable)")
    parser.add_argument("--token-scope", action="append", default=None, metavar="SCOPE",
                        help="a tokens file entry that names its scope must hold one of these "
                             f"(repeatable; default {' '.join(default_scopes)})")
    parser.add_argument("--any-token-scope", action="store_true",
                        help="do not check the scope of tokens file entries")
    parser.add_argument("--allow-system-messages", action="store_true",
                        help="accept role 'system' inside messages without the "
                             f"{MID_CONVERSATION_SYSTEM_BETA} beta (default: 400)")
    parser.add_argument("--frame-delay-ms", type=int, default=0,
                        help="delay between SSE events (default 0)")
    parser.add_argument("--hang-ms", type=int, default=30000,
                        help="how long 'hang' models wait before answering (default 30000)")
    parser.add_argument("--verbose", action="store_true", help="access log on stderr")


def run(handler_cls, args, default_scopes):
    """A FakeHandler fake's main: configures handler_cls from the common arguments, serves."""
    if args.token_scope is None:
        args.token_scope = list(default_scopes)
    handler_cls.config = args
    handler_cls.state = State(args.request_log)
    handler_cls.tokens = Tokens(args.tokens, args.static_token,
                                [] if args.any_token_scope else args.token_scope)
    return listen_and_serve(handler_cls, args.listen, args.port_file)


def listen_and_serve(handler_cls, listen, port_file, on_bound=None):
    """Serves on `listen` (HOST:PORT) until SIGTERM/SIGINT. Writes the port to `port_file`
    (if any) and prints "listening HOST:PORT" (flushed) when ready; `on_bound(port)`, if given,
    runs before that (a fake whose answers name its own address). Every Python fake of the
    tests serves through here."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    server_cls = Server
    if ":" in host:
        server_cls = type("Server6", (Server,), {"address_family": socket.AF_INET6})
    server = server_cls((host, int(port)), handler_cls)
    chosen = server.server_address[1]
    if on_bound is not None:
        on_bound(chosen)
    if port_file:
        tmp = port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{chosen}\n")
        os.replace(tmp, port_file)
    shown = f"[{host}]" if ":" in host else host
    print(f"listening {shown}:{chosen}", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    server.server_close()
    return 0


def parser_for(description, epilog):
    return argparse.ArgumentParser(description=description, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
