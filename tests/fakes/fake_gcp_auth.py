#!/usr/bin/python3
"""fake_gcp_auth.py: a strict fake of Google's OAuth 2.0 token endpoint and of the GCE metadata
server's token route, for cc-relay's tests.

  fake_gcp_auth.py --accounts FILE --tokens-file FILE [--listen 127.0.0.1:0] [--port-file FILE]
                   [--request-log FILE] [--expires-in 3600] [--audience URL ...]
                   [--scope https://www.googleapis.com/auth/cloud-platform] [--max-skew-s 300]
  fake_gcp_auth.py --self-check        (signs and verifies a JWT with google-auth, then exits)

Prints "listening 127.0.0.1:PORT" on stdout (flushed) when ready and writes PORT to --port-file.
Run it with Debian's /usr/bin/python3: the JWT's RS256 signature is checked by Google's own
library (python3-google-auth, google.auth.jwt.decode), independently of the relay's OpenSSL code.
Standard library + google-auth only.

Accounts FILE (JSON, re-read on every request, so a test can rotate keys while the server runs):
  {"service_accounts": [{"client_email": "sa@p.iam.gserviceaccount.com",
                         "keys": [{"kid": "KEY ID" or "", "public_key": "-----BEGIN PUBLIC KEY..."}]}],
   "authorized_users": [{"client_id": "...", "client_secret": "...", "refresh_token": "..."}]}

Routes:
  POST /token     application/x-www-form-urlencoded
      grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=JWT
          header alg RS256 (typ JWT if present); iss = a known client_email; the signature
          verified with google.auth.jwt.decode(assertion, certs=<the account's public keys, by
          kid when the header names one>, audience=<expected aud>); scope contains --scope;
          0 < exp - iat <= 3600; |iat - now| <= --max-skew-s.
          Expected aud: --audience (repeatable), default http://127.0.0.1:PORT/token and
          http://localhost:PORT/token (PORT: the one listened on).
      grant_type=refresh_token&client_id=..&client_secret=..&refresh_token=..
          a known authorized user, secret and refresh token compared exactly.
      OK: 200 {"access_token": "ya29.fake-<random>", "expires_in": N, "token_type": "Bearer"}
      (plus "scope" for the JWT grant). Errors as Google sends them:
          400 {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
          400 invalid_grant "Invalid JWT: ...", 400 invalid_scope, 400 invalid_request,
          400 unsupported_grant_type, 401 {"error": "invalid_client", ...}.
  GET /computeMetadata/v1/instance/service-accounts/default/token[?scopes=a,b]
      requires "Metadata-Flavor: Google" (else 403); answers carry "Metadata-Flavor: Google"
      (unless /__fake/set?metadata_flavor=0); 200 {"access_token", "expires_in", "token_type"}.
  GET /computeMetadata/v1/instance/service-accounts/default/email   the --metadata-email
  Control (loopback only, not in the request log):
  POST /__fake/fail-next?status=503&n=1[&route=token|metadata][&error=code][&description=text]
                        [&echo=1]   the next n matching requests fail with that status and an
                        OAuth error body; echo=1 puts the request's form body in the
                        error_description (to test that the client redacts what is echoed)
  POST /__fake/reset    pending failures dropped; expires_in and metadata_flavor back to start
  POST /__fake/set?expires_in=N&metadata_flavor=0|1
  GET  /__fake/stats    {"token_calls", "metadata_calls", "issued", "pending_failures", ...}
  Everything else: 404.

Issued tokens (--tokens-file, JSON, rewritten atomically after each grant, so that a fake
Vertex endpoint can check the bearer tokens it is given; see check_bearer() below):
  {"tokens": [{"token": "ya29.fake-...", "sha256": "<hex>", "fingerprint": "<8 hex>",
               "expires_unix": <seconds, float>, "subject": "<client_email | client_id |
               metadata:default>", "grant": "jwt-bearer|refresh_token|metadata",
               "scope": "..."}]}

Request log (--request-log): one JSON object per request, appended and flushed before the
response is written: seq, time, method, path, query, route (token|metadata|control|other),
grant_type, iss, kid, aud, scope, iat, exp, client_id, assertion_fingerprint,
refresh_token_fingerprint, client_secret_fingerprint, metadata_flavor (the request header),
verified, status, error, error_description, fault, issued_fingerprint, expires_in. Secrets
appear only as fingerprints (first 8 hex of SHA-256, as cc-relay's common::FingerprintOf).
"""

import argparse
import base64
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
from urllib.parse import parse_qs

