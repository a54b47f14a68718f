# shellcheck shell=bash disable=SC2034,SC2153  # QUIET_WAIT(ED): set and read by the sourcing script
# Shell helpers shared by bench/run.sh and bench/profile.sh (sourced): the configurations of the
# proxies under test (both read MOCK_PORT, the mock upstream's port, and nginx_conf also NOFILE,
# the open-files limit) and wait_quiet (reads QUIET_WAIT and QUIET_PCT, calls log).

# nginx: reverse proxy with proxy_buffering off and upstream keepalive, one worker.
# worker_connections is twice the descriptor limit: nginx starts closing idle keep-alive
# connections once fewer than 1/16 of its connection slots are free, which would otherwise cut
# the connection-scale run short before the descriptors run out.
nginx_conf() {  # LISTEN_PORT (or {PORT}) DIR
  local user_line=""
  [[ $(id -u) == 0 ]] && user_line="user root root;"
  cat <<EOF
$user_line
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $2/nginx.pid;
error_log $2/error.log warn;
events { worker_connections $((2 * NOFILE)); }
http {
  access_log off;
  client_body_temp_path $2/client_body;
  proxy_temp_path $2/proxy;
  fastcgi_temp_path $2/fastcgi;
  uwsgi_temp_path $2/uwsgi;
  scgi_temp_path $2/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 1m;   # 200 KB bodies stay in memory
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  upstream mock {
    server 127.0.0.1:$MOCK_PORT;
    keepalive 1024;
    keepalive_requests 1000000;
    keepalive_timeout 300s;
  }
  server {
    listen 127.0.0.1:$1 backlog=4096;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
EOF
}

# cc-relay: `serve`, one provider (the mock), one key.
relay_conf() {  # LISTEN (host:port)
  cat <<EOF
server: {listen: "$1"}
providers:
  - {name: mock, type: anthropic, base_url: "http://127.0.0.1:$MOCK_PORT", keys: [{key: "bench-key"}]}
EOF
}

# cc-relay with one Bedrock provider (the mock's /model/{id}/invoke-with-response-stream), a
# bearer key: bench/bedrock.sh measures the transcoding against relay_conf's SSE passthrough.
relay_bedrock_conf() {  # LISTEN (host:port)
  cat <<EOF
server: {listen: "$1"}
providers:
  - name: mock
    type: bedrock
    aws_region: us-east-1
    base_url: "http://127.0.0.1:$MOCK_PORT"
    keys: [{key: "bench-bedrock-api-key"}]
    model_mapping: {"claude-*": "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}
EOF
}

# On a shared machine another job's burst (a build, a test suite) inflates every figure of the
# run it overlaps, CPU per request included (2-5x seen here). Between runs nothing of ours is
# busy, so before each run wait until the whole machine has been quiet for half a second.
QUIET_WAITED=0   # seconds the last wait_quiet took
BUSY_STARTS=0    # runs started on a busy machine (the wait ran out)
cpu_ticks_all() {  # "BUSY TOTAL" ticks of all CPUs (busy: user nice system irq softirq steal)
  awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat
}
wait_quiet() {
  QUIET_WAITED=0
  [[ $QUIET_WAIT -gt 0 ]] || return 0
  local start=$SECONDS b0 t0 b1 t1
  while :; do
    read -r b0 t0 <<<"$(cpu_ticks_all)"
    sleep 0.5
    read -r b1 t1 <<<"$(cpu_ticks_all)"
    (((b1 - b0) * 100 <= QUIET_PCT * (t1 - t0))) && break
    if ((SECONDS - start >= QUIET_WAIT)); then
      log "machine still busy after ${QUIET_WAIT}s (another job?); measuring anyway"
      BUSY_STARTS=$((BUSY_STARTS + 1))
      break
    fi
  done
  QUIET_WAITED=$((SECONDS - start))
}

# The open-files limit raised to the hard limit; sets NOFILE.
raise_nofile() {
  local hard
  hard=$(ulimit -Hn)
  [[ $hard == unlimited ]] && hard=1048576
  ulimit -n "$hard"
  NOFILE=$(ulimit -n)
}

# The CPUs this shell may run on, one per element; sets CPUS.
allowed_cpus() {
  read -r -a CPUS <<<"$(taskset -pc $$ | sed 's/.*: //' | tr ',' '\n' | while IFS=- read -r a b; do
    seq "$a" "${b:-$a}"; done | tr '\n' ' ')"
}
