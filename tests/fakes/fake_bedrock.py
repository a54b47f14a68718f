#!/usr/bin/python3
"""fake_bedrock.py: a strict fake of the AWS Bedrock Runtime InvokeModel API for cc-relay's tests.

  fake_bedrock.py --listen 127.0.0.1:0 --region us-east-1 --credentials FILE
                  [--request-log FILE] [--port-file FILE] [more options: --help]
  fake_bedrock.py --self-check        (encoder and signer checks only, then exit)

Prints "listening 127.0.0.1:PORT" on stdout (flushed) when ready and writes PORT to --port-file.
Run it with Debian's /usr/bin/python3: the signature check uses AWS's own code (python3-botocore).
Standard library + botocore only.

Credentials FILE (JSON, re-read on every request, so a test can rotate credentials while the
server runs):
  {"sigv4": [{"access_key_id": "AKID", "secret_access_key": "SECRET",
              "session_token": "TOKEN" or null, "expired": false}],
   "api_keys": ["bedrock-api-key-..."]}
("expired": true makes every request of that identity fail with ExpiredTokenException.)

Routes (the model id is the percent-decoded path segment; a '/' inside it must arrive as %2F):
  POST /model/{modelId}/invoke                      InvokeModel: JSON Message
  POST /model/{modelId}/invoke-with-response-stream InvokeModelWithResponseStream: AWS event stream
  POST /model/{modelId}/count-tokens                CountTokens: {"inputTokens": N}
  POST /__fake/fail-next?status=503&n=2[&type=Name][&message=text]   (no auth, loopback only)
  POST /__fake/reset                                                 (no auth, loopback only)
Everything else: 404 UnknownOperationException.

Per request: auth (Bearer API key, else SigV4 recomputed with botocore.auth.SigV4Auth) -> route
-> model id allow-list -> strict body validation (protocols.md 3.3) -> a pending fail-next
failure -> faults scripted by the model id -> answer. The behaviour table is in BEHAVIOUR below
and in the --help text; the answers and the Messages API history rules are in
anthropic_script.py (shared with fake_vertex.py and fake_foundry.py).

Request log (--request-log): one JSON object per request, appended and flushed before the
response is written (so it is there when the client has the answer):
  seq, time, request_id (= the x-amzn-RequestId answered), method, path (raw, %2F kept),
  query, target, model_id (percent-decoded), operation (InvokeModel |
  InvokeModelWithResponseStream | CountTokens | Control | null), headers (lowercase name ->
  value, repeats joined with ", "), auth {kind: sigv4|bearer|none, access_key_id, scope,
  signed_headers, botocore_signed_headers, session_token_present, bearer_fingerprint (first 8
  hex of SHA-256 of the key), signature_verified, verified}, signed_headers, signature_verified,
  body_bytes, body_sha256, body (the decoded JSON body or null), invoke_body (CountTokens: the
  decoded inner InvokeModel body), anthropic_beta (list or null), rejected_betas,
  extraneous_keys, behaviour (default|say|read_file|tool_result|json_schema), fault, status,
  error_type, error_message, error_detail (why, e.g. which signature check failed), stream
  {frame_delay_ms, outcome, events: [event types sent]}.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import re
import struct
import sys
import threading
import time
import traceback
import types
import uuid
import zlib
from unittest import mock
from urllib.parse import unquote

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.eventstream

sys.dont_write_bytecode = True  # no __pycache__ in the source tree for the module below
import anthropic_fake  # noqa: E402 - HTTP plumbing shared with fake_vertex.py, fake_foundry.py
import anthropic_script  # noqa: E402 - the scripted answers, shared with the other fakes

BEHAVIOUR = """\
Faults, chosen by a substring of the model id (after auth and body validation; a pending
POST /__fake/fail-next failure comes first):
  hang                   sleep --hang-ms before answering normally (default 30000)
  throttle               429 ThrottlingException
                         "Too many requests, please wait before trying again."
  denied                 403 AccessDeniedException
  unavailable            503 ServiceUnavailableException
  internal               500 InternalServerException
  model-timeout          408 ModelTimeoutException
  model-error            424 ModelErrorException
  not-ready              429 ModelNotReadyException
  (streaming only; InvokeModel and CountTokens answer normally)
  stream-exception-throttling  message_start + 1 delta, then an exception frame throttlingException
  stream-exception       message_start + 1 delta, then an exception frame modelStreamErrorException
  stream-error           message_start + 1 delta, then an unmodelled error frame
                         (:message-type error, :error-code, :error-message)
  stream-cut             message_start + 1 delta, then half a frame and the connection is closed
  stream-bad-crc         message_start + 1 delta, then a frame whose message CRC is wrong
  stream-stall           message_start + 1 delta, then --hang-ms of silence, then the rest
  slow                   200 ms between frames (else --frame-delay-ms)
Answers (first match wins):
  last user message has a tool_result  text "TOOL RESULT: <first 200 chars of its text>"
  output_config.format is json_schema  text = JSON that fits the schema (session titles)
  last user text has "READ_FILE <path>"  text "Reading <path>." + tool_use Read {"file_path": path},
                                         stop_reason tool_use
  last user text has "SAY <text>"      text "<text>" (rest of the line)
  otherwise                            text "Hello from fake Bedrock."
  thinking.type enabled/adaptive       a thinking block first (thinking_delta + signature_delta,
                                       signature THINKING_SIGNATURE), streamed and not
