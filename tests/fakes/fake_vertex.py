#!/usr/bin/python3
"""fake_vertex.py: a strict fake of Google Vertex AI's Claude endpoints for cc-relay's tests.

  fake_vertex.py --project PROJECT --region REGION --tokens FILE [--static-token TOKEN]
                 [--request-log FILE] [--port-file FILE] [more options: --help]

Prints "listening 127.0.0.1:PORT" on stdout (flushed) when ready and writes PORT to --port-file.
Standard library only (run it with Debian's /usr/bin/python3 like the other fakes). The tokens
file format, the request log and the control routes are in anthropic_fake.py; the answers in
anthropic_script.py.

Routes (protocols.md 4.1, 4.2; --path-prefix is the "/v1" of the base URL):
  POST /v1/projects/{project}/locations/{region}/publishers/anthropic/models/{model}:rawPredict
       -> Anthropic Message JSON
  POST .../models/{model}:streamRawPredict      -> Anthropic SSE
  POST .../models/count-tokens:rawPredict       -> {"input_tokens": N}
  POST /__fake/fail-next?status=429&n=2[&type=RESOURCE_EXHAUSTED][&message=text]  (loopback)
  POST /__fake/reset                                                              (loopback)
Everything else: 404 NOT_FOUND.

Per request, in this order (platform errors in Google's format {"error": {"code", "message",
"status"}}, model-level errors in Anthropic's with a req_vrtx_ request_id, as Vertex answers):
  route                       else 404 NOT_FOUND
  Authorization: Bearer T     T in a tokens file or a --static-token, not expired; else 401
                              UNAUTHENTICATED (details reason CREDENTIALS_MISSING,
                              ACCESS_TOKEN_TYPE_UNSUPPORTED or ACCESS_TOKEN_EXPIRED)
  no x-api-key (nor x-goog-api-key)                 else 400 INVALID_ARGUMENT
  project == --project                              else 403 PERMISSION_DENIED
  location == --region                              else 400 INVALID_ARGUMENT
  no query string (Vertex binds none; ?beta=true)   else 400 INVALID_ARGUMENT
  Content-Type application/json, a JSON object      else 400 INVALID_ARGUMENT
  the model matches --model-pattern                 else 404 NOT_FOUND "Publisher Model ..."
  body (Anthropic 400 invalid_request_error):
    anthropic_version == "vertex-2023-10-16"; no `model` (count-tokens: `model` required);
    `stream` true on :streamRawPredict, absent or false on :rawPredict, absent on count-tokens;
    no anthropic-beta value of --reject-betas (count-tokens also --count-tokens-reject-betas);
    the Messages API rules (top-level members, max_tokens, messages, thinking, metadata,
    cache_control without `scope`, role 'system' only with mid-conversation-system-2026-04-07,
    thinking signatures, tool_result pairing)
  a pending /__fake/fail-next failure
  faults by model id substring (count-tokens: the body's model), FAULTS below
  the answer
"""

import re
import sys
import uuid
from urllib.parse import unquote

sys.dont_write_bytecode = True  # no __pycache__ in the source tree for the modules below
import anthropic_fake  # noqa: E402
import anthropic_script  # noqa: E402
from anthropic_fake import FakeError  # noqa: E402

FAULTS = """\
Faults, chosen by a substring of the model id (after auth and body checks; a pending
POST /__fake/fail-next failure comes first):
  quota-array      429 RESOURCE_EXHAUSTED "Quota exceeded for aiplatform.googleapis.com/
                   online_prediction_requests_per_base_model ...", the error wrapped in a
                   JSON array
  quota            the same, not wrapped
  denied           403 PERMISSION_DENIED
  unavailable      503 UNAVAILABLE
  notfound         404 NOT_FOUND "Publisher Model ... not found."
  hang             wait --hang-ms, then answer normally
  midstream-drop   :streamRawPredict: message_start, ping, content_block_start, one delta, then
                   the connection is closed (no last chunk); :rawPredict: half the JSON body,
                   then the connection is closed
  midstream-error  :streamRawPredict: the same four events, then an SSE error event
                   (overloaded_error) and a clean end
"""

