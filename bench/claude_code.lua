-- wrk script: every request is a Claude Code model call (docs/claude-code-wire.md): POST
-- /v1/messages?beta=true with Claude Code's headers and the body read from a file.
--
--   wrk ... -s bench/claude_code.lua http://127.0.0.1:PORT -- BODY_FILE
--
-- done() prints one line "WRK_JSON {...}" (latencies in µs) that bench/run.sh parses.

function init(args)
  local path = args[1]
  if path == nil then
    error("claude_code.lua: pass the body file after --")
  end
  local f = assert(io.open(path, "rb"))
  local body = f:read("*a")
  f:close()

  wrk.method = "POST"
  wrk.path = "/v1/messages?beta=true"
  wrk.body = body
  local h = wrk.headers
  h["Accept"] = "application/json"
  h["Content-Type"] = "application/json"
  h["User-Agent"] = "claude-cli/2.1.197 (external, cli)"
  h["X-Claude-Code-Session-Id"] = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
  h["X-Stainless-Arch"] = "x64"
  h["X-Stainless-Lang"] = "js"
  h["X-Stainless-OS"] = "Linux"
  h["X-Stainless-Package-Version"] = "0.94.0"
  h["X-Stainless-Retry-Count"] = "0"
  h["X-Stainless-Runtime"] = "node"
  h["X-Stainless-Runtime-Version"] = "v26.3.0"
  h["X-Stainless-Timeout"] = "600"
  h["anthropic-beta"] = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27"
  h["anthropic-dangerous-direct-browser-access"] = "true"
  h["anthropic-version"] = "2023-06-01"
  h["x-api-key"] = "managed-by-cc-relay"
  h["x-app"] = "cli"
  h["Connection"] = "keep-alive"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
