# Turns the raw records of bench/run.sh (jq -s: an array) into the result document.
# Inputs: $meta (run metadata), $errors (error count). Latencies in µs, RSS in kB.
#
# Every measurement is repeated; "spread" objects hold {median, min, max, n}. Differences to
# direct and ratios to nginx are computed per repetition (the targets run back to back in each
# repetition, so they saw the same machine noise) and then summarised the same way.

def median:
  sort | length as $n
  | if $n == 0 then null
    elif $n % 2 == 1 then .[($n - 1) / 2]
    else (.[$n / 2 - 1] + .[$n / 2]) / 2 end;
def spread:
  map(select(. != null))
  | if length == 0 then null else {median: median, min: min, max: max, n: length} end;
def r1: if . == null then null else (. * 10 | round) / 10 end;
def round_spread: if . == null then null else with_entries(.value |= r1) end;

def r2: if . == null then null else (. * 100 | round) / 100 end;

# A list of records as {rep: value}.
def by_rep(f): map({key: (.rep | tostring), value: f}) | from_entries;
# {rep: a - b} for the repetitions both have.
def minus($b): with_entries(select($b[.key] != null and .value != null) | .value -= $b[.key]);
def values_list: [.[]];
def paired_ratio($a; $b):
  [$a | keys[] as $k | select($b[$k] != null and $a[$k] != null and $b[$k] != 0) | $a[$k] / $b[$k]];
def ratio($a; $b): if $a == null or $b == null or $b == 0 then null else $a / $b end;
def check($issue; $name; $value; $op; $limit):
  {issue: $issue, name: $name, value: $value, limit: $limit, op: $op,
   met: (if $value == null then null
         elif $op == "<=" then $value <= $limit else $value >= $limit end)};
def answer: if endswith("_json") then "JSON" else "SSE" end;
def others: . as $t | $t != "direct" and $t != "nginx";

