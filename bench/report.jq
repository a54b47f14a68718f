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
def check($name; $value; $op; $limit):
  {name: $name, value: $value, limit: $limit, op: $op,
   met: (if $value == null then null
         elif $op == "<=" then $value <= $limit else $value >= $limit end)};

. as $all
| $meta.params.targets as $targets
| [$all[] | select(.kind == "wrk")] as $wrk
| [$all[] | select(.kind == "probe")] as $probe

# ---- load (wrk) ------------------------------------------------------------------------------
| [ ("small", "large") as $case
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
    | {case: $case, body: $meta.params.bodies[$case], target: $t,
       rps: ($tput | map(.rps) | spread | round_spread),
       p50_us: ($lat | map(.latency_us.p50) | spread | round_spread),
       p99_us: ($lat | map(.latency_us.p99) | spread | round_spread),
       loaded_p50_us: ($tput | map(.latency_us.p50) | spread | round_spread),
       loaded_p99_us: ($tput | map(.latency_us.p99) | spread | round_spread),
       cpu_us_per_request: ($tput | map(.cpu_us_per_request) | spread | round_spread),
       peak_rss_kb: ($mine | map(.hwm_kb) | max),
       errors: ($mine | map(.error_count) | add)}
    + if $t == "direct" or ($dlat | length) == 0 then {} else
        {added_p50_us: ($add50 | values_list | spread | round_spread),
         added_p99_us: ($add99 | values_list | spread | round_spread)}
        + if $t == "nginx" or ($nlat | length) == 0 then {} else
            {ratio_to_nginx_p50: (ratio($add50 | values_list | median; $nadd50 | values_list | median) | r2),
             ratio_to_nginx_p99: (ratio($add99 | values_list | median; $nadd99 | values_list | median) | r2),
             ratio_to_nginx_p50_per_rep: (paired_ratio($add50; $nadd50) | spread | if . == null then null else with_entries(.value |= r2) end),
             ratio_to_nginx_p99_per_rep: (paired_ratio($add99; $nadd99) | spread | if . == null then null else with_entries(.value |= r2) end),
             rps_ratio_to_nginx: (ratio($tput | map(.rps) | median; $ntput | map(.rps) | median) | r2),
             cpu_ratio_to_nginx: (ratio($tput | map(.cpu_us_per_request) | median; $ntput | map(.cpu_us_per_request) | median) | r2)}
          end
      end
  ] as $load

# ---- streaming probe -------------------------------------------------------------------------
| [$probe[] | select(.target == "direct")] as $dprobe
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
  ] as $stream

| [$all[] | select(.kind == "scale")] as $scale
| [$all[] | select(.kind == "cold")] as $cold
| [$all[] | select(.kind == "idle_rss")] as $idle

# ---- targets of issue 3 (relay only) -----------------------------------------------------------
| ($load | map(select(.target == "relay"))) as $rl
| ($stream | map(select(.target == "relay")) | first) as $rs
| ($scale | map(select(.target == "relay")) | first) as $rsc
| ($cold | map(select(.label == "relay")) | first) as $rc
| ($idle | map(select(.target == "relay")) | first) as $ri
| [ ($rl[] | check("added latency p50 vs nginx, \(.body) body (×)"; .ratio_to_nginx_p50 | r2; "<="; 1.5)),
    ($rl[] | check("added latency p99 vs nginx, \(.body) body (×)"; .ratio_to_nginx_p99 | r2; "<="; 1.5)),
    ($rl[] | check("throughput vs nginx, \(.body) body (×)"; .rps_ratio_to_nginx | r2; ">="; 0.8)),
    check("streaming: TTFE added at p99 (µs)"; $rs.ttfe_overhead_p99_us.median; "<="; 200),
    check("streaming: events held back"; $rs.held_back; "<="; 0),
    check("idle RSS (MB)"; (if $ri == null then null else $ri.rss_kb / 1024 | r1 end); "<="; 25),
    check("RSS holding \($rsc.max_active // 0) streams (MB)"; (if $rsc == null then null else ([$rsc.rss_held_kb, $rsc.rss_max_kb] | max) / 1024 | r1 end); "<="; 200),
    check("connection scale: all streams held and completed"; (if $rsc == null then null elif ($rsc.completed == $rsc.streams and $rsc.all_held and $rsc.failed == 0) then 1 else 0 end); ">="; 1),
    check("cold start median (ms)"; $rc.median_ms; "<="; 50)
  ] as $checks

| $meta + {errors: $errors, load: $load, streaming: $stream, scale: $scale, cold_start: $cold,
           idle_rss: $idle, targets_check: (if ($targets | index("relay")) then $checks else [] end)}
