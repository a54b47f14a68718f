#!/usr/bin/python3
"""Rotate one provider key of a running cc-relay from a secret manager's output.

Reads the new key from a file or standard input, as a plain line or a field of a JSON document
(what `aws secretsmanager get-secret-value`, `gcloud secrets versions access --format=json` or
`vault kv get -format=json` print), and calls Management.RotateKey on the control plane: the new
key is added with the old one's limits and the old one drains (requests in flight on it finish;
no new request uses it). Nothing restarts and no client request fails.

    aws secretsmanager get-secret-value --secret-id cc-relay/anthropic \\
      | rotate_key.py --control-plane cp.example:8788 --token-file token --tls-ca ca.crt \\
          --provider anthropic --json-field SecretString.api_key --wait

    gcloud secrets versions access latest --secret=anthropic-key \\
      | rotate_key.py --control-plane 127.0.0.1:8788 --provider anthropic

The key is never printed, logged or put on a command line: output names keys by their
fingerprint (the first 8 hex digits of the SHA-256 of the key, as everywhere in cc-relay).
Exit status: 0 rotated (and, with --wait, applied by every connected data plane); 1 the rotation
failed (message on stderr, with the gRPC status code when the control plane refused it); 2 usage.

Needs Debian's python3-grpcio and python3-protobuf. The gRPC stubs are generated from
proto/management.proto at each run, into a temporary directory, with `python3 -m
grpc_tools.protoc` when python3-grpc-tools is installed, else with protoc and grpc_python_plugin
(protobuf-compiler, protobuf-compiler-grpc).
"""

import argparse
import base64
import hashlib
import importlib
import importlib.util
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

DEFAULT_PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "proto")


class RotationError(Exception):
    """A failure worth one clear line on stderr (never contains a secret)."""


def fingerprint(secret):
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:8]


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="rotate_key.py",
        description="Rotate a provider key of cc-relay from a secret manager's output.",
    )
    p.add_argument("--control-plane", default="127.0.0.1:8788", metavar="HOST:PORT",
                   help="the control plane's gRPC address (default 127.0.0.1:8788)")
    p.add_argument("--provider", required=True, help="provider name in the config")
    p.add_argument("--old-fingerprint", metavar="FP",
                   help="fingerprint of the key to replace (cc-relayctl keys list); default: the "
                        "provider's only key")
    p.add_argument("--key-file", default="-", metavar="FILE",
                   help="where the secret manager's output is (default: standard input)")
    p.add_argument("--json-field", metavar="PATH",
                   help="the input is JSON and the key is at this dot-separated path; a string "
                        "holding JSON is parsed on the way (AWS SecretString.api_key)")
    p.add_argument("--base64", action="store_true",
                   help="the key (after --json-field) is base64, e.g. gcloud's payload.data")
    p.add_argument("--token-file", metavar="FILE", help="the control plane's token (first line)")
    p.add_argument("--tls-ca", metavar="FILE", help="CA bundle (PEM): connect with TLS")
    p.add_argument("--tls-server-name", metavar="NAME",
                   help="name expected in the control plane's certificate")
    p.add_argument("--insecure", action="store_true",
                   help="allow plaintext to a control plane that is not on loopback")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="deadline of each call (default 10)")
    p.add_argument("--wait", action="store_true",
                   help="then wait until every connected data plane runs the new key and the old "
                        "one is gone (drained)")
    p.add_argument("--wait-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long --wait waits (default 60)")
    p.add_argument("--proto-dir", default=DEFAULT_PROTO_DIR, metavar="DIR",
                   help="where management.proto is (default: the repository's proto/)")
    return p.parse_args(argv)


