#!/usr/bin/python3
"""fake_azure_auth.py: a fake of Microsoft Entra ID's token endpoint and of Azure's instance
metadata service (managed identity) for cc-relay's tests. Standard library only.

  fake_azure_auth.py --clients FILE [--listen 127.0.0.1:0] [--scope https://ai.azure.com/.default]
                     [--expires-in 3600] [--tokens-file FILE] [--request-log FILE]
                     [--port-file FILE]

Prints "listening 127.0.0.1:PORT" on stdout (flushed) when ready and writes PORT to --port-file.

Clients FILE (JSON, re-read on every request, so a test can change it while the server runs):
  {"apps": [{"tenant": "TENANT", "client_id": "APP", "secret": "SECRET"},
            {"tenant": "TENANT", "client_id": "APP2", "federated_token_file": "PATH"}],
   "tenants": ["ANOTHER-TENANT"],
   "managed_identity": {"system_assigned": true, "user_assigned": ["CLIENT-ID", ...]}}
An app may have both a secret and a federated token file. A tenant exists when an app or
"tenants" names it. The federated token file is read at every request: a client assertion is
accepted when it equals the file's content, surrounding whitespace removed.

Routes:
  POST /{tenant}/oauth2/v2.0/token   Entra ID client credentials grant (form body):
      grant_type=client_credentials, client_id, scope (must be --scope), and either
      client_secret (the app's secret) or client_assertion_type=urn:ietf:params:oauth:
      client-assertion-type:jwt-bearer + client_assertion (the app's federated token).
      200 {"token_type": "Bearer", "expires_in": N, "ext_expires_in": N, "access_token": T};
      refusals as Entra sends them: {"error", "error_description": "AADSTSnnnn: ...",
      "error_codes", "timestamp", "trace_id", "correlation_id"} with 400 or 401.
  GET /metadata/identity/oauth2/token?api-version=2018-02-01&resource=R[&client_id=C]
      IMDS: needs the header "Metadata: true" and api-version; R must be --scope without
      "/.default"; client_id picks a user-assigned identity (else the system-assigned one).
      200 with access_token, client_id, expires_in, expires_on, ext_expires_in, not_before,
      resource, token_type, numbers as strings (as IMDS sends them); 400 {"error",
      "error_description"} otherwise ("Identity not found", "Required metadata header not
      specified", ...).
  POST /__fake/fail-next?status=503&n=1[&error=E][&description=D][&echo=1]
      The next n token answers (either route) fail with that status and an OAuth error body;
      echo=1 appends what the client sent as its credential (client_secret or client_assertion)
      to the description, as a careless server might: the client must keep it out of its
      messages.
  POST /__fake/set?expires_in=N[&scope=S][&delay_ms=D]   change settings (delay: every token
      answer waits D ms)
  POST /__fake/reset     settings back to the command line's, pending failures dropped
  GET /__fake/stats      {"token_calls", "imds_calls", "issued", "pending_failures"}
  (control routes answer 403 to anything but a loopback peer)

Tokens are opaque random strings ("fake-entra-..." and "fake-imds-..."). --tokens-file, if set,
is rewritten atomically (temporary file + rename) after each one issued, so that a fake
Foundry endpoint can check bearer tokens:
  {"format": 1, "tokens": {"TOKEN": {"expires_unix_ms": ms, "expires_on": s, "scope": S,
   "resource": R, "tenant": T or null, "client_id": C, "grant": "client_secret" |
   "workload_identity" | "managed_identity", "issued_unix_ms": ms}}}

Request log (--request-log): one JSON object per request, appended and flushed before the answer
is written: seq, time, method, path, route (token | imds | control | unknown), tenant,
grant_type, client_id, scope, resource, api_version, metadata (the Metadata header or null),
content_type, auth (client_secret | client_assertion | managed_identity | none),
client_secret_fingerprint, client_assertion_fingerprint, client_assertion_type, status, error,
error_description (without an echo), echoed, fault, token_fingerprint, expires_in. Credentials
and tokens appear only as fingerprints: the first 8 hex digits of their SHA-256.
"""

