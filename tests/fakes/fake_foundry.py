#!/usr/bin/python3
"""fake_foundry.py: a strict fake of Azure AI Foundry's Claude endpoint for cc-relay's tests.

  fake_foundry.py --deployment NAME [--deployment NAME...] [--api-key KEY...] [--tokens FILE...]
                  [--static-token TOKEN...] [--request-log FILE] [--port-file FILE]
                  [more options: --help]

Prints "listening 127.0.0.1:PORT" on stdout (flushed) when ready and writes PORT to --port-file.
Standard library only (run it with Debian's /usr/bin/python3 like the other fakes). The tokens
file format, the request log and the control routes are in anthropic_fake.py; the answers in
anthropic_script.py.

Routes (protocols.md 5; --path-prefix is the "/anthropic" of the base URL):
  POST /anthropic/v1/messages               -> Anthropic Message JSON, or SSE with "stream": true
  POST /anthropic/v1/messages/count_tokens  -> {"input_tokens": N}
  (both take no query but ?beta=true)
  GET  /anthropic/v1/models                 -> 404: Foundry has no Models API
  POST /__fake/fail-next?status=429&n=2[&type=rate_limit_error][&message=text]   (loopback)
  POST /__fake/reset                                                             (loopback)
Everything else: 404 not_found_error.

Per request, in this order (errors in Anthropic's shape {"type":"error","error":{"type",
"message"},"request_id"}, as protocols.md 5 and 8 say Foundry answers; --auth-error-shape azure
gives the 401s Azure's gateway shape {"error":{"code":"401","message"}} instead):
  path under --path-prefix                          else 404
  credentials, exactly one kind:
    api-key / x-api-key: one of --api-key (both headers, if both sent, equal)
    Authorization: Bearer T: T in a tokens file or a --static-token, not expired
    none, both kinds, an unknown key or token, an expired token -> 401 authentication_error
  route (GET .../v1/models included)                else 404 not_found_error
  query empty or beta=true                          else 400
  Content-Type application/json, a JSON object; anthropic-version header present    else 400
  `model` one of --deployment                       else 404 "The API deployment for this
                                                    resource does not exist. ..."
  no anthropic-beta value of --reject-betas         else 400 "Unexpected value(s) ..."
  the Messages API rules (top-level members, no anthropic_version in the body, max_tokens,
  messages, thinking, metadata, cache_control (scope only with prompt-caching-scope-2026-01-05),
  role 'system' only with mid-conversation-system-2026-04-07, thinking signatures, tool_result
  pairing)                                          else 400 invalid_request_error
  a pending /__fake/fail-next failure
  faults by deployment name substring, FAULTS below
  the answer (headers request-id and apim-request-id, protocols.md 5.3)
"""

import sys
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree for the modules below
import anthropic_fake  # noqa: E402
import anthropic_script  # noqa: E402
from anthropic_fake import FakeError, anthropic_error  # noqa: E402

FAULTS = """\
Faults, chosen by a substring of the deployment name (after auth and body checks; a pending
POST /__fake/fail-next failure comes first):
  throttle         429 rate_limit_error, retry-after: --retry-after (default 2)
  overloaded       529 overloaded_error
  denied           403 permission_error
  hang             wait --hang-ms, then answer normally
  midstream-drop   streamed: message_start, ping, content_block_start, one delta, then the
                   connection is closed (no last chunk); not streamed: half the JSON body, then
                   the connection is closed
  midstream-error  streamed: the same four events, then an SSE error event (overloaded_error)
                   and a clean end
"""

SCRIPT = anthropic_script.Script("Foundry", "fndry")

# Betas Foundry refuses: BerriAI/litellm litellm/anthropic_beta_headers_config.json,
# "azure_ai": the values it maps to null, and oauth-2025-04-20 (Claude subscription OAuth, never
# valid on Azure).
DEFAULT_REJECT_BETAS = [
    "advisor-tool-2026-03-01", "bash_20241022", "bash_20250124", "compact-2026-01-12",
    "fast-mode-2026-02-01", "fine-grained-tool-streaming-2025-05-14", "mcp-servers-2025-12-04",
    "oauth-2025-04-20", "output-128k-2025-02-19", "structured-output-2024-03-01",
    "text_editor_20241022", "text_editor_20250124", "thinking-binding-controls-2026-08-01",
    "token-efficient-tools-2025-02-19",
]

# A tokens file entry that names its scope must hold one of these (protocols.md 5.2).
SCOPES = ["https://ai.azure.com/.default", "https://cognitiveservices.azure.com/.default"]
KEY_MESSAGE = ("Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
               "provide a valid key for an active subscription and use a correct regional API "
               "endpoint for your resource.")
MISSING_MESSAGE = ("Access denied due to missing subscription key. Make sure to include "
                   "subscription key when making requests to an API.")
TOKEN_MESSAGE = ("Unauthorized. Access token is missing, invalid, audience is incorrect "
                 "(https://ai.azure.com), or have expired.")
DEPLOYMENT_MESSAGE = ("The API deployment for this resource does not exist. If you created the "
                      "deployment within the last 5 minutes, please wait a moment and try again.")
KEY_HEADERS = ("api-key", "x-api-key")


