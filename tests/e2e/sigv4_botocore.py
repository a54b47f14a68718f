"""Randomized SigV4 cross-check against botocore, for sigv4_botocore_test.sh.

  generate COUNT SEED CASES EXPECTED
      Writes COUNT random Bedrock-like request descriptions (ccr_sigv4_sign's input, one JSON per
      line) to CASES, and botocore's signature of each (authorization, canonical request, string
      to sign, x-amz-date, security token) to EXPECTED.
  compare CASES EXPECTED ACTUAL
      Compares ccr_sigv4_sign --steps output with EXPECTED; prints the first difference.

Run it with Debian's python3 (python3-botocore, 1.29): botocore.auth.SigV4Auth signs exactly as
the AWS CLI and boto3 do. Its clock is frozen per request by replacing the `datetime` module that
botocore.auth sees.
"""

import base64
import datetime
import difflib
import hashlib
import json
import random
import re
import sys
import types
from urllib.parse import quote

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials


class _FrozenDatetime(datetime.datetime):
    frozen = datetime.datetime(2015, 8, 30, 12, 36, 0)  # naive UTC

    @classmethod
    def utcnow(cls):
        return cls.frozen

    @classmethod
    def now(cls, tz=None):
        if tz is None:
            return cls.frozen
        return cls.frozen.replace(tzinfo=datetime.timezone.utc).astimezone(tz)


botocore.auth.datetime = types.SimpleNamespace(
    datetime=_FrozenDatetime, timezone=datetime.timezone, timedelta=datetime.timedelta)

REGIONS = ["us-east-1", "us-east-2", "us-west-2", "eu-west-1", "eu-central-1", "eu-north-1",
           "ap-northeast-1", "ap-southeast-2", "ca-central-1", "us-gov-west-1"]
MODELS = ["anthropic.claude-3-5-sonnet-20241022-v2:0", "anthropic.claude-opus-4-1-20250805-v1:0",
          "us.anthropic.claude-haiku-4-5-20251001-v1:0", "global.anthropic.claude-sonnet-4-6",
          "eu.anthropic.claude-3-7-sonnet-20250219-v1:0", "us.anthropic.claude-opus-4-8",
          "apac.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-3-haiku-20240307-v1:0"]
# Characters for the odd ids, paths and query strings: reserved and unreserved ASCII, a space,
# '%' (literal on the wire, so encoded twice), and non-ASCII text.
ODD_CHARS = ("abcXYZ019-_.~!$&'()*+,;=:@ %" + "é中文🙂ß" + "/")
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
# Whitespace in header values: botocore collapses runs of str.split()'s whitespace; the wire
# allows spaces and tabs in a value.
VALUE_CHARS = "abcdefXYZ0123456789-_.;,=/\"'()<>@?{}[]:+*&^%$#!~`|\\ \t  é"


def rand_str(r, alphabet, lo, hi):
    return "".join(r.choice(alphabet) for _ in range(r.randint(lo, hi)))


def model_id(r, region):
    account = "".join(r.choice("0123456789") for _ in range(12))
    k = r.random()
    if k < 0.35:
        return r.choice(MODELS)
    if k < 0.55:
        return f"arn:aws:bedrock:{region}:{account}:inference-profile/{r.choice(MODELS)}"
    if k < 0.7:
        return (f"arn:aws:bedrock:{region}:{account}:application-inference-profile/"
                + rand_str(r, "abcdefghijklmnopqrstuvwxyz0123456789", 12, 12))
    if k < 0.8:
        return f"arn:aws:bedrock:{region}::foundation-model/{r.choice(MODELS)}"
    if k < 0.88:
        return (f"arn:aws:bedrock:{region}:{account}:provisioned-model/"
                + rand_str(r, "abcdefghijklmnopqrstuvwxyz0123456789", 12, 12))
    return rand_str(r, ODD_CHARS, 1, 40)


def wire_path(r, region):
    k = r.random()
    if k < 0.85:
        model = model_id(r, region)
        # What the SDKs send: Python quote(model, safe=":"), TS keeps RFC 3986 pchar.
        safe = r.choice([":", ":", ":@!$&'()*+,;="])
        op = r.choice(["invoke", "invoke-with-response-stream", "count-tokens"])
        return f"/model/{quote(model, safe=safe)}/{op}"
    if k < 0.95:
        # Dot segments, empty segments, trailing slashes.
        parts = [r.choice(["a", "b", ".", "..", "", "model", "x%2Fy", "v1:0", "é"])
                 for _ in range(r.randint(1, 7))]
        return "/" + "/".join(parts) + r.choice(["", "/"])
    # Raw bytes the wire would carry unencoded only from a lax client (spaces, non-ASCII).
    return "/" + rand_str(r, ODD_CHARS.replace("%", ""), 0, 30)