ANTHROPIC_VERSION = "vertex-2023-10-16"
SCRIPT = anthropic_script.Script("Vertex", "vrtx")

# Betas Vertex refuses with 400 "Unexpected value(s) ...". BerriAI/litellm
# litellm/anthropic_beta_headers_config.json, "vertex_ai": the values it maps to null (or
# renames: advanced-tool-use-2025-11-20), plus what Claude Code sends that LiteLLM never
# forwards to Vertex (claude-code, oauth, thinking-token-count, mid-conversation-system,
# redact-thinking, token-counting), plus values Vertex was observed to refuse
# (anthropics/claude-code #34802 adaptive-thinking and effort, #21625 prompt-caching-scope;
# structured-outputs-2025-12-15).
DEFAULT_REJECT_BETAS = [
    "advanced-tool-use-2025-11-20", "advisor-tool-2026-03-01", "adaptive-thinking-2026-01-28",
    "bash_20241022", "bash_20250124", "claude-code-20250219", "code-execution-2025-08-25",
    "effort-2025-11-24", "fast-mode-2026-02-01", "files-api-2025-04-14",
    "fine-grained-tool-streaming-2025-05-14", "mcp-client-2025-04-04", "mcp-client-2025-11-20",
    "mcp-servers-2025-12-04", "mid-conversation-system-2026-04-07", "oauth-2025-04-20",
    "output-128k-2025-02-19", "prompt-caching-scope-2026-01-05", "redact-thinking-2026-02-12",
    "skills-2025-10-02", "structured-output-2024-03-01", "structured-outputs-2025-11-13",
    "structured-outputs-2025-12-15", "text_editor_20241022", "text_editor_20250124",
    "thinking-token-count-2026-05-13", "token-counting-2024-11-01",
    "token-efficient-tools-2025-02-19", "web-fetch-2025-09-10",
]
# count-tokens refused these too (anthropics/claude-code #11154, #12429).
DEFAULT_COUNT_TOKENS_REJECT_BETAS = ["context-1m-2025-08-07", "web-search-2025-03-05"]
# A tokens file entry that names its scope must hold this one (protocols.md 4.2).
SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]
DEFAULT_MODEL_PATTERNS = [r"^claude-[a-z0-9.-]+(@[A-Za-z0-9]+)?$"]

GOOGLE_CONTENT_TYPE = "application/json; charset=UTF-8"
GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                 404: "NOT_FOUND", 409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
                 500: "INTERNAL", 501: "NOT_IMPLEMENTED", 503: "UNAVAILABLE",
                 504: "DEADLINE_EXCEEDED"}
SEE_DEVCONSOLE = ("Expected OAuth 2 access token, login cookie or other valid authentication "
                  "credential. See https://developers.google.com/identity/sign-in/web/"
                  "devconsole-project.")
AUTH_REASONS = {"missing": "CREDENTIALS_MISSING", "malformed": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                "unknown": "ACCESS_TOKEN_TYPE_UNSUPPORTED", "expired": "ACCESS_TOKEN_EXPIRED",
                "wrong-scope": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}
METHODS = {"rawPredict": "RawPredict", "streamRawPredict": "StreamRawPredict"}


def google_error(status, message, status_name=None, details=None, array=False, headers=(),
                 detail=None):
    status_name = status_name or GOOGLE_STATUS.get(status, "UNKNOWN")
    error = {"code": status, "message": message, "status": status_name}
    if details:
        error["details"] = details
    body = {"error": error}
    return FakeError(status, [body] if array else body, status_name, message, detail, headers,
                     GOOGLE_CONTENT_TYPE)


