"""Cross-checks the relay's AWS event-stream decoder against botocore.

Run by eventstream_botocore_test.sh with Debian's python3 (python3-botocore). An encoder of its
own builds frames (random header sets of every type, random payloads from empty to ~1.3 MB);
botocore.eventstream.EventStreamBuffer must decode each as built, and so must the relay's
decoder (tests/tools/ccr_eventstream_decode, one JSON line per message) for the whole stream.
Corrupted frames (prelude CRC, message CRC, a length, a payload byte) must be rejected by both.

Usage: eventstream_botocore.py --tool PATH --case random|corrupt|vectors [--seed N] [--frames N]
Prints one line per check; exits non-zero at the first mismatch.
"""

import argparse
import base64
import json
import random
import struct
import subprocess
import sys
import zlib

from botocore.eventstream import ChecksumMismatch, EventStreamBuffer, ParserError

BOOL_TRUE, BOOL_FALSE, BYTE, SHORT, INTEGER, LONG, BYTES, STRING, TIMESTAMP, UUID = range(10)


def crc32(data, crc=0):
    return zlib.crc32(data, crc) & 0xFFFFFFFF


def encode_header(name, kind, value):
    raw_name = name.encode("utf-8")
    assert len(raw_name) < 256
    out = bytes([len(raw_name)]) + raw_name + bytes([kind])
    if kind in (BOOL_TRUE, BOOL_FALSE):
        return out
    if kind == BYTE:
        return out + struct.pack(">b", value)
    if kind == SHORT:
        return out + struct.pack(">h", value)
    if kind == INTEGER:
        return out + struct.pack(">i", value)
    if kind in (LONG, TIMESTAMP):
        return out + struct.pack(">q", value)
    if kind == BYTES:
        return out + struct.pack(">H", len(value)) + value
    if kind == STRING:
        raw = value.encode("utf-8")
        return out + struct.pack(">H", len(raw)) + raw
    if kind == UUID:
        assert len(value) == 16
        return out + value
    raise ValueError(kind)


def encode_frame(headers, payload):
    block = b"".join(encode_header(n, k, v) for n, k, v in headers)
    prelude = struct.pack(">II", 16 + len(block) + len(payload), len(block))
    prelude += struct.pack(">I", crc32(prelude))
    body = prelude + block + payload
    return body + struct.pack(">I", crc32(body))


def random_text(rng, max_len):
    alphabet = "abcdefghijklmnopqrstuvwxyz-:._/ ABCXYZ0123456789\"\\\n\t\u00e9\u4e2d\U0001f600"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))


def random_header_value(rng, kind):
    if kind == BOOL_TRUE:
        return True
    if kind == BOOL_FALSE:
        return False
    if kind == BYTE:
        return rng.randint(-128, 127)
    if kind == SHORT:
        return rng.choice([-32768, 32767, rng.randint(-32768, 32767)])
    if kind == INTEGER:
        return rng.choice([-(2**31), 2**31 - 1, rng.randint(-(2**31), 2**31 - 1)])
    if kind in (LONG, TIMESTAMP):
        return rng.choice([-(2**63), 2**63 - 1, 1700000000123, rng.randint(-(2**63), 2**63 - 1)])
    if kind == BYTES:
        size = rng.choice([0, 1, rng.randint(0, 64), rng.randint(0, 4000)])
        return rng.randbytes(size)
    if kind == STRING:
        return random_text(rng, rng.choice([0, 8, 200]))
    if kind == UUID:
        return rng.randbytes(16)
    raise ValueError(kind)


def random_headers(rng):
    headers = []
    names = set()
    for _ in range(rng.randint(0, 9)):
        name = random_text(rng, 40)
        while name in names or len(name.encode("utf-8")) > 255:
            name = random_text(rng, 40)
        names.add(name)
        kind = rng.randint(0, 9)
        headers.append((name, kind, random_header_value(rng, kind)))
    return headers


def random_payload(rng, index):
    if index % 150 == 7:
        return rng.randbytes(rng.randint(1_000_000, 1_400_000))  # a PayloadPart's base64 size
    return rng.randbytes(rng.choice([0, 0, 1, rng.randint(0, 100), rng.randint(0, 5000)]))