"""

SCRIPT = anthropic_script.Script("Bedrock", "bdrk")  # the answers: tests/fakes/anthropic_script.py
DEFAULT_TEXT = SCRIPT.default_text
THINKING_SIGNATURE = SCRIPT.thinking_signature  # base64 of fake-bedrock-thinking-signature-v1
ANTHROPIC_VERSION = "bedrock-2023-05-31"
BODY_LIMIT = 25_000_000
SIGV4_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = datetime.timedelta(minutes=5)
CORAL = ":http://internal.amazon.com/coral/com.amazon.bedrock/"

# protocols.md 3.3 (LiteLLM's allowlist).
ALLOWED_TOP_LEVEL = [
    "anthropic_version", "max_tokens", "messages", "anthropic_beta", "system", "stop_sequences",
    "temperature", "top_p", "top_k", "tools", "tool_choice", "thinking", "metadata",
    "output_config", "context_management",
]

# Betas Bedrock accepts: the values LiteLLM forwards to Bedrock Invoke
# (BerriAI/litellm litellm/anthropic_beta_headers_config.json, "bedrock") plus the ones AWS's
# Claude parameter page lists. Everything else -> 400 "invalid beta flag" (for example
# claude-code-20250219, oauth-2025-04-20, prompt-caching-scope-2026-01-05,
# structured-outputs-2025-12-15, mid-conversation-system-2026-04-07).
DEFAULT_ACCEPTED_BETAS = [
    "compact-2026-01-12",
    "computer-use-2024-10-22",
    "computer-use-2025-01-24",
    "computer-use-2025-11-24",
    "context-1m-2025-08-07",
    "context-management-2025-06-27",
    "dangerous-tool-use-2026-09-03",
    "dev-full-thinking-2025-05-14",
    "effort-2025-11-24",
    "fine-grained-tool-streaming-2025-05-14",
    "interleaved-thinking-2025-05-14",
    "mid-conversation-output-config-2026-07-01",
    "mid-conversation-tool-changes-2026-07-01",
    "output-128k-2025-02-19",
    "thinking-binding-controls-2026-08-01",
    "thinking-display-updates-2026-08-18",
    "token-efficient-tools-2025-02-19",
    "tool-examples-2025-10-29",
    "tool-search-tool-2025-10-19",
]
ACCEPTED_CONTEXT_EDITS = {"clear_tool_uses_20250919", "compact_20260112"}

DEFAULT_MODEL_PATTERNS = [
    r"anthropic\.claude",
    r"^arn:aws(-[a-z]+)*:bedrock:[a-z0-9-]+:[0-9]+:(application-)?inference-profile/.+",
]

# (model id substring, status, exception name, message); first match wins.
HTTP_FAULTS = [
    ("throttle", 429, "ThrottlingException", "Too many requests, please wait before trying again."),
    ("denied", 403, "AccessDeniedException",
     "You don't have access to the model with the specified model ID."),
    ("unavailable", 503, "ServiceUnavailableException",
     "Bedrock is unable to process your request."),
    ("internal", 500, "InternalServerException",
     "The server encountered an internal error while processing the request."),
    ("model-timeout", 408, "ModelTimeoutException",
     "The request took too long to process. Processing time exceeded the model timeout length."),
    ("model-error", 424, "ModelErrorException",
     "The system encountered an unexpected error during processing. Try your request again."),
    ("not-ready", 429, "ModelNotReadyException",
     "Model is not ready to serve inference requests."),
]
STREAM_FAULTS = ["stream-exception-throttling", "stream-exception", "stream-error", "stream-cut",
                 "stream-bad-crc", "stream-stall"]

STATUS_EXCEPTIONS = {
    400: "ValidationException", 403: "AccessDeniedException", 404: "ResourceNotFoundException",
    408: "ModelTimeoutException", 424: "ModelErrorException", 429: "ThrottlingException",
    500: "InternalServerException", 503: "ServiceUnavailableException",
}
# /__fake/ control refusals: (exception, message or None for the control's own).
CONTROL_ERRORS = {400: ("ValidationException", None), 403: ("AccessDeniedException", None),
                  404: ("UnknownOperationException", "Unknown operation")}
REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           408: "Request Timeout", 424: "Failed Dependency", 429: "Too Many Requests",
           500: "Internal Server Error", 503: "Service Unavailable"}

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.")
INVALID_TOKEN = "The security token included in the request is invalid."
EXPIRED_TOKEN = "The security token included in the request is expired"


class BedrockError(Exception):
    """An error answered in Bedrock's rest-json shape."""

    def __init__(self, status, name, message, detail=None):
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message
        self.detail = detail  # logged only (e.g. why a signature check failed)


def malformed(detail):
    return BedrockError(400, "ValidationException", f"Malformed input request: {detail}, "
                        "please reformat your input and try again.")


def validation(message, detail=None):
    return BedrockError(400, "ValidationException", message, detail)


# ---------------------------------------------------------------------------------------------
# AWS event-stream encoder (protocols.md 3.8): struct + zlib.crc32. Strings only (type 7), which
# is all Bedrock uses.

def encode_header(name, value):
    n = name.encode("utf-8")
    v = value.encode("utf-8")
    return struct.pack("!B", len(n)) + n + b"\x07" + struct.pack("!H", len(v)) + v