. as $all
| $meta.params.targets as $targets
| ($meta.params.cases // ["small", "large"]) as $cases
| [$all[] | select(.kind == "wrk")] as $wrk
| [$all[] | select(.kind == "probe")] as $probe
| [$all[] | select(.kind == "loadprobe")] as $lprobe

# ---- throughput runs (wrk at 64 connections: "tput", at 10: "c10") ----------------------------
# Per case, phase and target: rps and the target's CPU time per request, with ratios to nginx
# (and, for relay, to relay_base when a second binary was measured).
| def runs($case; $phase; $t):
    [$wrk[] | select(.case == $case and .phase == $phase and .target == $t)];
  def run_summary($case; $phase; $t):
    runs($case; $phase; $t) as $mine
    | runs($case; $phase; "nginx") as $n
    | runs($case; $phase; "relay_base") as $b
    | if ($mine | length) == 0 then null else
        {conns: ($mine[0].conns),
         rps: ($mine | map(.rps) | spread | round_spread),
         cpu_us_per_request: ($mine | map(.cpu_us_per_request) | spread | round_spread),
         cpu_busy: ($mine | map(.cpu_busy) | spread | if . == null then null else with_entries(.value |= r2) end),
         mock_cpu_us_per_request: ($mine | map(.mock_cpu_us_per_request) | spread | round_spread),
         others_on_target_cpu: ($mine | map(.others_on_target_cpu) | spread | if . == null then null else with_entries(.value |= r2) end),
         p50_us: ($mine | map(.latency_us.p50) | spread | round_spread),
         p99_us: ($mine | map(.latency_us.p99) | spread | round_spread)}
        + if ($t | others) and ($n | length) > 0 then
            {rps_ratio_to_nginx: (ratio($mine | map(.rps) | median; $n | map(.rps) | median) | r2),
             cpu_ratio_to_nginx: (ratio($mine | map(.cpu_us_per_request) | median; $n | map(.cpu_us_per_request) | median) | r2),
             rps_ratio_to_nginx_per_rep: (paired_ratio($mine | by_rep(.rps); $n | by_rep(.rps)) | spread | if . == null then null else with_entries(.value |= r2) end),
             cpu_ratio_to_nginx_per_rep: (paired_ratio($mine | by_rep(.cpu_us_per_request); $n | by_rep(.cpu_us_per_request)) | spread | if . == null then null else with_entries(.value |= r2) end)}
          else {} end
        + if $t == "relay" and ($b | length) > 0 then
            {rps_ratio_to_base: (ratio($mine | map(.rps) | median; $b | map(.rps) | median) | r2),
             cpu_ratio_to_base: (ratio($mine | map(.cpu_us_per_request) | median; $b | map(.cpu_us_per_request) | median) | r2)}
          else {} end
      end;

# ---- load (wrk) ------------------------------------------------------------------------------
  [ $cases[] as $case
    | $targets[] as $t
    | [$wrk[] | select(.case == $case and .target == $t)] as $mine
    | select(($mine | length) > 0)
    | [$mine[] | select(.phase == "lat")] as $lat
    | [$mine[] | select(.phase == "tput")] as $tput
    | [$wrk[] | select(.case == $case and .target == "direct" and .phase == "lat")] as $dlat
    | [$wrk[] | select(.case == $case and .target == "nginx" and .phase == "lat")] as $nlat
    | [$wrk[] | select(.case == $case and .target == "nginx" and .phase == "tput")] as $ntput
    | ($lat | by_rep(.latency_us.p50) | minus($dlat | by_rep(.latency_us.p50))) as $add50
    | ($lat | by_rep(.latency_us.p99) | minus($dlat | by_rep(.latency_us.p99))) as $add99
    | ($nlat | by_rep(.latency_us.p50) | minus($dlat | by_rep(.latency_us.p50))) as $nadd50
    | ($nlat | by_rep(.latency_us.p99) | minus($dlat | by_rep(.latency_us.p99))) as $nadd99
    | {case: $case, body: $meta.params.bodies[$case], answer: ($case | answer), target: $t,
       rps: ($tput | map(.rps) | spread | round_spread),
       p50_us: ($lat | map(.latency_us.p50) | spread | round_spread),
       p99_us: ($lat | map(.latency_us.p99) | spread | round_spread),
       loaded_p50_us: ($tput | map(.latency_us.p50) | spread | round_spread),
       loaded_p99_us: ($tput | map(.latency_us.p99) | spread | round_spread),
       cpu_us_per_request: ($tput | map(.cpu_us_per_request) | spread | round_spread),
       throughput: ([("tput", "c10") as $phase | {key: $phase, value: run_summary($case; $phase; $t)}
                     | select(.value != null)] | from_entries),
       peak_rss_kb: ($mine | map(.hwm_kb) | max),
       errors: ($mine | map(.error_count) | add)}
    + if $t == "direct" or ($dlat | length) == 0 or ($lat | length) == 0 then {} else
        {added_p50_us: ($add50 | values_list | spread | round_spread),
         added_p99_us: ($add99 | values_list | spread | round_spread)}
        + if $t == "nginx" or ($nlat | length) == 0 then {} else
            {ratio_to_nginx_p50: (ratio($add50 | values_list | median; $nadd50 | values_list | median) | r2),
             ratio_to_nginx_p99: (ratio($add99 | values_list | median; $nadd99 | values_list | median) | r2),
             ratio_to_nginx_p50_per_rep: (paired_ratio($add50; $nadd50) | spread | if . == null then null else with_entries(.value |= r2) end),
             ratio_to_nginx_p99_per_rep: (paired_ratio($add99; $nadd99) | spread | if . == null then null else with_entries(.value |= r2) end)}
          end
      end
    + if ($t | others) and ($ntput | length) > 0 and ($tput | length) > 0 then
        {rps_ratio_to_nginx: (ratio($tput | map(.rps) | median; $ntput | map(.rps) | median) | r2),
         cpu_ratio_to_nginx: (ratio($tput | map(.cpu_us_per_request) | median; $ntput | map(.cpu_us_per_request) | median) | r2)}
      else {} end
  ] as $load

# ---- streaming probe -------------------------------------------------------------------------
| [$probe[] | select(.target == "direct")] as $dprobe
| [$probe[] | select(.target == "nginx")] as $nprobe
| ($nprobe | by_rep(.ttfe_us.p99) | minus($dprobe | by_rep(.ttfe_us.p99)) | values_list | median) as $nttfe99
| [ $targets[] as $t
    | [$probe[] | select(.target == $t)] as $mine
    | select(($mine | length) > 0)
    | {target: $t,
       streams: ($mine | map(.requests) | add),
       failures: ($mine | map(.failures) | add),
       events_min: ($mine | map(.events_min) | min),
       events_max: ($mine | map(.events_max) | max),
       held_back: ($mine | map(.held) | add),
       stamped_events: ($mine | map(.stamped) | add),
       events: ($mine | map(.events) | add),
       ttfe_p50_us: ($mine | map(.ttfe_us.p50) | spread | round_spread),
       ttfe_p99_us: ($mine | map(.ttfe_us.p99) | spread | round_spread),
       event_p50_us: ($mine | map(.event_us.p50) | spread | round_spread),
       event_p99_us: ($mine | map(.event_us.p99) | spread | round_spread),
       event_max_us: ($mine | map(.event_us.max) | max | r1)}
    + if $t == "direct" then {} else
        {ttfe_overhead_p50_us: ($mine | by_rep(.ttfe_us.p50) | minus($dprobe | by_rep(.ttfe_us.p50)) | values_list | spread | round_spread),
         ttfe_overhead_p99_us: ($mine | by_rep(.ttfe_us.p99) | minus($dprobe | by_rep(.ttfe_us.p99)) | values_list | spread | round_spread),
         event_added_p50_us: ($mine | by_rep(.event_us.p50) | minus($dprobe | by_rep(.event_us.p50)) | values_list | spread | round_spread),
         event_added_p99_us: ($mine | by_rep(.event_us.p99) | minus($dprobe | by_rep(.event_us.p99)) | values_list | spread | round_spread)}
      end
    | if ($t | others) then
        .ttfe_overhead_p99_ratio_to_nginx = (ratio(.ttfe_overhead_p99_us.median; $nttfe99) | r2)
      else . end
  ] as $stream

# ---- TTFE under load: C10 streams back to back, no event delay (ccr_stream_probe) -------------
| [ $cases[] as $case
    | select(($case | answer) == "SSE")
    | [$lprobe[] | select(.case == $case)] as $mycase
    | [$mycase[] | select(.target == "direct")] as $d
    | [$mycase[] | select(.target == "nginx")] as $n
    | ($n | by_rep(.ttfe_us.p99) | minus($d | by_rep(.ttfe_us.p99)) | values_list | median) as $n99
    | ($n | by_rep(.ttfe_us.p50) | minus($d | by_rep(.ttfe_us.p50)) | values_list | median) as $n50
    | $targets[] as $t
    | [$mycase[] | select(.target == $t)] as $mine
    | select(($mine | length) > 0)
    | {case: $case, body: $meta.params.bodies[$case], target: $t,
       concurrency: $mine[0].concurrency,
       streams: ($mine | map(.requests) | add),
       failures: ($mine | map(.failures) | add),
       ttfe_p50_us: ($mine | map(.ttfe_us.p50) | spread | round_spread),
       ttfe_p99_us: ($mine | map(.ttfe_us.p99) | spread | round_spread),
       total_p50_us: ($mine | map(.total_us.p50) | spread | round_spread),
       total_p99_us: ($mine | map(.total_us.p99) | spread | round_spread)}
    + if $t == "direct" then {} else
        ($mine | by_rep(.ttfe_us.p50) | minus($d | by_rep(.ttfe_us.p50)) | values_list) as $a50
        | ($mine | by_rep(.ttfe_us.p99) | minus($d | by_rep(.ttfe_us.p99)) | values_list) as $a99
        | {ttfe_added_p50_us: ($a50 | spread | round_spread),
           ttfe_added_p99_us: ($a99 | spread | round_spread)}
        + if ($t | others) then
            {ttfe_added_p50_ratio_to_nginx: (ratio($a50 | median; $n50) | r2),
             ttfe_added_p99_ratio_to_nginx: (ratio($a99 | median; $n99) | r2)}
          else {} end
      end
  ] as $loadprobe

| [$all[] | select(.kind == "scale")] as $scale
| [$all[] | select(.kind == "cold")] as $cold
| [$all[] | select(.kind == "idle_rss")] as $idle

# ---- targets of issues 3 and 10 (relay only) -------------------------------------------------
| ($load | map(select(.target == "relay"))) as $rl
| ($stream | map(select(.target == "relay")) | first) as $rs
| ($loadprobe | map(select(.target == "relay"))) as $rlp
| ($scale | map(select(.target == "relay")) | first) as $rsc
| ($cold | map(select(.label == "relay")) | first) as $rc
| ($idle | map(select(.target == "relay")) | first) as $ri
| [ ($rl[] | select(.answer == "SSE" and .ratio_to_nginx_p50 != null)
      | check(3; "added latency p50 vs nginx, \(.body) body (×)"; .ratio_to_nginx_p50 | r2; "<="; 1.5)),
    ($rl[] | select(.answer == "SSE" and .ratio_to_nginx_p99 != null)
      | check(3; "added latency p99 vs nginx, \(.body) body (×)"; .ratio_to_nginx_p99 | r2; "<="; 1.5)),
    ($rl[] | select(.answer == "SSE" and .rps_ratio_to_nginx != null)
      | check(3; "throughput vs nginx, \(.body) body (×)"; .rps_ratio_to_nginx | r2; ">="; 0.8)),
    (if $rs == null then empty else
      check(3; "streaming: TTFE added at p99 (µs)"; $rs.ttfe_overhead_p99_us.median; "<="; 200),
      check(3; "streaming: events held back"; $rs.held_back; "<="; 0) end),
    (if $ri == null then empty else check(3; "idle RSS (MB)"; $ri.rss_kb / 1024 | r1; "<="; 25) end),
    (if $rsc == null then empty else
      check(3; "RSS holding \($rsc.max_active // 0) streams (MB)"; ([$rsc.rss_held_kb, $rsc.rss_max_kb] | max) / 1024 | r1; "<="; 200),
      check(3; "connection scale: all streams held and completed"; (if ($rsc.completed == $rsc.streams and $rsc.all_held and $rsc.failed == 0) then 1 else 0 end); ">="; 1) end),
    (if $rc == null then empty else check(3; "cold start median (ms)"; $rc.median_ms; "<="; 50) end),
    ($rl[] | . as $r | .throughput | to_entries[] | .value
      | check(10; "CPU per request vs nginx, \($r.body) \($r.answer), \(.conns) connections (×)"; .cpu_ratio_to_nginx; "<="; 1.2)),
    ($rl[] | . as $r | .throughput | to_entries[] | .value
      | check(10; "throughput vs nginx, \($r.body) \($r.answer), \(.conns) connections (×)"; .rps_ratio_to_nginx; ">="; 0.9)),
    (if $rs == null then empty else
      check(10; "TTFE added p99 vs nginx, probe (\($meta.params.bodies.small), \($meta.params.probe.concurrency) streams, \($meta.params.probe.event_delay_ms) ms events) (×)"; $rs.ttfe_overhead_p99_ratio_to_nginx; "<="; 1.2) end),
    ($rlp[] | check(10; "TTFE added p99 vs nginx, \(.body), \(.concurrency) streams back to back (×)"; .ttfe_added_p99_ratio_to_nginx; "<="; 1.2))
  ] as $checks

| $meta + {errors: $errors, load: $load, streaming: $stream, loaded_ttfe: $loadprobe,
           scale: $scale, cold_start: $cold, idle_rss: $idle,
           targets_check: (if ($targets | index("relay")) then $checks else [] end)}
