"""anthropic_script.py: the scripted Claude behind cc-relay's provider fakes (fake_bedrock.py,
fake_vertex.py, fake_foundry.py). Standard library only; imported, never run.

What the fakes answer, and the Messages API rules they share:
  Script(name, tag)        one fake's flavour: "Hello from fake <name>.", ids msg_<tag>_01...,
                           toolu_<tag>_01..., its own thinking signature
  Script.plan_answer(body) the answer a Messages body gets (ANSWERS_HELP below); these answers
                           make the real Claude Code CLI do a tool round trip: READ_FILE -> its
                           Read tool -> tool_result -> "TOOL RESULT: <what it read>"
  Script.stream_events()   the Anthropic stream events of an answer (without message_stop)
  check_max_tokens(), check_thinking(), check_metadata(), check_cache_control(),
  check_history():         the Messages API rules, raising whatever error the caller's
                           `invalid(message)` builds
  sse_event(event)         one event in Anthropic's SSE framing
"""

import base64
import json
import re
import uuid

THINKING_TEXT = "The user wants an answer from the fake. I will give the scripted one."

ANSWERS_HELP = """\
Answers (first match wins):
  last user message has a tool_result  text "TOOL RESULT: <first 200 chars of its text>"
  output_config.format is json_schema  text = JSON that fits the schema (session titles)
  last user text has "READ_FILE <path>"  text "Reading <path>." + tool_use Read {"file_path": path},
                                         stop_reason tool_use
  last user text has "SAY <text>"      text "<text>" (rest of the line)
  otherwise                            text "Hello from fake <provider>."
  thinking.type enabled/adaptive       a thinking block first (thinking_delta + signature_delta,
                                       the fake's own signature, which it alone accepts back in
                                       the history), streamed and not
"""