def encode_frame(headers, payload, corrupt_crc=False):
    """headers: list of (name, string value) in wire order; payload: bytes."""
    block = b"".join(encode_header(k, v) for k, v in headers)
    total = 16 + len(block) + len(payload)
    prelude = struct.pack("!II", total, len(block))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + block + payload
    crc = zlib.crc32(message)
    if corrupt_crc:
        crc ^= 0x5A5A5A5A
    return message + struct.pack("!I", crc)


PADDING_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def chunk_payload(event, padding=None):
    inner = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    envelope = {"bytes": base64.b64encode(inner).decode("ascii")}
    if padding is not None:
        envelope["p"] = padding
    return json.dumps(envelope, separators=(",", ":")).encode("ascii")


def chunk_frame(event, padding=None, corrupt_crc=False):
    return encode_frame([(":event-type", "chunk"), (":content-type", "application/json"),
                         (":message-type", "event")],
                        chunk_payload(event, padding), corrupt_crc)


def exception_frame(exception_type, payload):
    return encode_frame([(":exception-type", exception_type),
                         (":content-type", "application/json"),
                         (":message-type", "exception")],
                        json.dumps(payload, separators=(",", ":")).encode("utf-8"))


def error_frame(code, message):
    return encode_frame([(":error-code", code), (":error-message", message),
                         (":message-type", "error")], b"")


def padding_for(index):
    """Bedrock pads some chunks with a "p" key: every other frame here, of varying length."""
    if index % 2 == 0:
        return None
    length = 1 + (index * 7) % 31
    return "".join(PADDING_ALPHABET[(index + i) % len(PADDING_ALPHABET)] for i in range(length))


# Reference vectors of protocols.md 3.8.
VECTOR_ONE_STR_HEADER = bytes.fromhex(
    "0000003d00000020 07fd8396 0c636f6e74656e742d74797065 07 0010"
    "6170706c69636174696f6e2f6a736f6e 7b27666f6f273a27626172277d 8d9c08b1".replace(" ", ""))
VECTOR_EMPTY = bytes.fromhex("000000100000000005c248eb7d98c8ff")
VECTOR_CHUNK = bytes.fromhex(
    "000000870000004b87ea2bf30b3a6576"
    "656e742d747970650700056368756e6b"
    "0d3a636f6e74656e742d747970650700"
    "106170706c69636174696f6e2f6a736f"
    "6e0d3a6d6573736167652d7479706507"
    "00056576656e747b226279746573223a"
    "2265794a306558426c496a6f69625756"
    "7a6332466e5a56397a64473977496e30"
    "3d227dba48ab22")


def decode_with_botocore(data):
    """Decodes frames with AWS's own parser: [(headers dict, payload bytes)]."""
    buf = botocore.eventstream.EventStreamBuffer()
    buf.add_data(data)
    return [(m.headers, m.payload) for m in buf]


def self_check():
    """Checks the encoder against the reference vectors and botocore's decoder, and the signer
    against protocols.md 3.5's worked example. Raises AssertionError on any disagreement."""
    got = encode_frame([("content-type", "application/json")], b"{'foo':'bar'}")
    assert got == VECTOR_ONE_STR_HEADER, f"payload_one_str_header vector: {got.hex()}"
    assert encode_frame([], b"") == VECTOR_EMPTY, "empty-message vector"
    got = chunk_frame({"type": "message_stop"})
    assert got == VECTOR_CHUNK, f"135-byte chunk vector: {got.hex()}"
    # A sample stream through botocore's EventStreamBuffer.
    events = [{"type": "message_start", "message": {"id": "msg_bdrk_x", "content": []}},
              {"type": "content_block_delta", "index": 0,
               "delta": {"type": "text_delta", "text": "h\u00e9llo \"x\" \u2603"}},
              {"type": "message_stop"}]
    data = b"".join(chunk_frame(e, padding_for(i)) for i, e in enumerate(events))
    data += exception_frame("throttlingException", {"message": "slow down"})
    data += error_frame("InternalFailure", "boom")
    decoded = decode_with_botocore(data)
    assert len(decoded) == 5, f"botocore decoded {len(decoded)} frames, want 5"
    for (headers, payload), event, i in zip(decoded, events, range(3)):
        assert headers == {":event-type": "chunk", ":content-type": "application/json",
                           ":message-type": "event"}, headers
        env = json.loads(payload)
        assert json.loads(base64.b64decode(env["bytes"])) == event
        assert env.get("p") == padding_for(i)
    assert decoded[3][0][":exception-type"] == "throttlingException"
    assert json.loads(decoded[3][1]) == {"message": "slow down"}
    assert decoded[4][0] == {":error-code": "InternalFailure", ":error-message": "boom",
                             ":message-type": "error"} and decoded[4][1] == b""
    try:
        decode_with_botocore(chunk_frame({"type": "ping"}, corrupt_crc=True))
        raise AssertionError("botocore accepted a frame with a bad CRC")
    except botocore.eventstream.ChecksumMismatch:
        pass
    # The signer at the worked example of protocols.md 3.5.
    body = (b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":16,'
            b'"messages":[{"role":"user","content":"hi"}]}')
    headers = [("content-type", "application/json"),
               ("host", "bedrock-runtime.us-east-1.amazonaws.com"),
               ("x-amz-content-sha256", hashlib.sha256(body).hexdigest()),
               ("x-amz-date", "20150830T123600Z")]
    signed, signature = botocore_sign(
        "POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/"
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0/invoke",
        headers, body, "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None,
        "us-east-1", "20150830T123600Z")
    assert signed == "content-type;host;x-amz-content-sha256;x-amz-date", signed
    want = "6ae062302c190074c78c430ea0a2ede07add63d96fec2489743fa51739653259"
    assert signature == want, signature


