# Renders the result document of bench/report.jq as Markdown tables (printed by bench/run.sh and
# pasted into bench/README.md). Cells are "median (min–max)" over the repetitions.

def num: if . == null then "–" elif (. | type) == "number" then
    (if . == (. | floor) then tostring else ((. * 10 | round) / 10 | tostring) end)
  else tostring end;
def s: if . == null then "–" elif .n == 1 or .min == .max then (.median | num)
  else "\(.median | num) (\(.min | num)–\(.max | num))" end;
def x: if . == null then "–" else "\(. | num)×" end;
def pct: if . == null then "–" else "\(.median * 100 | round)%" end;
def mb: if . == null or . < 0 then "–" else (. / 1024 * 10 | round) / 10 | tostring end;
def row: "| " + join(" | ") + " |";
def proxy: . != "direct";
def other: . != "direct" and . != "nginx";

. as $r
| ($r.params.targets | index("relay_base") != null) as $has_base
| "**\(if $r.smoke then "Smoke run (not a measurement)" else "Benchmark run" end)** · \($r.date) · commit `\($r.commit)`\(if $r.dirty then " (uncommitted changes)" else "" end) · \($r.machine.cpus) CPUs (\($r.machine.cpu)) · Linux \($r.machine.kernel)",
  "",
  "CPU pinning: \($r.pinning). \($r.versions.nginx | sub("nginx version: "; "")), wrk \($r.versions.wrk).\(if $has_base then " relay = cc-relay `\($r.relay_binaries.relay)`, relay_base = `\($r.relay_binaries.relay_base)` (\($r.relay_binaries.relay_base_path)), by sha256." else "" end)",
  "Each cell: median over \($r.params.reps) repetitions (min–max); \($r.params.wrk_duration_s) s per wrk run. Requests are Claude Code model calls; answer SSE (`stream: true`) or a plain JSON Message (`stream: false`).\(if ($r.params.quiet.wait_s // 0) > 0 then " Before each run the harness waited (up to \($r.params.quiet.wait_s) s) for the machine to be at most \($r.params.quiet.max_busy_pct)% busy; \($r.params.quiet.runs_started_busy) runs started on a busy machine." else "" end)",
  "",
  (if ([$r.load[] | select(.p50_us != null)] | length) > 0 then
    "Latency: wrk at \($r.params.latency_connections) connection. Added = target − direct in each repetition.",
    "",
    "| body | answer | target | p50 µs | p99 µs | added p50 µs | added p99 µs | added vs nginx p50 / p99 | peak RSS MB |",
    "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ($r.load[] | select(.p50_us != null) |
      [.body, .answer, .target, (.p50_us | s), (.p99_us | s),
       (if .target == "direct" then "–" else (.added_p50_us | s) end),
       (if .target == "direct" then "–" else (.added_p99_us | s) end),
       (if (.target | other) then "\(.ratio_to_nginx_p50 | x) / \(.ratio_to_nginx_p99 | x)"
        elif .target == "nginx" then "1× / 1×" else "–" end),
       (if .target == "direct" then "(mock) \(.peak_rss_kb | mb)" else (.peak_rss_kb | mb) end)]
      | row),
    ""
  else empty end),
  (if ([$r.load[] | .throughput // {} | to_entries[]] | length) > 0 then
    "Throughput and CPU: wrk at \($r.params.throughput_connections) connections (saturation) and at \($r.params.c10_connections // 10) (200 KB bodies). CPU µs / request: the target's user + system CPU time during the run divided by the requests served (for direct, the mock's); steadier than rps, but it too rises when another job shares the target's CPU. CPU busy: that time over the run's duration (below ~95%, the load side, not the target, limited the rps). Others: the share of the target's CPU that other processes took during the run (median, max); well above 0, another job shared the target's CPU and the figures of that run are suspect.",
    "",
    "| body | answer | conns | target | rps | rps vs nginx | CPU µs / request | CPU vs nginx | CPU busy | others |\(if $has_base then " relay vs base rps / CPU |" else "" end)",
    "|---|---|---:|---|---:|---:|---:|---:|---:|---:|\(if $has_base then "---:|" else "" end)",
    ($r.load[] as $l | ($l.throughput // {}) | to_entries[] | .value as $v |
      [$l.body, $l.answer, ($v.conns | tostring), $l.target, ($v.rps | s),
       (if ($l.target | other) then ($v.rps_ratio_to_nginx | x) elif $l.target == "nginx" then "1×" else "–" end),
       (if $l.target == "direct" then "(mock) \($v.cpu_us_per_request | s)" else ($v.cpu_us_per_request | s) end),
       (if ($l.target | other) then ($v.cpu_ratio_to_nginx | x) elif $l.target == "nginx" then "1×" else "–" end),
       ($v.cpu_busy | pct),
       (if $v.others_on_target_cpu == null then "–" else "\($v.others_on_target_cpu.median * 100 | round)%, \($v.others_on_target_cpu.max * 100 | round)%" end)]
      + (if $has_base then [(if $l.target == "relay" then "\($v.rps_ratio_to_base | x) / \($v.cpu_ratio_to_base | x)" else "–" end)] else [] end)
      | row),
    ""
  else empty end),
  (if ($r.streaming | length) > 0 then
    "Streaming probe: \($r.params.probe.requests) streams per repetition, \($r.params.probe.concurrency) at a time, \($r.params.probe.event_delay_ms) ms between the mock's events, \($r.params.bodies.small) body. TTFE = request written → first event read; event delivery = mock's write → client read, per event; held back = events that reached the client only after the mock had written the next one.",
    "",
    "| target | TTFE p50 µs | TTFE p99 µs | TTFE added p50 µs | TTFE added p99 µs | added p99 vs nginx | event delivery p50 / p99 µs | event added p50 / p99 µs | events held back |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ($r.streaming[] |
      [.target, (.ttfe_p50_us | s), (.ttfe_p99_us | s),
       (if .target == "direct" then "–" else (.ttfe_overhead_p50_us | s) end),
       (if .target == "direct" then "–" else (.ttfe_overhead_p99_us | s) end),
       (if (.target | other) then (.ttfe_overhead_p99_ratio_to_nginx | x) elif .target == "nginx" then "1×" else "–" end),
       "\(.event_p50_us.median | num) / \(.event_p99_us.median | num)",
       (if .target == "direct" then "–" else "\(.event_added_p50_us.median | num) / \(.event_added_p99_us.median | num)" end),
       "\(.held_back) of \(.events)"]
      | row),
    ""
  else empty end),
  (if (($r.loaded_ttfe // []) | length) > 0 then
    "TTFE under load: \($r.params.load_probe.requests) streams per repetition, \($r.params.load_probe.concurrency) at a time back to back, no delay between the mock's events (ccr_stream_probe). Added = target − direct in each repetition.",
    "",
    "| body | target | TTFE p50 µs | TTFE p99 µs | added p50 µs | added p99 µs | added p99 vs nginx | whole stream p99 µs |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
    ($r.loaded_ttfe[] |
      [.body, .target, (.ttfe_p50_us | s), (.ttfe_p99_us | s),
       (if .target == "direct" then "–" else (.ttfe_added_p50_us | s) end),
       (if .target == "direct" then "–" else (.ttfe_added_p99_us | s) end),
       (if (.target | other) then (.ttfe_added_p99_ratio_to_nginx | x) elif .target == "nginx" then "1×" else "–" end),
       (.total_p99_us | s)]
      | row),
    ""
  else empty end),
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
  (($r.targets_check | map(.issue // 3) | unique)[] as $issue
   | [$r.targets_check[] | select((.issue // 3) == $issue)] as $c
   | "Targets (issue \($issue)), cc-relay:",
     "",
     "| target | measured | limit | met |",
     "|---|---:|---:|---|",
     ($c[] |
       [.name, (.value | num), "\(.op) \(.limit | num)",
        (if .met == null then "not measured" elif .met then "yes" else "**no**" end)] | row),
     ""),
  (if $r.errors > 0 then "**\($r.errors) errors during the run (see the log).**" else empty end)