def expected_line(headers, payload):
    """What ccr_eventstream_decode prints for a message."""
    out = []
    for name, kind, value in headers:
        if kind in (BYTES, UUID):
            value = base64.b64encode(value).decode("ascii")
        out.append({"name": name, "type": kind, "value": value})
    return {"headers": out, "payload": base64.b64encode(payload).decode("ascii")}


def run_tool(tool, data, piece=None):
    cmd = [tool] + (["--piece", str(piece)] if piece else [])
    proc = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          check=False)
    try:
        lines = [json.loads(l) for l in proc.stdout.decode("utf-8").splitlines() if l]
    except ValueError as e:
        fail(f"{tool} printed something that is not JSON lines ({e}): {proc.stdout[:200]!r}")
    if not lines:
        fail(f"{tool} printed nothing (exit {proc.returncode}): {proc.stderr[:300]!r}")
    return proc.returncode, lines


def botocore_decode(data):
    buf = EventStreamBuffer()
    buf.add_data(data)
    return list(buf)


def fail(message):
    print("MISMATCH: " + message, file=sys.stderr)
    sys.exit(1)


def check_botocore_message(msg, headers, payload, what):
    want = {name: value for name, _, value in headers}
    if msg.headers != want:
        fail(f"{what}: botocore headers {msg.headers!r} != {want!r}")
    if msg.payload != payload:
        fail(f"{what}: botocore payload differs ({len(msg.payload)} vs {len(payload)} bytes)")


def case_random(tool, seed, count):
    rng = random.Random(seed)
    frames = []
    for i in range(count):
        headers = random_headers(rng)
        payload = random_payload(rng, i)
        frame = encode_frame(headers, payload)
        # botocore decodes the frame as built (fed alone, then split in two).
        msgs = botocore_decode(frame)
        if len(msgs) != 1:
            fail(f"frame {i}: botocore gave {len(msgs)} messages")
        check_botocore_message(msgs[0], headers, payload, f"frame {i}")
        cut = rng.randint(0, len(frame))
        buf = EventStreamBuffer()
        buf.add_data(frame[:cut])
        got = list(buf)
        buf.add_data(frame[cut:])
        got += list(buf)
        if len(got) != 1:
            fail(f"frame {i} split at {cut}: botocore gave {len(got)} messages")
        frames.append((headers, payload, frame))
    types = {kind for headers, _, _ in frames for _, kind, _ in headers}
    if types != set(range(10)):
        fail(f"not every header type was generated: {sorted(types)}")
    big = sum(1 for _, payload, _ in frames if len(payload) >= 1_000_000)
    print(f"ok botocore decodes {count} frames ({big} of about 1 MB, header types {sorted(types)})")

    stream = b"".join(frame for _, _, frame in frames)
    want = [expected_line(h, p) for h, p, _ in frames]
    for piece in (None, 4093, 1):
        if piece == 1:
            data = b"".join(f for _, _, f in frames[:40])  # byte by byte: a prefix is enough
            expected = want[:40]
        else:
            data = stream
            expected = want
        code, lines = run_tool(tool, data, piece)
        if code != 0:
            fail(f"ccr_eventstream_decode (piece {piece}) exited {code}: {lines[-1:]}")
        if len(lines) != len(expected):
            fail(f"ccr_eventstream_decode (piece {piece}) gave {len(lines)} messages, "
                 f"want {len(expected)}")
        for i, (got, exp) in enumerate(zip(lines, expected)):
            if got != exp:
                fail(f"message {i} (piece {piece}): relay {json.dumps(got)[:400]} != "
                     f"{json.dumps(exp)[:400]}")
        print(f"ok relay decodes the same {len(lines)} messages ({len(data)} bytes, "
              f"piece {piece or 'whole'})")