# ---------------------------------------------------------------------------------------------
# SigV4 verification with botocore.

_SIGN_LOCK = threading.Lock()


def botocore_sign(method, url, headers, body, access_key, secret_key, token, region, amz_date):
    """Signs with botocore.auth.SigV4Auth at the time amz_date (botocore.auth's clock is frozen
    there the way botocore's own tests do: botocore.auth.datetime patched). headers: (name,
    value) pairs, repeated names allowed. Returns (SignedHeaders, Signature) of botocore's
    Authorization header."""
    frozen = datetime.datetime.strptime(amz_date, SIGV4_FORMAT)

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return frozen

    request = botocore.awsrequest.AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        request.headers[name] = value  # email.message semantics: appends, keeps repeats
    auth = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(access_key, secret_key, token), "bedrock", region)
    shim = types.SimpleNamespace(datetime=FrozenDatetime, timedelta=datetime.timedelta,
                                 timezone=datetime.timezone)
    # The patch is process-wide: one signature at a time.
    with _SIGN_LOCK, mock.patch.object(botocore.auth, "datetime", shim):
        auth.add_auth(request)
    authorization = request.headers["Authorization"]
    fields = parse_authorization(authorization)
    if request.headers.get("X-Amz-Date") != amz_date:
        raise AssertionError("botocore signed at %s, not %s" % (request.headers.get("X-Amz-Date"),
                                                                amz_date))
    return fields["SignedHeaders"], fields["Signature"]


def parse_authorization(value):
    """'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...' -> dict."""
    algorithm, _, rest = value.strip().partition(" ")
    fields = {"algorithm": algorithm}
    for part in rest.split(","):
        key, sep, val = part.strip().partition("=")
        if sep:
            fields[key] = val
    return fields