def block_text(content):
    """Text of a content value (string or list of blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content
                       if isinstance(b, dict) and b.get("type") == "text")
    return ""


def last_user_message(messages):
    for message in reversed(messages):
        if message.get("role") == "user":
            return message
    return None


def output_tokens_for(content):
    return max(1, len(json.dumps(content, separators=(",", ":"))) // 4)


def usage(input_tokens, output_tokens):
    return {"input_tokens": input_tokens, "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens}


def pieces(text, size):
    return [text[i:i + size] for i in range(0, len(text), size)] or [""]


def sse_event(event):
    """One Anthropic SSE event: "event: <type>\\ndata: <json>\\n\\n" (bytes)."""
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
    return f"event: {event['type']}\ndata: {data}\n\n".encode("utf-8")


class Script:
    """The scripted answers of one fake: `name` goes into the texts ("Hello from fake Vertex."),
    `tag` into the ids (msg_<tag>_01..., toolu_<tag>_01...)."""

    def __init__(self, name, tag):
        self.name = name
        self.tag = tag
        self.default_text = f"Hello from fake {name}."
        self.schema_string = f"Fake {name} session"
        # base64 of "fake-<name>-thinking-signature-v1": each fake accepts only its own back.
        self.thinking_signature = base64.b64encode(
            f"fake-{name.lower()}-thinking-signature-v1".encode("ascii")).decode("ascii")

    def message_id(self):
        return f"msg_{self.tag}_01" + uuid.uuid4().hex[:22]

    def tool_use_id(self):
        return f"toolu_{self.tag}_01" + uuid.uuid4().hex[:22]

    def sample_for_schema(self, schema, depth=0):
        """A value that fits a JSON schema (the subset session-title schemas use)."""
        if not isinstance(schema, dict) or depth > 8:
            return None
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf", "allOf"):
            if schema.get(key):
                return self.sample_for_schema(schema[key][0], depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or "properties" in schema:
            return {k: self.sample_for_schema(v, depth + 1)
                    for k, v in (schema.get("properties") or {}).items()}
        if kind == "array":
            count = schema.get("minItems", 1)
            return [self.sample_for_schema(schema.get("items", {}), depth + 1)
                    for _ in range(count)]
        if kind == "string":
            return self.schema_string
        if kind in ("integer", "number"):
            return schema.get("minimum", 1)
        if kind == "boolean":
            return True
        return None

    def plan_answer(self, body):
        """-> (behaviour, content blocks, stop_reason); behaviour is one of default, say,
        read_file, tool_result, json_schema."""
        messages = body.get("messages") or []
        last = last_user_message(messages) or {}
        content = last.get("content")
        blocks = content if isinstance(content, list) else []
        thinking = (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
        out = []
        if thinking:
            out.append({"type": "thinking", "thinking": THINKING_TEXT,
                        "signature": self.thinking_signature})
        tool_result = next((b for b in blocks if b.get("type") == "tool_result"), None)
        fmt = ((body.get("output_config") or {}).get("format") or {})
        text = block_text(content)
        read = re.search(r"READ_FILE\s+(\S+)", text)
        say = re.search(r"SAY (.+)", text)
        stop_reason = "end_turn"
        if tool_result is not None:
            behaviour = "tool_result"
            answer = "TOOL RESULT: " + block_text(tool_result.get("content"))[:200]
            out.append({"type": "text", "text": answer})
        elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            behaviour = "json_schema"
            out.append({"type": "text",
                        "text": json.dumps(self.sample_for_schema(fmt.get("schema", {})))})
        elif read:
            behaviour = "read_file"
            path = read.group(1)
            out.append({"type": "text", "text": f"Reading {path}."})
            out.append({"type": "tool_use", "id": self.tool_use_id(), "name": "Read",
                        "input": {"file_path": path}})
            stop_reason = "tool_use"
        elif say:
            behaviour = "say"
            out.append({"type": "text", "text": say.group(1).strip()})
        else:
            behaviour = "default"
            out.append({"type": "text", "text": self.default_text})
        return behaviour, out, stop_reason

    def message(self, model, content, stop_reason, input_tokens):
        """The non-streamed Message of an answer."""
        return {"id": self.message_id(), "type": "message", "role": "assistant", "model": model,
                "content": content, "stop_reason": stop_reason, "stop_sequence": None,
                "usage": usage(input_tokens, output_tokens_for(content))}

    def stream_events(self, model, content, stop_reason, input_tokens):
        """The Anthropic events of one answer, without message_stop (added by the writer)."""
        out_tokens = output_tokens_for(content)
        events = [{"type": "message_start",
                   "message": {"id": self.message_id(), "type": "message", "role": "assistant",
                               "model": model, "content": [], "stop_reason": None,
                               "stop_sequence": None, "usage": usage(input_tokens, 1)}}]
        for index, block in enumerate(content):
            kind = block["type"]
            if kind == "text":
                events.append({"type": "content_block_start", "index": index,
                               "content_block": {"type": "text", "text": ""}})
                for piece in pieces(block["text"], 6):
                    events.append({"type": "content_block_delta", "index": index,
                                   "delta": {"type": "text_delta", "text": piece}})
            elif kind == "thinking":
                events.append({"type": "content_block_start", "index": index,
                               "content_block": {"type": "thinking", "thinking": "",
                                                 "signature": ""}})
                for piece in pieces(block["thinking"], 24):
                    events.append({"type": "content_block_delta", "index": index,
                                   "delta": {"type": "thinking_delta", "thinking": piece}})
                events.append({"type": "content_block_delta", "index": index,
                               "delta": {"type": "signature_delta",
                                         "signature": block["signature"]}})
            elif kind == "tool_use":
                events.append({"type": "content_block_start", "index": index,
                               "content_block": {"type": "tool_use", "id": block["id"],
                                                 "name": block["name"], "input": {}}})
                for piece in [""] + pieces(json.dumps(block["input"]), 9):
                    events.append({"type": "content_block_delta", "index": index,
                                   "delta": {"type": "input_json_delta", "partial_json": piece}})
            events.append({"type": "content_block_stop", "index": index})
        events.append({"type": "message_delta",
                       "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                       "usage": {"output_tokens": out_tokens}})
        return events


# ---------------------------------------------------------------------------------------------
# Messages API rules. `invalid(message)` returns the exception to raise (each fake answers it in
# its provider's shape).

def check_max_tokens(body, invalid, missing):
    """max_tokens: an integer >= 1; raises `missing` when there is none."""
    mt = body.get("max_tokens")
    if mt is None:
        raise missing
    if not isinstance(mt, int) or isinstance(mt, bool) or mt < 1:
        raise invalid("max_tokens: Input should be a valid integer greater than or equal to 1")


def check_thinking(body, invalid):
    thinking = body.get("thinking")
    if thinking is None:
        return
    if not isinstance(thinking, dict) or thinking.get("type") not in (
            "enabled", "disabled", "adaptive"):
        raise invalid("thinking.type: Input tag does not match any of the expected tags: "
                      "'enabled', 'disabled', 'adaptive'")
    if thinking["type"] == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024:
            raise invalid("thinking.enabled.budget_tokens: Input should be greater than or "
                          "equal to 1024")
        if isinstance(body.get("max_tokens"), int) and body["max_tokens"] <= budget:
            raise invalid("`max_tokens` must be greater than `thinking.budget_tokens`. "
                          "Please consult our documentation at "
                          "https://docs.claude.com/en/docs/build-with-claude/"
                          "extended-thinking#max-tokens-and-context-window-size")
    if thinking["type"] in ("enabled", "adaptive") and body.get("temperature", 1) != 1:
        raise invalid("`temperature` may only be set to 1 when thinking is enabled. Please "
                      "consult our documentation at https://docs.claude.com/en/docs/"
                      "build-with-claude/extended-thinking#feature-compatibility")


def check_metadata(body, invalid):
    metadata = body.get("metadata")
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise invalid("metadata: Input should be a valid dictionary")
    for key in metadata:
        if key != "user_id":
            raise invalid(f"metadata.{key}: Extra inputs are not permitted")


def check_cache_control(node, path, invalid, allowed_keys=("type", "ttl")):
    """cache_control anywhere: only `allowed_keys`, ttl only 5m/1h, type ephemeral."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}" if path else key
            if key == "cache_control" and isinstance(value, dict):
                for cc_key in value:
                    if cc_key not in allowed_keys:
                        raise invalid(f"{here}.{cc_key}: Extra inputs are not permitted")
                if value.get("type") != "ephemeral":
                    raise invalid(f"{here}.type: Input should be 'ephemeral'")
                if "ttl" in value and value["ttl"] not in ("5m", "1h"):
                    raise invalid(f"{here}.ttl: Input should be '5m' or '1h'")
            else:
                check_cache_control(value, here, invalid, allowed_keys)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            check_cache_control(value, f"{path}.{i}", invalid, allowed_keys)