import argparse
import datetime
import hashlib
import http.server
import json
import os
import secrets
import sys
import threading
import time
import traceback
import uuid
from urllib.parse import parse_qs, urlsplit

import anthropic_fake

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SYSTEM_ASSIGNED_CLIENT_ID = "00000000-5157-4c6b-8c5e-5a5eed000001"
DEFAULT_ERRORS = {400: "invalid_request", 401: "invalid_client", 403: "access_denied",
                  429: "temporarily_unavailable", 500: "server_error",
                  503: "temporarily_unavailable"}
REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 429: "Too Many Requests",
           500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


def fingerprint(value):
    if not value:
        return None
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]


class Refusal(Exception):
    """An OAuth error answer."""

    def __init__(self, status, error, description, entra=True):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.entra = entra  # Entra's extra fields (IMDS sends only error and description)


def missing(name):
    return Refusal(400, "invalid_request",
                   f"AADSTS900144: The request body must contain the following parameter: "
                   f"'{name}'.")


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        self.seq = 0
        self.tokens = {}
        self.counters = {"token_calls": 0, "imds_calls": 0, "issued": 0}
        self.reset()

    def reset(self):
        self.expires_in = self.args.expires_in
        self.scope = self.args.scope
        self.delay_ms = 0
        self.failures = []  # (status, error, description, echo)

    def clients(self):
        with open(self.args.clients, "r", encoding="utf-8") as f:
            return json.load(f)

    def take_failure(self):
        with self.lock:
            return self.failures.pop(0) if self.failures else None

    def issue(self, prefix, grant, tenant, client_id, scope, resource):
        token = prefix + secrets.token_urlsafe(32)
        now_ms = int(time.time() * 1000)
        with self.lock:
            expires_in = self.expires_in
            expires_ms = now_ms + expires_in * 1000
            self.tokens[token] = {
                "expires_unix_ms": expires_ms, "expires_on": expires_ms // 1000, "scope": scope,
                "resource": resource, "tenant": tenant, "client_id": client_id, "grant": grant,
                "issued_unix_ms": now_ms}
            self.counters["issued"] += 1
            if self.args.tokens_file:
                tmp = self.args.tokens_file + ".tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump({"format": 1, "tokens": self.tokens}, f)
                os.replace(tmp, self.args.tokens_file)
        return token, expires_in, expires_ms // 1000

    def write_log(self, entry):
        if not self.args.request_log:
            return
        with self.log_lock:
            self.seq += 1
            entry["seq"] = self.seq
            with open(self.args.request_log, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
                f.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set in main()

    def log_message(self, fmt, *args):  # stdout carries the "listening" line only
        if self.state.args.verbose:
            sys.stderr.write("fake_azure_auth: " + (fmt % args) + "\n")

    def send_json(self, status, body, extra_headers=()):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status, REASONS.get(status, "Status"))
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store, no-cache")
        for name, value in extra_headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    def do_PUT(self):
        self.handle_request()

    def handle_request(self):
        body = self.read_body()
        split = urlsplit(self.path)
        path, query = split.path, split.query
        log = {"time": time.time(), "method": self.command, "path": path, "route": "unknown",
               "tenant": None, "grant_type": None, "client_id": None, "scope": None,
               "resource": None, "api_version": None, "metadata": self.headers.get("Metadata"),
               "content_type": self.headers.get("Content-Type"), "auth": "none",
               "client_secret_fingerprint": None, "client_assertion_fingerprint": None,
               "client_assertion_type": None, "status": None, "error": None,
               "error_description": None, "echoed": False, "fault": None,
               "token_fingerprint": None, "expires_in": None}
        try:
            if path.startswith("/__fake/"):
                log["route"] = "control"
                return self.control(path, query, log)
            parts = path.split("/")
            if len(parts) == 5 and parts[2:] == ["oauth2", "v2.0", "token"] and parts[1]:
                log["route"] = "token"
                return self.token(parts[1], body, log)
            if path == "/metadata/identity/oauth2/token":
                log["route"] = "imds"
                return self.imds(query, log)
            log.update(status=404, error="not_found")
            self.state.write_log(log)
            self.send_json(404, {"error": "not_found", "error_description": "no route " + path})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug in the fake: say so instead of hanging up
            traceback.print_exc()
            log.update(status=500, error="fake_bug", error_description=repr(e))
            self.state.write_log(log)
            self.close_connection = True
            try:
                self.send_json(500, {"error": "server_error",
                                     "error_description": f"fake_azure_auth bug: {e!r}"})
            except OSError:
                pass

    # ---- control -------------------------------------------------------------------------

    def control(self, path, query, log):
        host = self.client_address[0]
        if not (host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")):
            log["status"] = 403
            self.state.write_log(log)
            return self.send_json(403, {"error": "loopback only"})
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        state = self.state
        if path == "/__fake/stats" and self.command == "GET":
            with state.lock:
                body = dict(state.counters, pending_failures=len(state.failures))
            log["status"] = 200
            state.write_log(log)
            return self.send_json(200, body)
        if self.command != "POST":
            log["status"] = 405
            state.write_log(log)
            return self.send_json(405, {"error": "POST only"})
        try:
            if path == "/__fake/fail-next":
                status = int(params.get("status", "503"))
                count = int(params.get("n", "1"))
                error = params.get("error") or DEFAULT_ERRORS.get(status, "server_error")
                description = params.get("description") or (
                    f"AADSTS50000: fake_azure_auth: injected failure {status} {error}")
                with state.lock:
                    state.failures.extend(
                        [(status, error, description, params.get("echo") == "1")] * count)
            elif path == "/__fake/set":
                with state.lock:
                    if "expires_in" in params:
                        state.expires_in = int(params["expires_in"])
                    if "scope" in params:
                        state.scope = params["scope"]
                    if "delay_ms" in params:
                        state.delay_ms = int(params["delay_ms"])
            elif path == "/__fake/reset":
                with state.lock:
                    state.reset()
            else:
                log["status"] = 404
                state.write_log(log)
                return self.send_json(404, {"error": "unknown control route " + path})
        except ValueError as e:
            log["status"] = 400
            state.write_log(log)
            return self.send_json(400, {"error": f"bad parameter: {e}"})
        with state.lock:
            pending = len(state.failures)
        log["status"] = 200
        state.write_log(log)
        return self.send_json(200, {"ok": True, "pending_failures": pending})

    # ---- answers -------------------------------------------------------------------------

    def delay(self):
        with self.state.lock:
            delay_ms = self.state.delay_ms
        if delay_ms:
            time.sleep(delay_ms / 1000.0)

    def refuse(self, refusal, log, echo=None):
        description = refusal.description
        log.update(status=refusal.status, error=refusal.error, error_description=description)
        if echo:
            description += f" (received: {echo})"
            log["echoed"] = True
        body = {"error": refusal.error, "error_description": description}
        if refusal.entra:
            trace = str(uuid.uuid4())
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
            body["error_description"] += (f"\r\nTrace ID: {trace}\r\nCorrelation ID: "
                                          f"{uuid.uuid4()}\r\nTimestamp: {stamp}")
            code = description.split(":", 1)[0]
            number = code[len("AADSTS"):] if code.startswith("AADSTS") else ""
            body.update(error_codes=[int(number)] if number.isdigit() else [], timestamp=stamp,
                        trace_id=trace, correlation_id=str(uuid.uuid4()))
            if number.isdigit():
                body["error_uri"] = "https://login.microsoftonline.com/error?code=" + number
        self.state.write_log(log)
        headers = [("Retry-After", "1")] if refusal.status in (429, 503) else []
        self.send_json(refusal.status, body, headers)

    def injected(self, log, sent_credential, entra):
        failure = self.state.take_failure()
        if failure is None:
            return False
        status, error, description, echo = failure
        log["fault"] = "fail-next"
        self.refuse(Refusal(status, error, description, entra), log,
                    sent_credential if echo else None)
        return True

    def token(self, tenant, body, log):
        state = self.state
        log["tenant"] = tenant
        with state.lock:
            state.counters["token_calls"] += 1
            scope_wanted = state.scope
        self.delay()
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        form = {}
        if content_type == "application/x-www-form-urlencoded":
            form = {k: v[-1] for k, v in
                    parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        secret = form.get("client_secret") or ""
        assertion = form.get("client_assertion") or ""
        log.update(grant_type=form.get("grant_type"), client_id=form.get("client_id"),
                   scope=form.get("scope"), client_assertion_type=form.get("client_assertion_type"),
                   client_secret_fingerprint=fingerprint(secret),
                   client_assertion_fingerprint=fingerprint(assertion),
                   auth="client_secret" if secret else "client_assertion" if assertion else "none")
        if self.command != "POST":
            return self.refuse(Refusal(405, "invalid_request",
                                       "AADSTS900561: The endpoint only accepts POST requests."),
                               log)
        if self.injected(log, secret or assertion, entra=True):
            return None
        try:
            grant = self.check_grant(tenant, form, secret, assertion, scope_wanted)
        except Refusal as r:
            return self.refuse(r, log)
        token, expires_in, _ = state.issue("fake-entra-", grant, tenant, form["client_id"],
                                           form["scope"], form["scope"][:-len("/.default")])
        log.update(status=200, token_fingerprint=fingerprint(token), expires_in=expires_in)
        state.write_log(log)
        return self.send_json(200, {"token_type": "Bearer", "expires_in": expires_in,
                                    "ext_expires_in": expires_in, "access_token": token})

    def check_grant(self, tenant, form, secret, assertion, scope_wanted):
        """The grant ("client_secret" | "workload_identity") or a Refusal."""
        for name in ("grant_type", "client_id", "scope"):
            if not form.get(name):
                raise missing(name)
        if form["grant_type"] != "client_credentials":
            raise Refusal(400, "unsupported_grant_type",
                          f"AADSTS70003: The app requested an unsupported grant type "
                          f"'{form['grant_type']}'.")
        clients = self.state.clients()
        apps = clients.get("apps", [])
        tenants = {a.get("tenant") for a in apps} | set(clients.get("tenants", []))
        if tenant not in tenants:
            raise Refusal(400, "invalid_request",
                          f"AADSTS90002: Tenant '{tenant}' not found. Check to make sure you have "
                          f"the correct tenant ID and are signing into the correct cloud.")
        client_id = form["client_id"]
        app = next((a for a in apps if a.get("tenant") == tenant and
                    a.get("client_id") == client_id), None)
        if app is None:
            raise Refusal(400, "unauthorized_client",
                          f"AADSTS700016: Application with identifier '{client_id}' was not "
                          f"found in the directory '{tenant}'.")
        scope = form["scope"]
        if not scope.endswith("/.default"):
            raise Refusal(400, "invalid_scope",
                          f"AADSTS1002012: The provided value for scope {scope} is not valid. "
                          f"Client credential flows must have a scope value with /.default "
                          f"suffixed to the resource identifier (application ID URI).")
        if scope != scope_wanted:
            raise Refusal(400, "invalid_resource",
                          f"AADSTS500011: The resource principal named "
                          f"{scope[:-len('/.default')]} was not found in the tenant named "
                          f"{tenant}.")
        if secret and assertion:
            raise Refusal(400, "invalid_request",
                          "fake_azure_auth: both client_secret and client_assertion were sent")
        if not secret and not assertion:
            raise Refusal(401, "invalid_client",
                          "AADSTS7000218: The request body must contain the following "
                          "parameter: 'client_assertion' or 'client_secret'.")
        if secret:
            if not app.get("secret") or not secrets.compare_digest(secret, app["secret"]):
                raise Refusal(401, "invalid_client",
                              f"AADSTS7000215: Invalid client secret provided. Ensure the secret "
                              f"being sent in the request is the client secret value, not the "
                              f"client secret ID, for a secret added to app '{client_id}'.")
            return "client_secret"
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise Refusal(400, "invalid_request",
                          f"fake_azure_auth: client_assertion_type must be {ASSERTION_TYPE}")
        expected = None
        if app.get("federated_token_file"):
            try:
                with open(app["federated_token_file"], "r", encoding="utf-8") as f:
                    expected = f.read().strip()
            except OSError:
                expected = None
        if not expected or not secrets.compare_digest(assertion, expected):
            raise Refusal(400, "invalid_request",
                          f"AADSTS70021: No matching federated identity record found for "
                          f"presented assertion. Assertion audience: api://AzureADTokenExchange. "
                          f"App: '{client_id}'.")
        return "workload_identity"

    def imds(self, query, log):
        state = self.state
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        client_id = params.get("client_id") or ""
        log.update(api_version=params.get("api-version"), resource=params.get("resource"),
                   client_id=client_id or None, auth="managed_identity")
        with state.lock:
            state.counters["imds_calls"] += 1
            resource_wanted = state.scope[:-len("/.default")] \
                if state.scope.endswith("/.default") else state.scope
        self.delay()
        try:
            if self.command != "GET":
                raise Refusal(405, "invalid_request", "IMDS: GET only", entra=False)
            if (self.headers.get("Metadata") or "").lower() != "true":
                raise Refusal(400, "invalid_request", "Required metadata header not specified",
                              entra=False)
            if not params.get("api-version"):
                raise Refusal(400, "invalid_request",
                              "Required query variable 'api-version' is missing", entra=False)
            if params["api-version"] < "2018-02-01":
                raise Refusal(400, "invalid_request",
                              f"api-version {params['api-version']} is not supported",
                              entra=False)
            if not params.get("resource"):
                raise Refusal(400, "invalid_request",
                              "Required query variable 'resource' is missing", entra=False)
        except Refusal as r:
            return self.refuse(r, log)
        if self.injected(log, None, entra=False):
            return None
        identities = self.state.clients().get("managed_identity", {})
        if client_id:
            known = client_id in identities.get("user_assigned", [])
        else:
            known = bool(identities.get("system_assigned"))
            client_id = SYSTEM_ASSIGNED_CLIENT_ID
        if not known:
            return self.refuse(Refusal(400, "invalid_request", "Identity not found", entra=False),
                               log)
        resource = params["resource"]
        if resource != resource_wanted:
            return self.refuse(Refusal(400, "invalid_resource",
                                       f"AADSTS500011: The resource principal named {resource} "
                                       f"was not found in the tenant.", entra=False), log)
        token, expires_in, expires_on = state.issue("fake-imds-", "managed_identity", None,
                                                    client_id, resource + "/.default", resource)
        log.update(status=200, token_fingerprint=fingerprint(token), expires_in=expires_in)
        state.write_log(log)
        now = int(time.time())
        return self.send_json(200, {
            "access_token": token, "client_id": client_id, "expires_in": str(expires_in),
            "expires_on": str(expires_on), "ext_expires_in": str(expires_in),
            "not_before": str(now - 300), "resource": resource, "token_type": "Bearer"})


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default 127.0.0.1:0)")
    parser.add_argument("--clients", required=True, help="JSON file of apps and identities")
    parser.add_argument("--scope", default="https://ai.azure.com/.default",
                        help="the one scope tokens are issued for")
    parser.add_argument("--expires-in", type=int, default=3600, help="token lifetime, seconds")
    parser.add_argument("--tokens-file", help="issued tokens, rewritten atomically")
    parser.add_argument("--request-log", help="append one JSON line per request")
    parser.add_argument("--port-file", help="write the chosen port here")
    parser.add_argument("--verbose", action="store_true", help="access log on stderr")
    args = parser.parse_args(argv)
    Handler.state = State(args)
    return anthropic_fake.listen_and_serve(Handler, args.listen, args.port_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