def load_credentials(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise BedrockError(500, "InternalServerException",
                           f"fake_bedrock: cannot read the credentials file: {e}")
    return data.get("sigv4") or [], data.get("api_keys") or []


def fingerprint(secret):
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def authenticate(headers, method, raw_target, body, region, credentials_path, log):
    """Checks the request's credentials; fills log["auth"]; raises BedrockError on failure.
    headers: list of (lowercase name, value)."""
    sigv4_ids, api_keys = load_credentials(credentials_path)
    values = {}
    for name, value in headers:
        values.setdefault(name, []).append(value)
    authorization = values.get("authorization", [None])[0]
    auth = {"kind": "none", "signature_verified": False}
    log["auth"] = auth
    if authorization is None:
        raise BedrockError(403, "MissingAuthenticationTokenException",
                           "Missing Authentication Token")
    if authorization.startswith("Bearer "):
        key = authorization[len("Bearer "):].strip()
        auth.update(kind="bearer", bearer_fingerprint=fingerprint(key))
        if key not in api_keys:
            raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN,
                               "unknown Bedrock API key")
        auth["verified"] = True
        return
    fields = parse_authorization(authorization)
    auth.update(kind="sigv4", algorithm=fields.get("algorithm"))
    if fields["algorithm"] != "AWS4-HMAC-SHA256":
        raise BedrockError(403, "IncompleteSignatureException",
                           f"Unsupported authorization type: {fields['algorithm']}")
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in fields]
    if missing:
        raise BedrockError(403, "IncompleteSignatureException",
                           " ".join(f"Authorization header requires '{k}' parameter."
                                    for k in missing))
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        raise BedrockError(403, "IncompleteSignatureException",
                           f"Credential must have exactly 5 slash-delimited elements, e.g. "
                           f"keyid/date/region/service/term, got '{fields['Credential']}'")
    access_key, scope_date, scope_region, scope_service, _ = scope
    signed = fields["SignedHeaders"].split(";")
    auth.update(access_key_id=access_key, signed_headers=signed, scope=fields["Credential"])
    identity = next((i for i in sigv4_ids if i.get("access_key_id") == access_key), None)
    if identity is None:
        raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN,
                           "unknown access key id")
    if signed != sorted(signed) or any(h != h.lower() or not h for h in signed):
        raise BedrockError(403, "InvalidSignatureException", SIGNATURE_MISMATCH,
                           "SignedHeaders must be lowercase and sorted")
    for required in ("host", "x-amz-date"):
        if required not in signed:
            raise BedrockError(403, "IncompleteSignatureException",
                               f"'{required}' must be a 'SignedHeader' in the AWS Authorization.")
    for name in signed:
        if name not in values:
            raise BedrockError(403, "IncompleteSignatureException",
                               f"Signed header '{name}' is not present in the request.")
    amz_date = values["x-amz-date"][0]
    try:
        when = datetime.datetime.strptime(amz_date, SIGV4_FORMAT)
    except ValueError:
        raise BedrockError(403, "IncompleteSignatureException",
                           f"Date must be in ISO-8601 'basic format'. Got '{amz_date}'.")
    now = datetime.datetime.utcnow().replace(microsecond=0)
    if when < now - MAX_SKEW:
        raise BedrockError(403, "InvalidSignatureException",
                           f"Signature expired: {amz_date} is now earlier than "
                           f"{(now - MAX_SKEW).strftime(SIGV4_FORMAT)} "
                           f"({now.strftime(SIGV4_FORMAT)} - 5 min.)")
    if when > now + MAX_SKEW:
        raise BedrockError(403, "InvalidSignatureException",
                           f"Signature not yet current: {amz_date} is still later than "
                           f"{(now + MAX_SKEW).strftime(SIGV4_FORMAT)} "
                           f"({now.strftime(SIGV4_FORMAT)} + 5 min.)")
    if scope_date != amz_date[:8]:
        raise BedrockError(403, "InvalidSignatureException",
                           f"Date in Credential scope does not match YYYYMMDD from ISO-8601 "
                           f"version of date from HTTP: '{scope_date}' != '{amz_date[:8]}', "
                           f"from '{amz_date}'.")
    if scope_region != region:
        raise BedrockError(403, "InvalidSignatureException",
                           f"Credential should be scoped to a valid region, not '{scope_region}'. ")
    if scope_service != "bedrock":
        raise BedrockError(403, "InvalidSignatureException",
                           "Credential should be scoped to correct service: 'bedrock'. ")
    token = identity.get("session_token")
    sent_token = values.get("x-amz-security-token", [None])[0]
    auth["session_token_present"] = sent_token is not None
    if token:
        if sent_token is None:
            raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN,
                               "the identity has a session token; x-amz-security-token missing")
        if not hmac.compare_digest(sent_token.encode(), token.encode()):
            raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN,
                               "x-amz-security-token does not match")
        if "x-amz-security-token" not in signed:
            raise BedrockError(403, "IncompleteSignatureException",
                               "'x-amz-security-token' must be a 'SignedHeader' in the AWS "
                               "Authorization.")
    elif sent_token is not None:
        raise BedrockError(403, "UnrecognizedClientException", INVALID_TOKEN,
                           "x-amz-security-token sent for an identity without a session token")
    if identity.get("expired"):
        raise BedrockError(403, "ExpiredTokenException", EXPIRED_TOKEN, "identity marked expired")
    if "x-amz-content-sha256" in values:
        if "x-amz-content-sha256" not in signed:
            raise BedrockError(403, "IncompleteSignatureException",
                               "'x-amz-content-sha256' must be a 'SignedHeader' when it is sent.")
        if values["x-amz-content-sha256"][0] != hashlib.sha256(body).hexdigest():
            raise BedrockError(403, "InvalidSignatureException",
                               "The provided 'x-amz-content-sha256' header does not match what "
                               "was computed.", "x-amz-content-sha256 != SHA-256 of the body")
    # Recompute with botocore: the URL exactly as received, only the signed headers, the body.
    host = values["host"][0]
    signed_pairs = [(n, v) for n, v in headers if n in signed]
    try:
        botocore_signed, expected = botocore_sign(
            method, f"http://{host}{raw_target}", signed_pairs, body, access_key,
            identity.get("secret_access_key", ""), token or None, region, amz_date)
    except AssertionError as e:
        raise BedrockError(403, "InvalidSignatureException", SIGNATURE_MISMATCH,
                           f"fake_bedrock cannot reproduce this signature with botocore: {e}")
    auth["botocore_signed_headers"] = botocore_signed.split(";")
    if botocore_signed != fields["SignedHeaders"]:
        # E.g. user-agent or expect signed (botocore never signs them) or a Date header.
        raise BedrockError(403, "InvalidSignatureException", SIGNATURE_MISMATCH,
                           f"botocore signs SignedHeaders={botocore_signed}, the request "
                           f"SignedHeaders={fields['SignedHeaders']}")
    if not hmac.compare_digest(expected, fields["Signature"]):
        raise BedrockError(403, "InvalidSignatureException", SIGNATURE_MISMATCH,
                           "signature mismatch")
    auth["signature_verified"] = True
    auth["verified"] = True


# ---------------------------------------------------------------------------------------------
# Body validation (protocols.md 3.3 and the Messages API rules Bedrock applies).