class Handler(anthropic_fake.FakeHandler):
    NAME = "fake_vertex"
    SCRIPT = SCRIPT
    route = None  # compiled in main from --path-prefix

    def new_request_id(self):
        return "req_vrtx_011" + uuid.uuid4().hex[:21]

    def injected_error(self, req, status, error_type, message):
        return google_error(status, message, error_type)

    def internal_error(self, req, message):
        return google_error(500, message)

    def resource(self, req):
        log = req.log
        return (f"projects/{log['project']}/locations/{log['region']}/publishers/anthropic/"
                f"models/{log['model']}")

    def serve(self, req):
        config = self.config
        log = req.log
        match = self.route.match(req.path)
        if match is not None:
            project, region, model, method = (unquote(g) for g in match.groups())
            count_tokens = model == "count-tokens"
            log.update(project=project, region=region, model=model,
                       operation="countTokens" if count_tokens else method)
        if match is None or req.method != "POST" or method not in METHODS or \
                (count_tokens and method != "rawPredict"):
            raise google_error(404, "The requested URL was not found on this server.",
                               detail=f"no route for {req.method} {req.path}")
        verdict = self.authenticate_bearer(req)
        if verdict != "ok":
            status, message = 401, ("Request is missing required authentication credential. "
                                    if verdict == "missing" else
                                    "Request had invalid authentication credentials. ")
            message += SEE_DEVCONSOLE
            challenge = 'Bearer realm="https://accounts.google.com/"' + (
                "" if verdict == "missing" else ', error="invalid_token"')
            if verdict == "wrong-scope":
                status, message = 403, "Request had insufficient authentication scopes."
                challenge += ', scope="' + " ".join(sorted(config.token_scope)) + '"'
                challenge = challenge.replace("invalid_token", "insufficient_scope")
            raise google_error(status, message, details=[{
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": AUTH_REASONS[verdict], "domain": "googleapis.com",
                "metadata": {"service": "aiplatform.googleapis.com",
                             "method": "google.cloud.aiplatform.v1.PredictionService."
                                       + METHODS[method]}}],
                headers=[("WWW-Authenticate", challenge)],
                detail=log["auth"].get("detail") or log.get("error_detail") or verdict)
        for name in ("x-api-key", "x-goog-api-key"):
            if name in req.values:
                raise google_error(400, f"fake_vertex: {name} must not reach Vertex AI: the "
                                   "Bearer token is the only credential (protocols.md 4.2)")
        if project != config.project:
            raise google_error(403, f"Permission 'aiplatform.endpoints.predict' denied on "
                               f"resource '//aiplatform.googleapis.com/{self.resource(req)}' "
                               f"(or it may not exist).",
                               detail=f"project '{project}' is not --project '{config.project}'")
        if region != config.region:
            raise google_error(400, f"fake_vertex: location '{region}' in the path is not this "
                               f"endpoint's region '{config.region}'")
        if req.query:
            name = req.query.split("&")[0].split("=")[0]
            raise google_error(400, f"Invalid JSON payload received. Unknown name \"{name}\": "
                               f"Cannot bind query parameter. Field '{name}' could not be found "
                               f"in request message.")
        self.check_json_body(req, lambda message: google_error(400, message))
        invalid = self.invalid(req)  # model-level 400s come in Anthropic's shape
        body = req.json
        if count_tokens:
            if not isinstance(body.get("model"), str):
                raise invalid("model: Field required")
            log["model"] = model = body["model"]
        elif "model" in body:
            raise invalid("model: Extra inputs are not permitted")
        if not any(p.search(model) for p in config.model_patterns):
            raise google_error(404, f"Publisher Model `{self.resource(req)}` not found.")
        version = body.get("anthropic_version")
        if version is None:
            raise invalid("anthropic_version: Field required")
        if version != ANTHROPIC_VERSION:
            raise invalid(f"anthropic_version: Input should be '{ANTHROPIC_VERSION}'")
        stream = body.get("stream", False)
        if method == "streamRawPredict" and stream is not True:
            raise invalid("fake_vertex: :streamRawPredict needs \"stream\": true in the body")
        if method == "rawPredict" and stream is not False:
            raise invalid("fake_vertex: :rawPredict needs \"stream\" absent or false "
                          "(streaming goes to :streamRawPredict)")
        reject = config.reject | (config.count_tokens_reject if count_tokens else set())
        self.check_betas(req, reject)
        allowed = (anthropic_fake.COUNT_TOKENS_KEYS if count_tokens
                   else anthropic_fake.MESSAGES_KEYS - {"model"}) | {"anthropic_version"}
        self.check_messages_body(req, invalid, allowed, count_tokens)
        self.take_injected_failure(req)
        fault = next((f for f in ("quota-array", "quota", "denied", "unavailable", "notfound",
                                  "hang", "midstream-drop", "midstream-error") if f in model),
                     None)
        log["fault"] = fault
        if fault in ("quota-array", "quota"):
            base = re.sub(r"@.*$", "", model)
            raise google_error(429, "Quota exceeded for aiplatform.googleapis.com/"
                               "online_prediction_requests_per_base_model with base model: "
                               f"anthropic-{base}. Please submit a quota increase request. "
                               "https://cloud.google.com/vertex-ai/docs/generative-ai/"
                               "quotas-genai.",
                               array=fault == "quota-array")
        if fault == "denied":
            raise google_error(403, f"Permission 'aiplatform.endpoints.predict' denied on "
                               f"resource '//aiplatform.googleapis.com/{self.resource(req)}' "
                               f"(or it may not exist).")
        if fault == "unavailable":
            raise google_error(503, "The service is currently unavailable.")
        if fault == "notfound":
            raise google_error(404, f"Publisher Model `{self.resource(req)}` not found.")
        if count_tokens:
            self.answer_count_tokens(req)
            return
        self.answer(req, model, stream, fault)


