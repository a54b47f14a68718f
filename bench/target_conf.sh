# shellcheck shell=bash
# Configurations of the proxies under test, shared by bench/run.sh and bench/profile.sh (sourced).
# Both read MOCK_PORT (the mock upstream's port) and nginx_conf also NOFILE (open-files limit).

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