import anthropic_fake
import google.auth.crypt
import google.auth.jwt

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
METADATA_TOKEN = "/computeMetadata/v1/instance/service-accounts/default/token"
METADATA_EMAIL = "/computeMetadata/v1/instance/service-accounts/default/email"
MAX_BODY = 64 * 1024
MAX_LIFETIME_S = 3600
DEFAULT_ERRORS = {400: "invalid_request", 401: "invalid_client", 403: "access_denied",
                  404: "not_found", 429: "rate_limit_exceeded"}


def fingerprint(value):
    """First 8 hex characters of SHA-256, as cc-relay's common::FingerprintOf."""
    if not value:
        return None
    if isinstance(value, str):
        value = value.encode("utf-8")
    return hashlib.sha256(value).hexdigest()[:8]


def check_bearer(tokens_path, token, now=None):
    """For a fake Vertex endpoint: (True, subject) when `token` was issued here and has not
    expired, else (False, why). Reads the tokens file fresh each time."""
    now = time.time() if now is None else now
    try:
        with open(tokens_path, encoding="utf-8") as f:
            issued = json.load(f).get("tokens", [])
    except (OSError, ValueError) as e:
        return False, f"tokens file unreadable: {e.__class__.__name__}"
    digest = hashlib.sha256(token.encode("utf-8")).hexdigest()
    for entry in issued:
        if entry.get("sha256") == digest:
            if entry.get("expires_unix", 0) <= now:
                return False, "token expired"
            return True, entry.get("subject", "")
    return False, "token not issued by fake_gcp_auth"


class OAuthError(Exception):
    def __init__(self, status, error, description, logged_description=None):
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        # What the request log gets (an echo of the request's secrets stays out of it).
        self.logged_description = description if logged_description is None else logged_description