def parse_args(argv):
    parser = anthropic_fake.parser_for(
        "Strict fake of Google Vertex AI's Claude endpoints (rawPredict, streamRawPredict, "
        "count-tokens).", FAULTS + "\n" + anthropic_script.ANSWERS_HELP)
    anthropic_fake.add_common_args(parser, SCOPES)
    parser.add_argument("--project", required=True, help="the only project id accepted")
    parser.add_argument("--region", required=True,
                        help="the only location accepted (global, us, eu, us-east5, ...)")
    parser.add_argument("--path-prefix", default="/v1",
                        help="path before /projects/... (default /v1)")
    parser.add_argument("--model-pattern", action="append",
                        help="regex (re.search) a model id must match, else 404; repeatable; "
                             "replaces the default " + DEFAULT_MODEL_PATTERNS[0])
    anthropic_fake.beta_list_args(parser, "the betas Vertex refuses")
    parser.add_argument("--count-tokens-reject-betas",
                        help="comma list of betas count-tokens also refuses, replacing the "
                             "default " + ",".join(DEFAULT_COUNT_TOKENS_REJECT_BETAS))
    args = parser.parse_args(argv)
    args.reject = anthropic_fake.reject_set(args, DEFAULT_REJECT_BETAS)
    args.count_tokens_reject = set(
        args.count_tokens_reject_betas.split(",") if args.count_tokens_reject_betas is not None
        else DEFAULT_COUNT_TOKENS_REJECT_BETAS) - {""}
    args.model_patterns = [re.compile(p) for p in (args.model_pattern or DEFAULT_MODEL_PATTERNS)]
    return args


def main(argv):
    args = parse_args(argv)
    Handler.route = re.compile(
        "^" + re.escape(args.path_prefix.rstrip("/")) +
        r"/projects/([^/]+)/locations/([^/]+)/publishers/anthropic/models/([^/:]+):([A-Za-z]+)$")
    return anthropic_fake.run(Handler, args, SCOPES)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