def lower_hex(s):
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), s)


def query(r):
    """(wire query, botocore params): the params as decoded values, the wire as a client might
    encode them (some reserved characters left raw, hex in either case, '=' omitted when the
    value is empty)."""
    if r.random() < 0.65:
        return "", []
    params = []
    for _ in range(r.randint(1, 6)):
        if params and r.random() < 0.2:
            name = r.choice(params)[0]  # a repeated name
        else:
            name = rand_str(r, ODD_CHARS, 1, 12)
        value = "" if r.random() < 0.15 else rand_str(r, ODD_CHARS, 1, 20)
        params.append((name, value))
    wire = []
    for name, value in params:
        safe_name = r.choice(["", "-_.~", "!$'()*,;:@/?"])
        safe_value = r.choice(["", "-_.~", "!$'()*,;:@/?=+"])
        n = quote(name, safe=safe_name)
        v = quote(value, safe=safe_value)
        if r.random() < 0.3:
            n, v = lower_hex(n), lower_hex(v)
        wire.append(n if value == "" and r.random() < 0.5 else f"{n}={v}")
    return "&".join(wire), params


def body(r):
    k = r.random()
    if k < 0.1:
        return b""
    if k < 0.7:
        text = rand_str(r, "hello wörld 你好 🙂 \n\t\"\\", 0, 200)
        return json.dumps({"anthropic_version": "bedrock-2023-05-31",
                           "max_tokens": r.randint(1, 64000),
                           "messages": [{"role": "user", "content": text}]},
                          ensure_ascii=r.random() < 0.5).encode("utf-8")
    if k < 0.97:
        return r.randbytes(r.randint(1, 70000))
    return r.randbytes(r.randint(1 << 20, 3 << 20))


def header_value(r):
    return rand_str(r, VALUE_CHARS, 0, 40)


def random_case(r, name):
    return "".join(c.upper() if r.random() < 0.5 else c.lower() for c in name)


def headers(r, host):
    hs = [("Host", host), ("Content-Type", "application/json")]
    optional = [("X-Amzn-Bedrock-Trace", lambda: r.choice(["ENABLED", "DISABLED"])),
                ("Accept", lambda: "application/json"),
                ("X-Amzn-Bedrock-Accept", lambda: "*/*"),
                ("X-Amzn-Bedrock-GuardrailIdentifier", lambda: rand_str(r, BASE32, 12, 12)),
                ("X-Amzn-Bedrock-GuardrailVersion", lambda: r.choice(["1", "DRAFT"])),
                ("X-Amzn-Bedrock-Service-Tier", lambda: r.choice(["default", "flex"])),
                ("anthropic-version", lambda: "bedrock-2023-05-31"),
                ("X-Custom", lambda: header_value(r)),
                ("x-custom-2", lambda: header_value(r))]
    for name, make in optional:
        if r.random() < 0.3:
            for _ in range(r.choice([1, 1, 1, 2, 3])):  # sometimes repeated
                hs.append((name, make()))
    r.shuffle(hs)
    return [(random_case(r, n) if r.random() < 0.3 else n, v) for n, v in hs]


def credential(r):
    access_key = "AKIA" + rand_str(r, BASE32, 16, 16)
    # AWS secrets are 40 characters; a longer one makes "AWS4" + secret exceed the HMAC block.
    secret = rand_str(r, B64, 40, 40) if r.random() < 0.8 else rand_str(r, B64, 61, 90)
    token = ""
    if r.random() < 0.4:
        token = rand_str(r, B64, 100, 800) + r.choice(["", "=", "=="])
    return access_key, secret, token


def unix_time(r):
    k = r.random()
    if k < 0.2:
        # Around midnight UTC, where the date stamp changes.
        day = r.randint(10957, 25567) * 86400
        return day + r.choice([-1, 0, 1, 86399])
    return r.randint(946684800, 2208988799)  # 2000 .. 2039


def botocore_sign(case, body_bytes):
    _FrozenDatetime.frozen = (datetime.datetime(1970, 1, 1)
                              + datetime.timedelta(seconds=case["unix_seconds"]))
    host = [v for n, v in case["headers"] if n.lower() == "host"][0]
    req = AWSRequest(method=case["method"], url=f"https://{host}{case['path']}", data=body_bytes)
    if case["_params"]:
        req.params = case["_params"]
    for name, value in case["headers"]:
        req.headers[name] = value  # HTTPHeaders appends: a repeated name keeps every value
    if case["content_sha256"]:
        req.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body_bytes).hexdigest()
    creds = Credentials(case["access_key_id"], case["secret_access_key"],
                        case["session_token"] or None)
    auth = botocore.auth.SigV4Auth(creds, case["service"], case["region"])
    auth.add_auth(req)
    authorization = req.headers["Authorization"]
    # The intermediate steps, for the report (without Authorization, now among the headers).
    del req.headers["Authorization"]
    canonical = auth.canonical_request(req)
    return {"authorization": authorization,
            "canonical_request": canonical,
            "string_to_sign": auth.string_to_sign(req, canonical),
            "x_amz_date": req.headers["X-Amz-Date"],
            "security_token": req.headers.get("X-Amz-Security-Token", "")}