def corrupt(frame, what, rng):
    data = bytearray(frame)
    total = len(data)
    if what == "prelude-crc":
        data[8 + rng.randint(0, 3)] ^= 1 << rng.randint(0, 7)
    elif what == "message-crc":
        data[total - 1 - rng.randint(0, 3)] ^= 1 << rng.randint(0, 7)
    elif what == "length":
        data[3] ^= 0x01
    elif what == "payload":
        data[rng.randint(12, total - 5)] ^= 1 << rng.randint(0, 7)
    return bytes(data)


def case_corrupt(tool, seed):
    rng = random.Random(seed)
    checked = 0
    for i in range(60):
        headers = random_headers(rng)
        payload = rng.randbytes(rng.randint(1, 3000))
        good = encode_frame(headers, payload)
        for what in ("prelude-crc", "message-crc", "length", "payload"):
            bad = corrupt(good, what, rng)
            stream = good + bad + good
            try:
                botocore_decode(stream)
                fail(f"{what} {i}: botocore accepted a corrupt frame")
            except ChecksumMismatch:
                pass
            except ParserError as e:
                fail(f"{what} {i}: botocore raised {e!r}, not a checksum mismatch")
            code, lines = run_tool(tool, stream)
            if code != 1 or "error" not in lines[-1]:
                fail(f"{what} {i}: relay accepted a corrupt frame (exit {code})")
            if len(lines) != 2 or lines[0] != expected_line(headers, payload):
                fail(f"{what} {i}: relay should give the good frame, then the error: {lines!r}"[:600])
            err = lines[-1]["error"]
            want = "prelude CRC mismatch" if what in ("prelude-crc", "length") else \
                "message CRC mismatch"
            if want not in err:
                fail(f"{what} {i}: relay error {err!r} does not say {want!r}")
            checked += 1
    print(f"ok botocore and the relay both reject {checked} corrupt frames")

    frame = encode_frame([(":message-type", STRING, "event")], b"{}")
    for cut in (1, 11, 12, len(frame) - 1):
        code, lines = run_tool(tool, frame + frame[:cut])
        if code != 1 or "truncated event stream" not in lines[-1].get("error", ""):
            fail(f"truncated at {cut}: relay said {lines[-1:]!r}")
    print("ok the relay reports a truncated stream")


def case_vectors(tool):
    # protocols.md 3.8: smithy-typescript's payload_one_str_header, the empty message and the
    # Bedrock chunk frame.
    vectors = [
        ("0000003d0000002007fd83960c636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e"
         "7b27666f6f273a27626172277d8d9c08b1",
         [("content-type", STRING, "application/json")], b"{'foo':'bar'}"),
        ("000000100000000005c248eb7d98c8ff", [], b""),
        ("000000870000004b87ea2bf30b3a6576656e742d747970650700056368756e6b0d3a636f6e74656e742d7479"
         "70650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b"
         "226279746573223a2265794a306558426c496a6f696257567a6332466e5a56397a64473977496e303d227dba"
         "48ab22",
         [(":event-type", STRING, "chunk"), (":content-type", STRING, "application/json"),
          (":message-type", STRING, "event")],
         b'{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="}'),
    ]
    for hex_frame, headers, payload in vectors:
        frame = bytes.fromhex(hex_frame)
        if encode_frame(headers, payload) != frame:
            fail(f"our encoder does not reproduce the vector {hex_frame[:24]}...")
        msgs = botocore_decode(frame)
        if len(msgs) != 1:
            fail("botocore: vector not decoded")
        check_botocore_message(msgs[0], headers, payload, "vector")
        code, lines = run_tool(tool, frame)
        if code != 0 or lines != [expected_line(headers, payload)]:
            fail(f"relay: vector decoded as {lines!r}")
    print(f"ok {len(vectors)} reference vectors decode the same in botocore and the relay")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", required=True)
    parser.add_argument("--case", required=True, choices=["random", "corrupt", "vectors"])
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--frames", type=int, default=400)
    args = parser.parse_args()
    if args.case == "random":
        case_random(args.tool, args.seed, args.frames)
    elif args.case == "corrupt":
        case_corrupt(args.tool, args.seed)
    else:
        case_vectors(args.tool)


if __name__ == "__main__":
    main()