class Handler(anthropic_fake.FakeHandler):
    NAME = "fake_foundry"
    SCRIPT = SCRIPT

    def new_request_id(self):
        return "req_fndry_01" + uuid.uuid4().hex[:22]

    def response_headers(self, req):
        return [("request-id", req.request_id), ("apim-request-id", str(uuid.uuid4()))]

    def unauthorized(self, req, message, detail):
        if self.config.auth_error_shape == "azure":
            return FakeError(401, {"error": {"code": "401", "message": message}}, "401", message,
                             detail)
        return anthropic_error(401, message, req.request_id, detail=detail)

    def authenticate(self, req):
        """Exactly one kind of credential, and a good one; else 401."""
        log = req.log
        keys = [v for name in KEY_HEADERS for v in req.values.get(name, [])]
        has_bearer = "authorization" in req.values
        if keys and has_bearer:
            log["auth"].update(kind="both", verdict="both")
            raise self.unauthorized(req, "fake_foundry: send an API key (api-key / x-api-key) or "
                                    "Authorization: Bearer, not both", "both kinds of credential")
        if keys:
            log["auth"].update(kind="api-key", key_fingerprint=anthropic_fake.fingerprint(keys[0]),
                               headers=[n for n in KEY_HEADERS if n in req.values])
            if len(set(keys)) != 1:
                log["auth"]["verdict"] = "mismatch"
                raise self.unauthorized(req, "fake_foundry: api-key and x-api-key differ",
                                        "two different keys sent")
            if keys[0] not in self.config.api_key:
                log["auth"]["verdict"] = "unknown"
                raise self.unauthorized(req, KEY_MESSAGE, "key not among --api-key")
            log["auth"]["verdict"] = "ok"
            log["verified"] = True
            return
        verdict = self.authenticate_bearer(req)
        if verdict == "missing":
            raise self.unauthorized(req, MISSING_MESSAGE, "no credential")
        if verdict != "ok":
            raise self.unauthorized(req, TOKEN_MESSAGE,
                                    log["auth"].get("detail") or log.get("error_detail"))

    def serve(self, req):
        config = self.config
        log = req.log
        prefix = config.path_prefix.rstrip("/")
        if not req.path.startswith(prefix + "/"):
            raise anthropic_error(404, "Resource not found",
                                  req.request_id, detail=f"not under {prefix}/")
        self.authenticate(req)
        route = req.path[len(prefix):]
        operation = {"/v1/messages": "messages",
                     "/v1/messages/count_tokens": "count_tokens"}.get(route)
        log["operation"] = operation
        if operation is None or req.method != "POST":
            why = " (Foundry has no Models API)" if route == "/v1/models" else ""
            raise anthropic_error(404, "Not Found", req.request_id,
                                  detail=f"no route for {req.method} {req.path}{why}")
        invalid = self.invalid(req)
        if req.query not in ("", "beta=true"):
            raise invalid(f"fake_foundry: unexpected query string '{req.query}' (only "
                          "beta=true)")
        self.check_json_body(req, invalid)
        if req.header("anthropic-version") is None:
            raise invalid("anthropic-version: header is required")
        body = req.json
        model = body.get("model")
        if not isinstance(model, str):
            raise invalid("model: Field required")
        log["model"] = model
        if model not in config.deployment:
            raise anthropic_error(404, DEPLOYMENT_MESSAGE, req.request_id,
                                  detail=f"'{model}' is not a --deployment")
        count_tokens = operation == "count_tokens"
        self.check_betas(req, config.reject)
        allowed = anthropic_fake.COUNT_TOKENS_KEYS if count_tokens else anthropic_fake.MESSAGES_KEYS
        self.check_messages_body(req, invalid, allowed, count_tokens)
        self.take_injected_failure(req)
        fault = next((f for f in ("throttle", "overloaded", "denied", "hang", "midstream-drop",
                                  "midstream-error") if f in model), None)
        log["fault"] = fault
        if fault == "throttle":
            raise anthropic_error(429, "Rate limit is exceeded. Try again later.", req.request_id,
                                  headers=[("retry-after", str(config.retry_after))])
        if fault == "overloaded":
            raise anthropic_error(529, "Overloaded", req.request_id)
        if fault == "denied":
            raise anthropic_error(403, "The principal lacks the required data action "
                                  "Microsoft.CognitiveServices/accounts/AIServices/anthropic/"
                                  "action to perform this operation.", req.request_id)
        if count_tokens:
            self.answer_count_tokens(req)
            return
        self.answer(req, model, body.get("stream", False), fault)

    def injected_error(self, req, status, error_type, message):
        headers = [("retry-after", str(self.config.retry_after))] if status == 429 else []
        return anthropic_error(status, message, req.request_id, error_type, headers=headers)


def parse_args(argv):
    parser = anthropic_fake.parser_for(
        "Strict fake of Azure AI Foundry's Claude endpoint (/anthropic/v1/messages).",
        FAULTS + "\n" + anthropic_script.ANSWERS_HELP)
    anthropic_fake.add_common_args(parser, SCOPES)
    parser.add_argument("--deployment", action="append", required=True,
                        help="a deployment name `model` may be (repeatable; at least one)")
    parser.add_argument("--api-key", action="append", default=[],
                        help="an accepted api-key / x-api-key value (repeatable)")
    parser.add_argument("--path-prefix", default="/anthropic",
                        help="path before /v1/messages (default /anthropic)")
    parser.add_argument("--auth-error-shape", choices=("anthropic", "azure"), default="anthropic",
                        help="body of the 401s: Anthropic's error JSON (default) or Azure's "
                             "gateway {\"error\":{\"code\":\"401\",\"message\":...}}")
    parser.add_argument("--retry-after", type=int, default=2,
                        help="retry-after seconds on 429s (default 2)")
    anthropic_fake.beta_list_args(parser, "the betas Foundry refuses")
    args = parser.parse_args(argv)
    args.reject = anthropic_fake.reject_set(args, DEFAULT_REJECT_BETAS)
    return args


def main(argv):
    return anthropic_fake.run(Handler, parse_args(argv), SCOPES)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