def read_key(args):
    try:
        if args.key_file == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(args.key_file, "rb") as f:
                raw = f.read()
    except OSError as e:
        raise RotationError(f"cannot read {args.key_file}: {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RotationError("the input is not UTF-8 text") from None
    if args.json_field:
        value = json_field(text, args.json_field)
    else:
        lines = text.splitlines()
        value = lines[0] if lines else ""
    if args.base64:
        try:
            value = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise RotationError("the key is not valid base64 of UTF-8 text (--base64)") from None
    key = value.strip()
    if not key:
        raise RotationError("the new key is empty")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise RotationError(
            "the new key has whitespace or control characters inside (a multi-line secret? use "
            "--json-field to pick the key)")
    return key


def json_field(text, path):
    # Error messages name the path and the types met, never a value (it may be the secret).
    try:
        value = json.loads(text)
    except ValueError:
        raise RotationError("the input is not JSON (--json-field given)") from None
    walked = []
    for part in path.split("."):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise RotationError(
                    f"--json-field {path}: {'.'.join(walked)} is a string, not JSON") from None
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            where = ".".join(walked) or "the top level"
            keys = sorted(value.keys()) if isinstance(value, dict) else []
            hint = f" (fields there: {', '.join(keys)})" if keys else ""
            raise RotationError(f"--json-field {path}: no '{part}' in {where}{hint}")
        walked.append(part)
    if not isinstance(value, str):
        raise RotationError(f"--json-field {path}: a {type(value).__name__}, not a string")
    return value


def proto_closure(proto_dir, name):
    """`name` and every file of `proto_dir` it imports, directly or not ("proto/X.proto")."""
    seen, todo = [], [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        with open(os.path.join(proto_dir, current), encoding="utf-8") as f:
            for m in re.finditer(r'^import\s+"[^"/]+/([^"/]+\.proto)"\s*;', f.read(), re.M):
                if os.path.isfile(os.path.join(proto_dir, m.group(1))):
                    todo.append(m.group(1))
    return seen


def load_stubs(proto_dir, out_dir):
    proto = os.path.join(proto_dir, "management.proto")
    if not os.path.isfile(proto):
        raise RotationError(f"{proto} not found (pass --proto-dir)")
    if importlib.util.find_spec("grpc_tools") is not None:
        cmd = [sys.executable, "-m", "grpc_tools.protoc"]
        plugin = []
    else:
        protoc = shutil.which("protoc")
        grpc_plugin = shutil.which("grpc_python_plugin")
        if protoc is None or grpc_plugin is None:
            raise RotationError(
                "cannot generate the gRPC stubs: install python3-grpc-tools, or protobuf-compiler "
                "and protobuf-compiler-grpc (protoc, grpc_python_plugin)")
        cmd = [protoc]
        plugin = [f"--plugin=protoc-gen-grpc_python={grpc_plugin}"]
    # The files import each other as "proto/NAME.proto": compile from the folder above, every
    # file management.proto needs (the generated modules are then the package "proto").
    proto_dir = os.path.abspath(proto_dir)
    root, package = os.path.split(proto_dir)
    sources = [f"{package}/{name}" for name in proto_closure(proto_dir, "management.proto")]
    run = subprocess.run(
        cmd + plugin + [f"-I{root}", f"--python_out={out_dir}", f"--grpc_python_out={out_dir}"]
        + sources,
        capture_output=True, text=True, check=False, cwd=root)
    if run.returncode != 0:
        raise RotationError(f"protoc failed on {proto}: {run.stderr.strip()}")
    sys.path.insert(0, out_dir)
    return (importlib.import_module(f"{package}.management_pb2"),
            importlib.import_module(f"{package}.management_pb2_grpc"))


def is_loopback(target):
    host = target.rsplit(":", 1)[0] if ":" in target else target
    host = host.strip("[]")
    if host in ("localhost", "") or target.startswith("unix:"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_channel(grpc, args):
    if args.tls_ca:
        try:
            with open(args.tls_ca, "rb") as f:
                ca = f.read()
        except OSError as e:
            raise RotationError(f"cannot read --tls-ca {args.tls_ca}: {e.strerror}") from None
        options = []
        if args.tls_server_name:
            options.append(("grpc.ssl_target_name_override", args.tls_server_name))
        return grpc.secure_channel(args.control_plane, grpc.ssl_channel_credentials(ca), options)
    if not is_loopback(args.control_plane) and not args.insecure:
        raise RotationError(
            f"refusing plaintext to {args.control_plane} (not loopback): pass --tls-ca, or "
            "--insecure")
    return grpc.insecure_channel(args.control_plane)


def read_token(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise RotationError(f"cannot read --token-file {path}: {e.strerror}") from None
    token = lines[0].strip() if lines else ""
    if not token:
        raise RotationError(f"--token-file {path} is empty")
    return token


def rotate(args):
    new_key = read_key(args)
    new_fp = fingerprint(new_key)
    metadata = []
    if args.token_file:
        metadata.append(("authorization", f"Bearer {read_token(args.token_file)}"))
    import grpc  # Debian: python3-grpcio

    with tempfile.TemporaryDirectory(prefix="cc-relay-stubs-") as stubs:
        pb, pb_grpc = load_stubs(args.proto_dir, stubs)
        with open_channel(grpc, args) as channel:
            mgmt = pb_grpc.ManagementStub(channel)

            def call(method, request):
                try:
                    return method(request, timeout=args.timeout, metadata=metadata)
                except grpc.RpcError as e:
                    raise RotationError(
                        f"{e.code().name}: {e.details()} (control plane {args.control_plane})"
                    ) from None

            old_fp = args.old_fingerprint
            if not old_fp:
                keys = call(mgmt.ListKeys, pb.ListKeysRequest(provider=args.provider)).keys
                live = [k.fingerprint for k in keys if k.state != "draining"]
                if len(live) != 1:
                    raise RotationError(
                        f"provider {args.provider} has {len(live)} keys "
                        f"({', '.join(live) or 'none'}): name one with --old-fingerprint")
                old_fp = live[0]
            if old_fp == new_fp:
                raise RotationError(f"the new key is the key in use ({new_fp}): nothing to rotate")
            print(f"rotating provider={args.provider} old={old_fp} new={new_fp}", flush=True)
            info = call(mgmt.RotateKey, pb.RotateKeyRequest(
                provider=args.provider, old_fingerprint=old_fp, new_key=new_key))
            status = call(mgmt.GetConfigStatus, pb.GetConfigStatusRequest())
            print(f"rotated provider={info.provider} new={info.fingerprint} state={info.state} "
                  f"snapshot_version={status.snapshot_version}", flush=True)
            if args.wait:
                wait_applied(call, mgmt, pb, args, old_fp, status.snapshot_version)


def wait_applied(call, mgmt, pb, args, old_fp, version):
    deadline = time.monotonic() + args.wait_timeout
    while True:
        planes = [d for d in call(mgmt.ListDataPlanes, pb.ListDataPlanesRequest()).data_planes
                  if d.connected]
        behind = [d.id for d in planes if d.acked_version < version]
        keys = call(mgmt.ListKeys, pb.ListKeysRequest(provider=args.provider)).keys
        old_left = [k.state for k in keys if k.fingerprint == old_fp]
        if not behind and not old_left:
            print(f"applied by {len(planes)} data plane(s) at version >= {version}; "
                  f"key {old_fp} drained and removed", flush=True)
            return
        if time.monotonic() > deadline:
            raise RotationError(
                f"not applied within {args.wait_timeout:g} s: data planes behind version "
                f"{version}: {', '.join(behind) or 'none'}; old key {old_fp}: "
                f"{old_left[0] if old_left else 'gone'}")
        time.sleep(0.1)


def main(argv):
    args = parse_args(argv)
    try:
        rotate(args)
    except RotationError as e:
        print(f"rotate_key.py: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