def b64url_decode(segment):
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def unverified_parts(assertion):
    """(header, claims) of a JWT without checking anything, or OAuthError."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise OAuthError(400, "invalid_grant", "Invalid JWT: not three segments")
    try:
        header = json.loads(b64url_decode(parts[0]))
        claims = json.loads(b64url_decode(parts[1]))
    except (ValueError, UnicodeDecodeError):
        raise OAuthError(400, "invalid_grant", "Invalid JWT: a segment is not base64url JSON")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise OAuthError(400, "invalid_grant", "Invalid JWT: a segment is not a JSON object")
    return header, claims


class Config:
    def __init__(self, args):
        self.accounts = args.accounts
        self.tokens_file = args.tokens_file
        self.expires_in = args.expires_in
        self.audiences = args.audience or []
        self.scope = args.scope
        self.max_skew = args.max_skew_s
        self.metadata_email = args.metadata_email
        self.verbose = args.verbose


class State:
    def __init__(self, config, log_path):
        self.lock = threading.Lock()
        self.config = config
        self.fail_next = []  # [{"status", "route", "error", "description", "echo"}]
        self.expires_in = config.expires_in
        self.metadata_flavor = True
        self.issued = []
        self.counter = 0
        self.token_calls = 0
        self.metadata_calls = 0
        self.log_file = open(log_path, "a", encoding="utf-8") if log_path else None

    def next_id(self):
        with self.lock:
            self.counter += 1
            return self.counter

    def take_failure(self, route):
        with self.lock:
            for i, f in enumerate(self.fail_next):
                if f["route"] in ("", route):
                    return self.fail_next.pop(i)
        return None

    def issue(self, subject, grant, scope):
        token = "ya29.fake-" + secrets.token_urlsafe(32)
        with self.lock:
            expires_in = self.expires_in
            self.issued.append({"token": token,
                                "sha256": hashlib.sha256(token.encode()).hexdigest(),
                                "fingerprint": fingerprint(token),
                                "expires_unix": time.time() + expires_in,
                                "subject": subject, "grant": grant, "scope": scope})
            self.issued = self.issued[-1000:]
            tmp = self.config.tokens_file + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump({"tokens": self.issued}, f)
            os.replace(tmp, self.config.tokens_file)
        return token, expires_in

    def write_log(self, entry):
        if self.log_file is None:
            return
        line = json.dumps(entry, ensure_ascii=False, default=str)
        with self.lock:
            self.log_file.write(line + "\n")
            self.log_file.flush()


def load_accounts(path):
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise OAuthError(500, "internal_failure",
                         f"fake_gcp_auth: accounts file unreadable: {e.__class__.__name__}")
    return data.get("service_accounts", []), data.get("authorized_users", [])


def verify_jwt_grant(assertion, config, log):
    """The claims of a valid assertion, else OAuthError (Google's codes and texts)."""
    log["assertion_fingerprint"] = fingerprint(assertion)
    header, claims = unverified_parts(assertion)
    log.update(kid=header.get("kid"), iss=claims.get("iss"), aud=claims.get("aud"),
               scope=claims.get("scope"), iat=claims.get("iat"), exp=claims.get("exp"))
    if header.get("alg") != "RS256":
        raise OAuthError(400, "invalid_grant", f"Invalid JWT: alg {header.get('alg')!r} is not RS256")
    if "typ" in header and header["typ"] != "JWT":
        raise OAuthError(400, "invalid_grant", f"Invalid JWT: typ {header['typ']!r}")
    accounts, _ = load_accounts(config.accounts)
    account = next((a for a in accounts if a.get("client_email") == claims.get("iss")), None)
    if account is None:
        raise OAuthError(400, "invalid_grant", "Invalid grant: account not found")
    keys = account.get("keys", [])
    kid = header.get("kid")
    if kid:
        certs = {k.get("kid", ""): k["public_key"] for k in keys}
        if kid not in certs:
            raise OAuthError(400, "invalid_grant", "Invalid grant: key id not found")
    else:
        certs = [k["public_key"] for k in keys]
    audiences = config.audiences
    audience = claims.get("aud") if claims.get("aud") in audiences else audiences[0]
    # The independent check: Google's library verifies the signature first, then that iat and exp
    # are there and current, then the audience.
    try:
        google.auth.jwt.decode(assertion, certs=certs, audience=audience)
    except ValueError as e:
        if "signature" in str(e).lower():
            raise OAuthError(400, "invalid_grant", "Invalid JWT Signature.")
        raise OAuthError(400, "invalid_grant", f"Invalid JWT: {e}")
    scope = claims.get("scope")
    if not isinstance(scope, str) or config.scope not in scope.split(" "):
        raise OAuthError(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    iat, exp = claims.get("iat"), claims.get("exp")
    if not isinstance(iat, int) or not isinstance(exp, int) or not 0 < exp - iat <= MAX_LIFETIME_S \
            or abs(iat - time.time()) > config.max_skew:
        raise OAuthError(400, "invalid_grant",
                         "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                         "reasonable timeframe. Check your iat and exp values in the JWT claim.")
    log["verified"] = True
    return claims


def check_refresh_grant(form, config, log):
    client_id = form.get("client_id", "")
    secret = form.get("client_secret", "")
    refresh = form.get("refresh_token", "")
    log.update(client_id=client_id or None, refresh_token_fingerprint=fingerprint(refresh),
               client_secret_fingerprint=fingerprint(secret))
    _, users = load_accounts(config.accounts)
    user = next((u for u in users if u.get("client_id") == client_id), None)
    if user is None or not secrets.compare_digest(user.get("client_secret", ""), secret):
        raise OAuthError(401, "invalid_client", "Unauthorized")
    if not refresh or not secrets.compare_digest(user.get("refresh_token", ""), refresh):
        raise OAuthError(400, "invalid_grant", "Bad Request")
    log["verified"] = True
    return user


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    config = None  # set in main
    state = None

    def version_string(self):
        return "fake-gcp-auth"

    def log_message(self, fmt, *args):
        if self.config.verbose:
            sys.stderr.write("fake_gcp_auth: %s - %s\n" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.handle_request()

    def do_POST(self):
        self.handle_request()

    def do_PUT(self):
        self.handle_request()

    def send_json(self, status, obj, extra=()):
        data = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise OAuthError(413, "invalid_request", "request too large")
        return self.rfile.read(length) if length else b""

    def handle_request(self):
        path, _, query = self.path.partition("?")
        log = {"seq": self.state.next_id(),
               "time": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
               "method": self.command, "path": path, "query": query or None, "route": "other",
               "grant_type": None, "iss": None, "kid": None, "aud": None, "scope": None,
               "iat": None, "exp": None, "client_id": None, "assertion_fingerprint": None,
               "refresh_token_fingerprint": None, "client_secret_fingerprint": None,
               "metadata_flavor": self.headers.get("Metadata-Flavor"), "verified": False,
               "status": None, "error": None, "error_description": None, "fault": None,
               "issued_fingerprint": None, "expires_in": None}
        extra = []
        try:
            body = self.read_body()
            if path.startswith("/__fake/"):
                log["route"] = "control"
                self.control(path, query)
                return
            if path == "/token":
                log["route"] = "token"
                answer = self.token(body, log)
            elif path in (METADATA_TOKEN, METADATA_EMAIL):
                log["route"] = "metadata"
                with self.state.lock:
                    flavor = self.state.metadata_flavor
                if flavor:
                    extra = [("Metadata-Flavor", "Google")]
                answer = self.metadata(path, query, log)
            else:
                raise OAuthError(404, "not_found", f"fake_gcp_auth: no route {self.command} {path}")
            log["status"] = 200
            self.state.write_log(log)
            if isinstance(answer, str):
                data = answer.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "application/text")
                self.send_header("Content-Length", str(len(data)))
                for name, value in extra:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            else:
                self.send_json(200, answer, extra)
        except OAuthError as err:
            log.update(status=err.status, error=err.error,
                       error_description=err.logged_description)
            self.state.write_log(log)
            self.send_json(err.status, {"error": err.error, "error_description": err.description},
                           extra)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug in the fake: say so instead of hanging up
            traceback.print_exc()
            log.update(status=500, error="internal_failure", error_description=repr(e))
            self.state.write_log(log)
            self.close_connection = True
            try:
                self.send_json(500, {"error": "internal_failure",
                                     "error_description": f"fake_gcp_auth bug: {e!r}"})
            except OSError:
                pass

    def failure(self, route, body, log):
        failure = self.state.take_failure(route)
        if failure is None:
            return
        log["fault"] = "fail-next"
        description = failure["description"]
        logged = description
        if failure["echo"]:
            logged = f"{description}; you sent: <the request body>"
            description = f"{description}; you sent: {body.decode('utf-8', 'replace')}"
        raise OAuthError(failure["status"], failure["error"], description, logged)

    def token(self, body, log):
        with self.state.lock:
            self.state.token_calls += 1
        if self.command != "POST":
            raise OAuthError(405, "invalid_request", "POST only")
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request",
                             f"Content-Type must be application/x-www-form-urlencoded, "
                             f"got {content_type!r}")
        try:
            form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8"), strict_parsing=True,
                                                   keep_blank_values=True).items()}
        except (ValueError, UnicodeDecodeError):
            raise OAuthError(400, "invalid_request", "body is not a form")
        grant = form.get("grant_type")
        log["grant_type"] = grant
        self.failure("token", body, log)
        if grant == JWT_BEARER:
            assertion = form.get("assertion")
            if not assertion:
                raise OAuthError(400, "invalid_request", "Missing required parameter: assertion")
            claims = verify_jwt_grant(assertion, self.config, log)
            token, expires_in = self.state.issue(claims["iss"], "jwt-bearer", claims["scope"])
            log.update(issued_fingerprint=fingerprint(token), expires_in=expires_in)
            return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
        if grant == "refresh_token":
            user = check_refresh_grant(form, self.config, log)
            token, expires_in = self.state.issue(user["client_id"], "refresh_token",
                                                 self.config.scope)
            log.update(issued_fingerprint=fingerprint(token), expires_in=expires_in)
            return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer",
                    "scope": self.config.scope}
        raise OAuthError(400, "unsupported_grant_type", f"Invalid grant_type: {grant or ''}")

    def metadata(self, path, query, log):
        with self.state.lock:
            self.state.metadata_calls += 1
        if self.command != "GET":
            raise OAuthError(405, "invalid_request", "GET only")
        if self.headers.get("Metadata-Flavor") != "Google":
            raise OAuthError(403, "access_denied", "Missing required header: Metadata-Flavor")
        if self.headers.get("X-Forwarded-For") is not None:
            raise OAuthError(403, "access_denied", "X-Forwarded-For is not allowed")
        self.failure("metadata", b"", log)
        if path == METADATA_EMAIL:
            return self.config.metadata_email
        scopes = parse_qs(query).get("scopes", [",".join([self.config.scope])])[-1]
        log["scope"] = scopes
        token, expires_in = self.state.issue("metadata:default", "metadata", scopes)
        log.update(issued_fingerprint=fingerprint(token), expires_in=expires_in, verified=True)
        return {"access_token": token, "expires_in": expires_in, "token_type": "Bearer"}

    def control(self, path, query):
        host = self.client_address[0]
        if not (host.startswith("127.") or host in ("::1", "::ffff:127.0.0.1")):
            raise OAuthError(403, "access_denied", "fake_gcp_auth control: loopback only")
        params = {k: v[-1] for k, v in parse_qs(query).items()}
        state = self.state
        if path == "/__fake/stats" and self.command == "GET":
            with state.lock:
                stats = {"token_calls": state.token_calls, "metadata_calls": state.metadata_calls,
                         "issued": len(state.issued), "pending_failures": len(state.fail_next),
                         "expires_in": state.expires_in, "metadata_flavor": state.metadata_flavor}
            self.send_json(200, stats)
            return
        if self.command != "POST":
            raise OAuthError(404, "not_found", "fake_gcp_auth control: unknown call")
        try:
            if path == "/__fake/fail-next":
                status = int(params.get("status", "503"))
                count = int(params.get("n", "1"))
                route = params.get("route", "")
                if route not in ("", "token", "metadata"):
                    raise ValueError(route)
                failure = {"status": status, "route": route,
                           "error": params.get("error") or DEFAULT_ERRORS.get(status,
                                                                              "internal_failure"),
                           "description": params.get("description")
                           or f"fake_gcp_auth: injected failure {status}",
                           "echo": params.get("echo") == "1"}
                with state.lock:
                    state.fail_next.extend([dict(failure) for _ in range(count)])
            elif path == "/__fake/reset":
                with state.lock:
                    state.fail_next.clear()
                    state.expires_in = self.config.expires_in
                    state.metadata_flavor = True
            elif path == "/__fake/set":
                with state.lock:
                    if "expires_in" in params:
                        state.expires_in = int(params["expires_in"])
                    if "metadata_flavor" in params:
                        state.metadata_flavor = params["metadata_flavor"] != "0"
            else:
                raise OAuthError(404, "not_found", "fake_gcp_auth control: unknown call")
        except ValueError:
            raise OAuthError(400, "invalid_request", "fake_gcp_auth control: bad parameter")
        with state.lock:
            pending = len(state.fail_next)
        self.send_json(200, {"ok": True, "pending_failures": pending})


