"""subagent_fake.py: a tiny Anthropic Messages upstream for scenario_rules_cli_test.sh.

  subagent_fake.py LOG MAIN_MODEL AGENT_TYPE

Prints "listening 127.0.0.1:PORT" once bound. Every POST is logged to LOG (one JSON object per
line: path, model, agent_tool, has_tool_result) and answered with an SSE stream: a request for
MAIN_MODEL that offers Claude Code's Agent tool (or Task) and carries no tool_result yet gets a
tool_use of that tool starting subagent AGENT_TYPE; every other request gets the text "Hello
from the fake.". HEAD answers 200 (Claude Code's connectivity check). Standard library only.
"""

import http.server
import json
import socketserver
import sys

LOG, MAIN_MODEL, AGENT_TYPE = sys.argv[1:4]


def sse(events):
    return b"".join(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode()
                    for name, data in events)


def answer(model, block, delta, stop_reason):
    return sse([
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": block}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                           "usage": {"output_tokens": 5}}),
        ("message_stop", {"type": "message_stop"}),
    ])


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        model = body.get("model", "")
        tools = [t.get("name") for t in body.get("tools", [])]
        agent_tool = next((t for t in tools if t in ("Agent", "Task")), None)
        has_result = any(
            isinstance(m.get("content"), list) and
            any(isinstance(c, dict) and c.get("type") == "tool_result" for c in m["content"])
            for m in body.get("messages", []))
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps({"path": self.path, "model": model, "agent_tool": agent_tool,
                                "has_tool_result": has_result}) + "\n")
        if model == MAIN_MODEL and agent_tool and not has_result:
            prompt = {"subagent_type": AGENT_TYPE, "description": "Greet", "prompt": "Say hi"}
            out = answer(model, {"type": "tool_use", "id": "toolu_fake", "name": agent_tool,
                                 "input": {}},
                         {"type": "input_json_delta", "partial_json": json.dumps(prompt)},
                         "tool_use")
        else:
            out = answer(model, {"type": "text", "text": ""},
                         {"type": "text_delta", "text": "Hello from the fake."}, "end_turn")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
print("listening 127.0.0.1:%d" % server.server_address[1], flush=True)
server.serve_forever()
