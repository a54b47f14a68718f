#!/usr/bin/python3
"""A fake of the AWS credential endpoints for tests, on 127.0.0.1 (port 0 by default).

Serves, on one port:
  * EC2 instance metadata, IMDSv2: PUT /latest/api/token (needs
    X-aws-ec2-metadata-token-ttl-seconds) -> a token; GETs under /latest/meta-data/ need
    X-aws-ec2-metadata-token (401 without a token it issued);
    /latest/meta-data/iam/security-credentials/ -> the role name (404 when there is none);
    /latest/meta-data/iam/security-credentials/<role> -> JSON credentials with Code "Success".
  * the ECS / EKS container endpoint: GET /v2/credentials... or /container... -> JSON
    credentials; checks Authorization when --container-auth is set (403 otherwise).
  * STS AssumeRoleWithWebIdentity: POST form or GET query with Action=...: checks Version,
    RoleArn (--role-arn) and that WebIdentityToken equals the first line of --token-file, read at
    each call; answers the STS XML.
  * /control: GET -> JSON counters ({"sts_calls", "container_calls", "imds_token_calls",
    "imds_credential_calls", "last_session_name", "last_role_arn", "last_authorization"});
    POST a JSON object to change settings: reset (true: back to the command line's settings,
    counters and issued credentials at zero; applied first), lifetime_s, expires_unix_ms (fixed expiry, 0 = use
    lifetime), fail_next (the next N credential calls fail), fail_mode ("500" or "denied"),
    delay_ms (every answer but /control's waits), imds_role, role_arn, token_file, container_auth.

Each credential answer is a new set: AccessKeyId ASIAFAKE<n>, secret "fakeSecret/<n>+...",
token "fakeSessionToken<n>...". Error answers echo what the client sent (token, authorization)
on purpose: the client must keep that out of its own messages.

The first line on stdout is the port.
"""