def generate(count, seed, cases_path, expected_path):
    r = random.Random(seed)
    # A small pool of credentials and times, reused, so that the signer's key cache hits and
    # misses in turn (the tool signs every case on one thread).
    pool_creds = [credential(r) for _ in range(3)]
    pool_times = [unix_time(r) for _ in range(3)]
    with open(cases_path, "w") as cases, open(expected_path, "w") as expected:
        for _ in range(count):
            region = r.choice(REGIONS)
            service = "bedrock" if r.random() < 0.85 else r.choice(
                ["service", "bedrock-runtime", "execute-api", "sts"])
            host = r.choice([f"bedrock-runtime.{region}.amazonaws.com",
                             f"bedrock-runtime-fips.{region}.amazonaws.com",
                             f"bedrock-runtime.{region}.amazonaws.com:443",
                             "vpce-0123.bedrock-runtime.example.internal"])
            access_key, secret, token = (r.choice(pool_creds) if r.random() < 0.6
                                         else credential(r))
            wire_query, params = query(r)
            b = body(r)
            case = {"method": r.choice(["POST"] * 8 + ["GET", "PUT", "DELETE"]),
                    "path": wire_path(r, region),
                    "query": wire_query,
                    "headers": headers(r, host),
                    "region": region,
                    "service": service,
                    "unix_seconds": r.choice(pool_times) if r.random() < 0.5 else unix_time(r),
                    "access_key_id": access_key,
                    "secret_access_key": secret,
                    "session_token": token,
                    "content_sha256": r.random() < 0.7,
                    "_params": params}
            want = botocore_sign(case, b)
            del case["_params"]
            if r.random() < 0.5:
                case["body_b64"] = base64.b64encode(b).decode("ascii")
            else:
                try:
                    case["body"] = b.decode("utf-8")
                except UnicodeDecodeError:
                    case["body_b64"] = base64.b64encode(b).decode("ascii")
            cases.write(json.dumps(case) + "\n")
            expected.write(json.dumps(want) + "\n")


def describe(case):
    shown = dict(case)
    for key in ("body", "body_b64"):
        if key in shown and len(shown[key]) > 200:
            shown[key] = shown[key][:200] + f"... ({len(case[key])} chars)"
    shown["secret_access_key"] = "<redacted>"
    return "\n".join(f"  {k}: {json.dumps(v, ensure_ascii=False)}" for k, v in shown.items())


def compare(cases_path, expected_path, actual_path):
    with open(cases_path) as f:
        cases = [json.loads(line) for line in f]
    with open(expected_path) as f:
        expected = [json.loads(line) for line in f]
    with open(actual_path) as f:
        actual_lines = f.read().splitlines()
    if len(actual_lines) != len(expected):
        print(f"ccr_sigv4_sign printed {len(actual_lines)} lines for {len(expected)} requests")
        return 1
    for i, (case, want, line) in enumerate(zip(cases, expected, actual_lines)):
        try:
            got = json.loads(line)
        except ValueError:
            print(f"request {i}: ccr_sigv4_sign printed {line[:300]!r}")
            print(describe(case))
            return 1
        head_want = f"X-Amz-Date: {want['x_amz_date']}\r\n"
        if want["security_token"]:
            head_want += f"X-Amz-Security-Token: {want['security_token']}\r\n"
        if got["authorization"] == want["authorization"] and got["head"].startswith(head_want):
            continue
        print(f"request {i} differs from botocore:")
        print(describe(case))
        print(f"  botocore:       {want['authorization']}")
        print(f"  ccr_sigv4_sign: {got['authorization']}")
        for step in ("canonical_request", "string_to_sign"):
            if got[step] != want[step]:
                print(f"--- {step} (botocore / ccr_sigv4_sign):")
                sys.stdout.writelines(difflib.unified_diff(
                    want[step].splitlines(True), got[step].splitlines(True),
                    "botocore", "ccr_sigv4_sign"))
                print()
        if not got["head"].startswith(head_want):
            print(f"--- head: expected to start with {head_want!r}, got {got['head'][:400]!r}")
        return 1
    print(f"{len(expected)} signatures match botocore")
    return 0


def main(argv):
    if len(argv) == 6 and argv[1] == "generate":
        generate(int(argv[2]), int(argv[3]), argv[4], argv[5])
        return 0
    if len(argv) == 5 and argv[1] == "compare":
        return compare(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