def check_history(messages, invalid, thinking_signature, allow_system_messages):
    """Roles, thinking signatures (only `thinking_signature` is valid) and tool_result pairing.
    Consecutive messages of one role form one turn (the API merges them); a tool_result must
    answer a tool_use of the assistant turn just before its user turn."""
    turn_role = None
    assistant_tool_uses = set()  # tool_use ids of the latest assistant turn
    answerable = set()  # what tool_results of the current user turn may answer
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages.{i}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in ("user", "assistant") and not (role == "system" and allow_system_messages):
            raise invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if not isinstance(content, (str, list)):
            raise invalid(f"messages.{i}.content: Input should be a valid string or list")
        if role == "assistant" and turn_role != "assistant":
            assistant_tool_uses = set()
        if role == "user" and turn_role != "user":
            answerable = assistant_tool_uses if turn_role == "assistant" else set()
        blocks = content if isinstance(content, list) else []
        for j, block in enumerate(blocks):
            if not isinstance(block, dict) or not isinstance(block.get("type"), str):
                raise invalid(f"messages.{i}.content.{j}: Input should be a valid content block")
            kind = block["type"]
            if kind == "thinking" and block.get("signature") != thinking_signature:
                raise invalid(f"messages.{i}.content.{j}: Invalid `signature` in `thinking` "
                              f"block")
            if kind == "tool_use" and role == "assistant":
                assistant_tool_uses.add(block.get("id"))
            if kind == "tool_result" and block.get("tool_use_id") not in answerable:
                raise invalid(
                    f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` "
                    f"blocks: {block.get('tool_use_id')}. Each `tool_result` block must have a "
                    f"corresponding `tool_use` block in the previous message.")
        if role in ("user", "assistant"):
            turn_role = role
