# Renders the result document of bench/report.jq as Markdown tables (printed by bench/run.sh and
# pasted into bench/README.md). Cells are "median (min–max)" over the repetitions.

def num: if . == null then "–" elif (. | type) == "number" then
    (if . == (. | floor) then tostring else ((. * 10 | round) / 10 | tostring) end)
  else tostring end;
def s: if . == null then "–" elif .n == 1 or .min == .max then (.median | num)
  else "\(.median | num) (\(.min | num)–\(.max | num))" end;
def mb: if . == null or . < 0 then "–" else (. / 1024 * 10 | round) / 10 | tostring end;
def row: "| " + join(" | ") + " |";

. as $r
| "**\(if $r.smoke then "Smoke run (not a measurement)" else "Benchmark run" end)** · \($r.date) · commit `\($r.commit)`\(if $r.dirty then " (uncommitted changes)" else "" end) · \($r.machine.cpus) CPUs (\($r.machine.cpu)) · Linux \($r.machine.kernel)",
  "",
  "CPU pinning: \($r.pinning). \($r.versions.nginx | sub("nginx version: "; "")), wrk \($r.versions.wrk).",
  "Each cell: median over \($r.params.reps) repetitions (min–max). Latency: wrk at \($r.params.latency_connections) connection; rps: wrk at \($r.params.throughput_connections) connections; \($r.params.wrk_duration_s) s per run. Requests are Claude Code model calls (`stream: true`, SSE answer). CPU µs / request: the target's user + system CPU time during the throughput run divided by the requests served (insensitive to other load on the machine).",
  "",
  "| body | target | rps | p50 µs | p99 µs | added p50 µs | added p99 µs | added vs nginx p50 / p99 | rps vs nginx | CPU µs / request | peak RSS MB |",
  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ($r.load[] |
    [.body, .target, (.rps | s), (.p50_us | s), (.p99_us | s),
     (if .target == "direct" then "–" else (.added_p50_us | s) end),
     (if .target == "direct" then "–" else (.added_p99_us | s) end),
     (if .target == "relay" then "\(.ratio_to_nginx_p50 | num)× / \(.ratio_to_nginx_p99 | num)×"
      elif .target == "nginx" then "1× / 1×" else "–" end),
     (if .target == "relay" then "\(.rps_ratio_to_nginx | num)×" elif .target == "nginx" then "1×" else "–" end),
     (if .target == "direct" then "–" elif .target == "relay" then "\(.cpu_us_per_request | s) (\(.cpu_ratio_to_nginx | num)×)" else (.cpu_us_per_request | s) end),
     (if .target == "direct" then "(mock) \(.peak_rss_kb | mb)" else (.peak_rss_kb | mb) end)]
    | row),
  "",
  "Streaming probe: \($r.params.probe.requests) streams per repetition, \($r.params.probe.concurrency) at a time, \($r.params.probe.event_delay_ms) ms between the mock's events, \($r.params.bodies.small) body. TTFE = request written → first event read; event delivery = mock's write → client read, per event; held back = events that reached the client only after the mock had written the next one.",
  "",
  "| target | TTFE p50 µs | TTFE p99 µs | TTFE added p50 µs | TTFE added p99 µs | event delivery p50 / p99 µs | event added p50 / p99 µs | events held back |",
  "|---|---:|---:|---:|---:|---:|---:|---:|",
  ($r.streaming[] |
    [.target, (.ttfe_p50_us | s), (.ttfe_p99_us | s),
     (if .target == "direct" then "–" else (.ttfe_overhead_p50_us | s) end),
     (if .target == "direct" then "–" else (.ttfe_overhead_p99_us | s) end),
     "\(.event_p50_us.median | num) / \(.event_p99_us.median | num)",
     (if .target == "direct" then "–" else "\(.event_added_p50_us.median | num) / \(.event_added_p99_us.median | num)" end),
     "\(.held_back) of \(.events)"]
    | row),
  "",
  (if ($r.scale | length) > 0 then
    "Connection scale: slow streams (\($r.params.scale.event_delay_ms) ms between events, ~\($r.params.scale.event_delay_ms * 20 / 1000) s each) held open at once.",
    "",
    "| target | streams requested | streams run | held at once | completed | failed | RSS before MB | RSS held MB | peak RSS MB | ramp s | note |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ($r.scale[] |
      [.target, (.requested | tostring), (.streams | tostring), (.max_active | tostring),
       (.completed | tostring), (.failed | tostring), (.rss_start_kb | mb), (.rss_held_kb | mb),
       ([.rss_max_kb, .hwm_kb] | max | mb),
       (if .ramp_ms == null then "–" else (.ramp_ms / 100 | round / 10 | tostring) end),
       (if .capped then "capped: open-files hard limit \(.nofile) (2 descriptors per stream)" else "" end)]
      | row),
    ""
  else empty end),
  (if ($r.cold_start | length) > 0 then
    "Cold start: process start → first request answered 200 (\($r.params.cold_start_runs) runs).",
    "",
    "| target | median ms | min–max ms | RSS after first request MB |",
    "|---|---:|---:|---:|",
    ($r.cold_start[] |
      [.label, (.median_ms | num), "\(.min_ms | num)–\(.max_ms | num)", (.rss_kb_median | mb)] | row),
    ""
  else empty end),
  (if ($r.targets_check | length) > 0 then
    "Targets (issue 3), cc-relay:",
    "",
    "| target | measured | limit | met |",
    "|---|---:|---:|---|",
    ($r.targets_check[] |
      [.name, (.value | num), "\(.op) \(.limit | num)",
       (if .met == null then "not measured" elif .met then "yes" else "**no**" end)] | row),
    ""
  else empty end),
  (if $r.errors > 0 then "**\($r.errors) errors during the run (see the log).**" else empty end)