import argparse
import http.server
import json
import sys
import threading
import time
import urllib.parse


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.reset()

    # Back to the command line's settings, counters at zero (a test suite shares one fake).
    def reset(self):
        args = self.args
        self.role_arn = args.role_arn
        self.token_file = args.token_file
        self.container_auth = args.container_auth
        self.imds_role = args.imds_role
        self.lifetime_s = args.lifetime
        self.expires_unix_ms = args.expires_unix_ms
        self.fail_next = args.fail_next
        self.fail_mode = args.fail_mode
        self.delay_ms = 0
        self.issued = 0
        self.imds_tokens = set()
        self.counters = {
            "sts_calls": 0,
            "container_calls": 0,
            "imds_token_calls": 0,
            "imds_credential_calls": 0,
            "last_session_name": "",
            "last_role_arn": "",
            "last_authorization": "",
        }

    def expiration(self):
        ms = self.expires_unix_ms or int((time.time() + self.lifetime_s) * 1000)
        secs, millis = divmod(ms, 1000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ("Z" if millis == 0 else ".%03dZ" % millis)

    def new_credentials(self):
        self.issued += 1
        n = self.issued
        return {
            "AccessKeyId": "ASIAFAKE%08d" % n,
            "SecretAccessKey": "fakeSecret/%d+wJalrXUtnFEMIK7MDENG" % n,
            "Token": "fakeSessionToken%dIQoJb3JpZ2luX2VjEJr" % n,
            "Expiration": self.expiration(),
        }

    # Called with the lock held: whether this credential call fails.
    def take_failure(self):
        if self.fail_next > 0:
            self.fail_next -= 1
            return True
        return False


def read_token(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            return f.readline().strip()
    except OSError:
        return None


def xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sts_error(code, message, status):
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        "<Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
        "<RequestId>fake-request-id</RequestId></ErrorResponse>" % (code, xml_escape(message))
    )
    return status, "text/xml", body


def make_handler(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):  # keep stdout for the port line
            pass

        def reply(self, status, content_type, body, control=False):
            with state.lock:
                delay = 0 if control else state.delay_ms
            if delay:
                time.sleep(delay / 1000.0)
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n).decode("utf-8") if n else ""

        def do_PUT(self):
            body = self.read_body()
            del body
            if self.path != "/latest/api/token":
                return self.reply(404, "text/plain", "not found")
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self.reply(400, "text/plain", "missing ttl header")
            with state.lock:
                state.counters["imds_token_calls"] += 1
                token = "imdsToken-%d-AQAEAFakeToken" % state.counters["imds_token_calls"]
                state.imds_tokens.add(token)
            return self.reply(200, "text/plain", token)

        def do_GET(self):
            parsed = urllib.parse.urlsplit(self.path)
            if parsed.path == "/control":
                with state.lock:
                    body = json.dumps(state.counters)
                return self.reply(200, "application/json", body, control=True)
            query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
            if "Action" in query:
                return self.sts({k: v[0] for k, v in query.items()})
            if parsed.path.startswith("/latest/meta-data/"):
                return self.imds(parsed.path)
            if parsed.path.startswith("/v2/credentials") or parsed.path.startswith("/container"):
                return self.container()
            return self.reply(404, "text/plain", "not found")

        def do_POST(self):
            body = self.read_body()
            parsed = urllib.parse.urlsplit(self.path)
            if parsed.path == "/control":
                settings = json.loads(body or "{}")
                with state.lock:
                    if settings.pop("reset", False):
                        state.reset()
                    for key, value in settings.items():
                        if key == "lifetime_s":
                            state.lifetime_s = float(value)
                        elif key == "expires_unix_ms":
                            state.expires_unix_ms = int(value)
                        elif key == "fail_next":
                            state.fail_next = int(value)
                        elif key == "fail_mode":
                            state.fail_mode = str(value)
                        elif key == "delay_ms":
                            state.delay_ms = int(value)
                        elif key in ("imds_role", "role_arn", "token_file", "container_auth"):
                            setattr(state, key, str(value))
                        else:
                            return self.reply(400, "text/plain", "unknown setting " + key, control=True)
                return self.reply(200, "application/json", "{}", control=True)
            form = {k: v[0] for k, v in urllib.parse.parse_qs(body, keep_blank_values=True).items()}
            if "Action" in form:
                return self.sts(form)
            return self.reply(404, "text/plain", "not found")

        def sts(self, form):
            with state.lock:
                state.counters["sts_calls"] += 1
                state.counters["last_session_name"] = form.get("RoleSessionName", "")
                state.counters["last_role_arn"] = form.get("RoleArn", "")
                fail = state.take_failure()
                mode = state.fail_mode
                role_arn = state.role_arn
                token_file = state.token_file
            sent_token = form.get("WebIdentityToken", "")
            if form.get("Action") != "AssumeRoleWithWebIdentity" or form.get("Version") != "2011-06-15":
                return self.reply(*sts_error("InvalidAction", "bad Action or Version", 400))
            if fail:
                if mode == "denied":
                    return self.reply(*sts_error(
                        "AccessDenied", "Not authorized with token " + sent_token, 403))
                return self.reply(*sts_error("InternalFailure", "fake failure", 500))
            if form.get("RoleArn") != role_arn:
                return self.reply(*sts_error(
                    "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403))
            if not form.get("RoleSessionName"):
                return self.reply(*sts_error("ValidationError", "RoleSessionName missing", 400))
            expected = read_token(token_file) if token_file else None
            if expected is None or sent_token != expected:
                return self.reply(*sts_error(
                    "InvalidIdentityToken", "Token " + sent_token + " is not the file's", 400))
            with state.lock:
                c = state.new_credentials()
            body = (
                '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                "<AssumeRoleWithWebIdentityResult>"
                "<SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>"
                "<AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROAFAKE:%s</AssumedRoleId></AssumedRoleUser>"
                "<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey>"
                "<SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>"
                "<Provider>fake-oidc</Provider><Audience>sts.amazonaws.com</Audience>"
                "</AssumeRoleWithWebIdentityResult>"
                "<ResponseMetadata><RequestId>fake-request-id</RequestId></ResponseMetadata>"
                "</AssumeRoleWithWebIdentityResponse>"
                % (xml_escape(role_arn), xml_escape(form["RoleSessionName"]),
                   xml_escape(form["RoleSessionName"]), c["AccessKeyId"],
                   xml_escape(c["SecretAccessKey"]), xml_escape(c["Token"]), c["Expiration"])
            )
            return self.reply(200, "text/xml", body)

        def container(self):
            auth = self.headers.get("Authorization") or ""
            with state.lock:
                state.counters["container_calls"] += 1
                state.counters["last_authorization"] = auth
                expected = state.container_auth
                fail = state.take_failure()
                mode = state.fail_mode
            if expected and auth != expected:
                return self.reply(403, "application/json", json.dumps(
                    {"code": "AccessDenied", "message": "bad authorization " + auth}))
            if fail:
                if mode == "denied":
                    return self.reply(403, "application/json", json.dumps(
                        {"code": "AccessDenied", "message": "denied for " + auth}))
                return self.reply(500, "application/json", json.dumps(
                    {"code": "InternalError", "message": "fake failure"}))
            with state.lock:
                c = state.new_credentials()
            return self.reply(200, "application/json", json.dumps(c))

        def imds(self, path):
            token = self.headers.get("X-aws-ec2-metadata-token")
            with state.lock:
                known = token in state.imds_tokens
                role = state.imds_role
            if not known:
                return self.reply(401, "text/plain", "")
            prefix = "/latest/meta-data/iam/security-credentials/"
            if path == prefix:
                if not role:
                    return self.reply(404, "text/plain", "not found")
                return self.reply(200, "text/plain", role + "\n")
            if path.startswith(prefix) and role and path[len(prefix):] == role:
                with state.lock:
                    state.counters["imds_credential_calls"] += 1
                    fail = state.take_failure()
                    mode = state.fail_mode
                if fail:
                    if mode == "denied":
                        return self.reply(200, "application/json", json.dumps(
                            {"Code": "AssumeRoleUnauthorizedAccess",
                             "Message": "cannot assume the instance role"}))
                    return self.reply(500, "text/plain", "fake failure")
                with state.lock:
                    c = state.new_credentials()
                c.update({"Code": "Success", "LastUpdated": "2026-01-01T00:00:00Z", "Type": "AWS-HMAC"})
                return self.reply(200, "application/json", json.dumps(c))
            return self.reply(404, "text/plain", "not found")

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--role-arn", default="arn:aws:iam::123456789012:role/fake")
    p.add_argument("--token-file", default="")
    p.add_argument("--container-auth", default="")
    p.add_argument("--imds-role", default="fake-role")
    p.add_argument("--lifetime", type=float, default=3600.0, help="seconds from now")
    p.add_argument("--expires-unix-ms", type=int, default=0, help="fixed expiry (0: lifetime)")
    p.add_argument("--fail-next", type=int, default=0)
    p.add_argument("--fail-mode", default="500", choices=["500", "denied"])
    args = p.parse_args()
    state = State(args)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(state))
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
