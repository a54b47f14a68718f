"""Watches a control plane's snapshot version and what every data plane has applied.

    python3 plane_watch.py --control-plane HOST:PORT --token-file F [--tls-ca F
        --tls-server-name N] --out FILE --stop-file F [--interval-ms 50]

Every interval it calls Management.GetConfigStatus and Management.ListDataPlanes and writes one
JSON line to FILE: {"t": time.time() after both answers, "version": the control plane's
snapshot version, "planes": {id: {"connected": bool, "acked": version}}} (an id listed twice,
a data plane restarted under the same id, is shown connected if any of its entries is), or
{"t": ..., "error": "CODE"} when a call fails (the control plane is down). After a failure the
channel is replaced, so a restarted control plane is seen at the next poll rather than after
gRPC's reconnect backoff. Stops when the stop file exists. Uses deploy/scripts/rotate_key.py's
stub generation and channel setup (python3-grpcio, python3-protobuf, protoc).
"""

import argparse
import json
import os
import sys
import tempfile
import time

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "scripts")
sys.path.insert(0, SCRIPTS)
import rotate_key  # noqa: E402  (deploy/scripts/rotate_key.py)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--control-plane", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--tls-ca")
    p.add_argument("--tls-server-name")
    p.add_argument("--insecure", action="store_true")
    p.add_argument("--out", required=True)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--interval-ms", type=int, default=50)
    args = p.parse_args()
    import grpc  # Debian: python3-grpcio

    metadata = [("authorization", f"Bearer {rotate_key.read_token(args.token_file)}")]
    with tempfile.TemporaryDirectory(prefix="cc-relay-watch-") as stubs, \
            open(args.out, "w", encoding="utf-8") as out:
        pb, pb_grpc = rotate_key.load_stubs(rotate_key.DEFAULT_PROTO_DIR, stubs)
        channel = None
        while not os.path.exists(args.stop_file):
            if channel is None:
                channel = rotate_key.open_channel(grpc, args)
                mgmt = pb_grpc.ManagementStub(channel)
            try:
                status = mgmt.GetConfigStatus(pb.GetConfigStatusRequest(), timeout=0.5,
                                              metadata=metadata)
                listed = mgmt.ListDataPlanes(pb.ListDataPlanesRequest(), timeout=0.5,
                                             metadata=metadata).data_planes
                planes = {}
                for d in listed:
                    seen = planes.get(d.id)
                    if seen is None or (d.connected and not seen["connected"]):
                        planes[d.id] = {"connected": d.connected, "acked": d.acked_version}
                row = {"t": time.time(), "version": status.snapshot_version, "planes": planes}
            except grpc.RpcError as e:
                row = {"t": time.time(), "error": e.code().name}
                channel.close()
                channel = None
            out.write(json.dumps(row) + "\n")
            out.flush()
            time.sleep(args.interval_ms / 1000)
        if channel is not None:
            channel.close()


if __name__ == "__main__":
    main()