def validate_invoke_body(body, config, require_max_tokens, log):
    """body: decoded JSON value. Raises BedrockError (400) like Bedrock does."""
    if not isinstance(body, dict):
        raise malformed("#: expected type: JSONObject, found: "
                        + ("null" if body is None else type(body).__name__))
    if "anthropic_version" not in body:
        raise malformed("#: required key [anthropic_version] not found")
    extraneous = [k for k in body if k not in ALLOWED_TOP_LEVEL]
    if extraneous:
        log["extraneous_keys"] = extraneous
        raise malformed(", ".join(f"#: extraneous key [{k}] is not permitted" for k in extraneous))
    if body["anthropic_version"] != ANTHROPIC_VERSION:
        raise malformed(f"#/anthropic_version: {body['anthropic_version']!r} is not a valid "
                        f"value, expected [{ANTHROPIC_VERSION}]")
    betas = body.get("anthropic_beta")
    if betas is not None:
        if not isinstance(betas, list) or not all(isinstance(b, str) for b in betas):
            raise malformed("#/anthropic_beta: expected type: JSONArray of strings")
        rejected = [b for b in betas if b not in config.accepted_betas]
        if rejected:
            log["rejected_betas"] = rejected
            raise validation("invalid beta flag", f"not accepted: {rejected}")
    if require_max_tokens or "max_tokens" in body:
        anthropic_script.check_max_tokens(
            body, validation, malformed("#: required key [max_tokens] not found"))
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise malformed("#: required key [messages] not found" if messages is None
                        else "#/messages: expected type: JSONArray")
    if not messages:
        raise validation("messages: at least one message is required")
    anthropic_script.check_thinking(body, validation)
    anthropic_script.check_metadata(body, validation)
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise validation("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            if isinstance(tool, dict) and "custom" in tool:
                raise validation(f"tools.{i}.custom: Extra inputs are not permitted")
    cm = body.get("context_management")
    if cm is not None:
        edits = cm.get("edits", []) if isinstance(cm, dict) else None
        if not isinstance(edits, list):
            raise validation("context_management.edits: Input should be a valid list")
        for i, edit in enumerate(edits):
            kind = edit.get("type") if isinstance(edit, dict) else None
            if kind not in ACCEPTED_CONTEXT_EDITS:
                raise validation(
                    f"context_management.edits.{i}: Input tag '{kind}' found using 'type' does not "
                    f"match any of the expected tags: "
                    + ", ".join(f"'{t}'" for t in sorted(ACCEPTED_CONTEXT_EDITS)))
    anthropic_script.check_cache_control(
        {k: body[k] for k in ("system", "messages", "tools") if k in body}, "", validation)
    anthropic_script.check_history(messages, validation, THINKING_SIGNATURE,
                                   config.allow_system_messages)


# ---------------------------------------------------------------------------------------------
# Server state and the request handler.

class Config:
    def __init__(self, args):
        self.region = args.region
        self.credentials = args.credentials
        self.accepted_betas = set(args.accepted_betas.split(",") if args.accepted_betas is not None
                                  else DEFAULT_ACCEPTED_BETAS)
        self.accepted_betas.update(args.accept_beta or [])
        self.accepted_betas.discard("")
        self.model_patterns = [re.compile(p)
                               for p in (args.model_pattern or DEFAULT_MODEL_PATTERNS)]
        self.allow_system_messages = args.allow_system_messages
        self.allow_query = args.allow_query
        self.frame_delay = args.frame_delay_ms / 1000.0
        self.slow_delay = 0.2
        self.hang = args.hang_ms / 1000.0
        self.verbose = args.verbose


ROUTE = re.compile(r"^/model/([^/]+)/(invoke|invoke-with-response-stream|count-tokens)$")
OPERATIONS = {"invoke": "InvokeModel",
              "invoke-with-response-stream": "InvokeModelWithResponseStream",
              "count-tokens": "CountTokens"}


class Handler(anthropic_fake.FakeHTTPHandler):
    NAME = "fake_bedrock"
    body_limit = BODY_LIMIT

    # -- writing ------------------------------------------------------------------------------

    def common_headers(self, request_id):
        self.send_header("x-amzn-RequestId", request_id)

    def send_json(self, status, obj, request_id, extra=()):
        data = json.dumps(obj, separators=(",", ":")).encode("utf-8")
        self.send_response(status, REASONS.get(status))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.common_headers(request_id)
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def send_aws_error(self, err, request_id):
        self.send_json(err.status, {"message": err.message}, request_id,
                       [("x-amzn-ErrorType", err.name + CORAL)])

    # -- the request ----------------------------------------------------------------------------

    def handle_request(self):
        started = time.monotonic()
        request_id = str(uuid.uuid4())
        raw_target = self.path
        path, _, query = raw_target.partition("?")
        headers = [(k.lower(), v) for k, v in self.headers.items()]
        log = {"seq": self.state.next_seq(),
               "time": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
               "request_id": request_id, "method": self.command, "path": path,
               "query": query or None, "target": raw_target, "model_id": None,
               "operation": None, "headers": {}, "auth": {"kind": "none"},
               "signed_headers": None, "signature_verified": False,
               "body_bytes": 0, "body_sha256": None, "body": None, "invoke_body": None,
               "anthropic_beta": None, "behaviour": None, "fault": None, "status": None,
               "error_type": None, "error_message": None, "error_detail": None, "stream": None}
        for name, value in headers:
            log["headers"][name] = (log["headers"][name] + ", " + value
                                    if name in log["headers"] else value)
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        except anthropic_fake.BodyTooLarge:
            err = BedrockError(400, "ValidationException", "Input is too long.")
            log.update(status=err.status, error_type=err.name, error_message=err.message)
            self.state.write_log(log)
            self.send_aws_error(err, request_id)
            return
        log["body_bytes"] = len(body)
        log["body_sha256"] = hashlib.sha256(body).hexdigest()
        try:
            if path.startswith("/__fake/"):
                self.control(path, query, log, request_id)
                return
            self.serve(path, query, raw_target, headers, body, log, request_id, started)
        except BedrockError as err:
            log.update(status=err.status, error_type=err.name, error_message=err.message,
                       error_detail=err.detail)
            self.state.write_log(log)
            self.send_aws_error(err, request_id)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a bug in the fake: say so instead of hanging up
            traceback.print_exc()
            err = BedrockError(500, "InternalServerException", f"fake_bedrock bug: {e!r}")
            log.update(status=500, error_type=err.name, error_message=err.message)
            self.state.write_log(log)
            self.close_connection = True
            try:
                self.send_aws_error(err, request_id)
            except OSError:
                pass

    def control(self, path, query, log, request_id):
        log["operation"] = "Control"
        try:
            pending = self.control_command(path, query)
        except anthropic_fake.ControlError as e:
            name, message = CONTROL_ERRORS[e.status]
            raise BedrockError(e.status, name, message or e.message)
        log["status"] = 200
        self.state.write_log(log)
        self.send_json(200, {"ok": True, "pending_failures": pending}, request_id)

    def serve(self, path, query, raw_target, headers, body, log, request_id, started):
        config = self.config
        match = ROUTE.match(path)
        if match is not None:  # logged even when the request then fails
            log.update(model_id=unquote(match.group(1)), operation=OPERATIONS[match.group(2)])
        try:
            decoded = json.loads(body.decode("utf-8")) if body else None
            body_error = None
        except (UnicodeDecodeError, ValueError) as e:
            decoded, body_error = None, e
        log["body"] = decoded
        try:
            authenticate(headers, self.command, raw_target, body, config.region,
                         config.credentials, log)
        finally:
            log["signed_headers"] = log["auth"].get("signed_headers")
            log["signature_verified"] = log["auth"].get("signature_verified", False)
        if match is None or self.command != "POST":
            raise BedrockError(404, "UnknownOperationException", "Unknown operation",
                               f"no operation for {self.command} {path}")
        model_id = log["model_id"]
        operation = log["operation"]
        if query and not config.allow_query:
            raise validation(f"fake_bedrock: unexpected query string '{query}' (Bedrock Runtime "
                             f"operations take no query parameters)")
        if len(model_id) > 2048 or not any(p.search(model_id) for p in config.model_patterns):
            raise validation("The provided model identifier is invalid.")
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0]
        if content_type.strip().lower() != "application/json":
            raise validation(f"fake_bedrock: Content-Type must be application/json, "
                             f"got '{content_type}'")
        if body_error is not None:
            raise malformed(f"#: body is not valid JSON ({body_error.__class__.__name__})")
        if operation == "CountTokens":
            invoke_body_bytes, invoke_body = self.count_tokens_input(decoded, log)
        else:
            invoke_body_bytes, invoke_body = body, decoded
        if isinstance(invoke_body, dict):
            log["anthropic_beta"] = invoke_body.get("anthropic_beta")
        if operation != "CountTokens" or invoke_body is not None:  # converse input: not checked
            validate_invoke_body(invoke_body, config, operation != "CountTokens", log)
        failure = self.state.take_failure()
        if failure is not None:
            log["fault"] = "fail-next"
            status, name, message = failure
            name = name or STATUS_EXCEPTIONS.get(status, "InternalServerException")
            raise BedrockError(status, name,
                               message or f"fake_bedrock: injected failure {status} {name}")
        if "hang" in model_id:
            log["fault"] = "hang"
            time.sleep(config.hang)
        for needle, status, name, message in HTTP_FAULTS:
            if needle in model_id:
                log["fault"] = needle
                raise BedrockError(status, name, message)
        input_tokens = max(1, len(invoke_body_bytes) // 4)
        if operation == "CountTokens":
            log["status"] = 200
            self.state.write_log(log)
            self.send_json(200, {"inputTokens": len(invoke_body_bytes) // 4}, request_id)
            return
        behaviour, content, stop_reason = SCRIPT.plan_answer(invoke_body)
        log["behaviour"] = behaviour
        if operation == "InvokeModel":
            message = SCRIPT.message(model_id, content, stop_reason, input_tokens)
            out_tokens = message["usage"]["output_tokens"]
            log["status"] = 200
            self.state.write_log(log)
            latency = int((time.monotonic() - started) * 1000)
            self.send_json(200, message, request_id, [
                ("X-Amzn-Bedrock-Input-Token-Count", str(input_tokens)),
                ("X-Amzn-Bedrock-Output-Token-Count", str(out_tokens)),
                ("X-Amzn-Bedrock-Invocation-Latency", str(latency))])
            return
        self.stream(model_id, content, stop_reason, input_tokens, log, request_id, started)

    def count_tokens_input(self, decoded, log):
        """CountTokens body -> (inner InvokeModel body bytes, decoded inner body or None)."""
        if not isinstance(decoded, dict) or not isinstance(decoded.get("input"), dict):
            raise validation("1 validation error detected: Value null at 'input' failed to "
                             "satisfy constraint: Member must not be null")
        extra = [k for k in decoded if k != "input"]
        if extra:
            raise validation(f"fake_bedrock: unexpected CountTokens member(s) {extra}")
        members = decoded["input"]
        if len(members) != 1 or next(iter(members)) not in ("invokeModel", "converse"):
            raise validation("CountTokens input must set exactly one of invokeModel, converse")
        if "converse" in members:
            raw = json.dumps(members["converse"]).encode("utf-8")
            return raw, None
        inner = members["invokeModel"]
        if not isinstance(inner, dict) or not isinstance(inner.get("body"), str) or \
                [k for k in inner if k != "body"]:
            raise validation("input.invokeModel must be {\"body\": <base64 blob>}")
        try:
            raw = base64.b64decode(inner["body"], validate=True)
            invoke_body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise malformed(f"input.invokeModel.body is not base64 of a JSON object "
                            f"({e.__class__.__name__})")
        log["invoke_body"] = invoke_body
        return raw, invoke_body

    def stream(self, model_id, content, stop_reason, input_tokens, log, request_id, started):
        config = self.config
        fault = next((f for f in STREAM_FAULTS if f in model_id), None)
        delay = config.slow_delay if "slow" in model_id else config.frame_delay
        events = SCRIPT.stream_events(model_id, content, stop_reason, input_tokens)
        out_tokens = events[-1]["usage"]["output_tokens"]
        if fault is not None:
            events = events[:3]  # message_start, content_block_start, one delta
            log["fault"] = fault
        outcome = {None: "complete", "stream-stall": "complete"}.get(fault, fault)
        log["status"] = 200
        log["stream"] = {"frame_delay_ms": int(delay * 1000), "outcome": outcome,
                         "events": [e["type"] for e in events]
                         + ([] if fault not in (None, "stream-stall") else ["message_stop"])}
        self.state.write_log(log)

        self.send_response(200, "OK")
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-Bedrock-Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.common_headers(request_id)
        self.end_headers()
        self.wfile.flush()
        first_byte = None
        index = 0

        def send(frame):
            nonlocal first_byte, index
            if index > 0 and delay > 0:
                time.sleep(delay)
            self.write_chunk(frame)
            if first_byte is None:
                first_byte = int((time.monotonic() - started) * 1000)
            index += 1

        for event in events:
            send(chunk_frame(event, padding_for(index)))
        if fault == "stream-stall":
            time.sleep(config.hang)
            for event in SCRIPT.stream_events(model_id, content, stop_reason, input_tokens)[3:]:
                send(chunk_frame(event, padding_for(index)))
        if fault in (None, "stream-stall"):
            stop = {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": input_tokens, "outputTokenCount": out_tokens,
                "invocationLatency": int((time.monotonic() - started) * 1000),
                "firstByteLatency": first_byte or 0}}
            send(chunk_frame(stop, padding_for(index)))
        elif fault == "stream-exception":
            send(exception_frame("modelStreamErrorException", {
                "message": "The model encountered an error while streaming its response.",
                "originalStatusCode": 500, "originalMessage": "fake_bedrock stream failure"}))
        elif fault == "stream-exception-throttling":
            send(exception_frame("throttlingException", {
                "message": "Too many requests, please wait before trying again."}))
        elif fault == "stream-error":
            send(error_frame("InternalFailure", "fake_bedrock: unmodelled stream error"))
        elif fault == "stream-bad-crc":
            send(chunk_frame({"type": "content_block_delta", "index": 0,
                              "delta": {"type": "text_delta", "text": "corrupt"}},
                             corrupt_crc=True))
        elif fault == "stream-cut":
            frame = chunk_frame({"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "cut here"}})
            if delay > 0:
                time.sleep(delay)
            # The chunk announces the whole frame; half of it is sent, then the connection dies.
            self.wfile.write(b"%x\r\n" % len(frame) + frame[:len(frame) // 2])
            self.wfile.flush()
            self.drop_connection()
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Strict fake of the AWS Bedrock Runtime InvokeModel API.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=BEHAVIOUR)
    parser.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT (default 127.0.0.1:0)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--credentials",
                        help="JSON file of accepted identities (re-read per request)")
    parser.add_argument("--request-log", help="append one JSON line per request")
    parser.add_argument("--port-file", help="write the chosen port here")
    parser.add_argument("--accepted-betas", help="comma list replacing the default accepted betas")
    parser.add_argument("--accept-beta", action="append", help="accept one more beta (repeatable)")
    parser.add_argument("--model-pattern", action="append",
                        help="regex (re.search) a model id must match; repeatable; replaces the "
                             "default (contains 'anthropic.claude' or is an inference-profile ARN)")
    parser.add_argument("--allow-system-messages", action="store_true",
                        help="accept role 'system' inside messages (default: 400)")
    parser.add_argument("--allow-query", action="store_true",
                        help="accept a query string on the model routes (default: 400)")
    parser.add_argument("--frame-delay-ms", type=int, default=0, help="delay between stream frames")
    parser.add_argument("--hang-ms", type=int, default=30000,
                        help="how long 'hang' and 'stream-stall' models wait (default 30000)")
    parser.add_argument("--self-check", action="store_true", help="run the self-checks and exit")
    parser.add_argument("--verbose", action="store_true", help="access log on stderr")
    args = parser.parse_args(argv)
    if not args.self_check and not args.credentials:
        parser.error("--credentials is required")
    return args


def main(argv):
    args = parse_args(argv)
    try:
        self_check()
    except Exception as e:  # noqa: BLE001 - any disagreement is fatal
        print(f"fake_bedrock: self-check failed: {e!r}", file=sys.stderr)
        return 1
    if args.self_check:
        print("fake_bedrock: self-check ok")
        return 0
    Handler.config = Config(args)
    Handler.state = anthropic_fake.State(args.request_log)
    return anthropic_fake.listen_and_serve(Handler, args.listen, args.port_file)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