def self_check():
    """google-auth signs with a throw-away key and verifies; a wrong key must not verify."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    def pem_pair():
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
        private = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        return private, public

    good_private, good_public = pem_pair()
    _, other_public = pem_pair()
    signer = google.auth.crypt.RSASigner.from_string(good_private, "k1")
    now = int(time.time())
    jwt = google.auth.jwt.encode(signer, {"iss": "a@b", "aud": "x", "iat": now, "exp": now + 60})
    google.auth.jwt.decode(jwt, certs=good_public, audience="x")
    try:
        google.auth.jwt.decode(jwt, certs=other_public, audience="x")
    except ValueError:
        return
    raise AssertionError("a JWT verified against the wrong public key")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Fake Google OAuth token endpoint and metadata server.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default 127.0.0.1:0)")
    parser.add_argument("--accounts", help="JSON file of accepted accounts (re-read per request)")
    parser.add_argument("--tokens-file", help="JSON file of the tokens issued (rewritten)")
    parser.add_argument("--request-log", help="append one JSON line per request")
    parser.add_argument("--port-file", help="write the chosen port here")
    parser.add_argument("--expires-in", type=int, default=3600, help="lifetime of issued tokens")
    parser.add_argument("--audience", action="append",
                        help="accepted JWT aud (repeatable; default http://127.0.0.1:PORT/token "
                             "and http://localhost:PORT/token)")
    parser.add_argument("--scope", default=CLOUD_PLATFORM, help="scope a JWT must ask for")
    parser.add_argument("--max-skew-s", type=int, default=300, help="|iat - now| allowed")
    parser.add_argument("--metadata-email", default="default-sa@fake-project.iam.gserviceaccount.com")
    parser.add_argument("--self-check", action="store_true", help="run the self-check and exit")
    parser.add_argument("--verbose", action="store_true", help="access log on stderr")
    args = parser.parse_args(argv)
    if not args.self_check and (not args.accounts or not args.tokens_file):
        parser.error("--accounts and --tokens-file are required")
    return args


def main(argv):
    args = parse_args(argv)
    try:
        self_check()
    except Exception as e:  # noqa: BLE001 - any disagreement is fatal
        print(f"fake_gcp_auth: self-check failed: {e!r}", file=sys.stderr)
        return 1
    if args.self_check:
        print("fake_gcp_auth: self-check ok")
        return 0
    config = Config(args)
    Handler.config = config
    Handler.state = State(config, args.request_log)
    if not os.path.exists(args.tokens_file):
        with open(args.tokens_file, "w", encoding="utf-8") as f:
            json.dump({"tokens": []}, f)

    def default_audiences(port):
        if not config.audiences:
            config.audiences = [f"http://127.0.0.1:{port}/token", f"http://localhost:{port}/token"]

    return anthropic_fake.listen_and_serve(Handler, args.listen, args.port_file,
                                           on_bound=default_audiences)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
