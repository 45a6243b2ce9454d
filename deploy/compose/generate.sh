#!/usr/bin/env bash
# Writes compose.yaml (and collectors.txt) in this directory: the
# aggregator, one collector per region of the election definition, a relay
# and the gateway. The region list comes from `tallyctl simulate
# --list_regions`, so the file follows the definition; compose.yaml is
# committed, rerun this after changing the regions.
#
#   generate.sh [--tallyctl PATH] [--definition FILE]
#
# Ports inside the containers: aggregator 7400, collectors 7500, relay 7600,
# gateway 8080, and each server's admin HTTP port (--admin_listen: GET
# /metrics, GET /healthz): aggregator 9400, collectors 9500, relay 9600,
# gateway 9800. On the host, the gateway is published on 8080 for everyone
# and the gRPC ports on 127.0.0.1 only: aggregator 7400, relay 7600, the
# collector of the i-th region 7501+i-1 (collectors.txt lists them in the
# format of `tallyctl simulate --collectors_file`). Of the admin ports only
# the aggregator's is published, on 127.0.0.1:9400; the others are reached
# inside the compose network (e.g. by a Prometheus container).
#
# TLS: every server reads its certificates from deploy/compose/tls, made by
# `deploy/tls/gen-dev-certs.sh deploy/compose/tls` (README.md). Each
# container gets only the files it uses, bind-mounted read-only one by one
# under /etc/tally/tls; a missing file stops `up` instead of turning into
# an empty directory (create_host_path: false).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
tallyctl="${repo}/build/clients/tallyctl/tallyctl"
definition=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tallyctl) tallyctl="$2"; shift 2 ;;
    --definition) definition="$2"; shift 2 ;;
    *) echo "generate.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "${tallyctl}" ]] || {
  echo "generate.sh: ${tallyctl} not found (build tallyctl or give --tallyctl)" >&2
  exit 1
}
list_args=(simulate --list_regions)
[[ -n "${definition}" ]] && list_args+=(--definition "${definition}")
mapfile -t regions < <("${tallyctl}" "${list_args[@]}")
[[ ${#regions[@]} -gt 0 ]] || { echo "generate.sh: no regions" >&2; exit 1; }

image="tally:0.1.0"
# Longer than every server's --shutdown_grace_ms (5000 by default) plus the
# final commit and store close, so SIGKILL never cuts a drain short.
stop_grace="20s"
tls_dir="/etc/tally/tls"
# Structured logs on stderr, one JSON object per line, for `docker compose
# logs` and whatever ships them.
log_format="json"

# The volumes: entries of read-only bind mounts of files of ./tls.
#   tls_mounts FILE...
tls_mounts() {
  local file
  for file in "$@"; do
    cat <<EOF
      - type: bind
        source: ./tls/${file}
        target: ${tls_dir}/${file}
        read_only: true
        bind:
          create_host_path: false
EOF
  done
}

# The healthcheck test of a server's admin port: GET /healthz over bash's
# /dev/tcp (the image has no curl); healthy only on 200, which the server
# answers while serving (503 while starting or draining).
#   healthz_test PORT
healthz_test() {
  printf '%s' "[\"CMD\", \"bash\", \"-c\", \"exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'GET /healthz HTTP/1.1\\\\r\\\\nHost: 127.0.0.1\\\\r\\\\nConnection: close\\\\r\\\\n\\\\r\\\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '\"]"
}

out="${here}/compose.yaml"
tmp="$(mktemp "${out}.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
{
  cat <<EOF
# tally on one Docker host: aggregator, one collector per region
# (${#regions[@]}), relay and gateway. Written by deploy/compose/generate.sh
# from \`tallyctl simulate --list_regions\`: edit the script, not this file.
#
#   docker compose -f deploy/compose/compose.yaml build aggregator
#   docker compose -f deploy/compose/compose.yaml up -d
#
# Certificates first (README.md): deploy/tls/gen-dev-certs.sh deploy/compose/tls
# See README.md in this directory for TLS, the health checks and ports.
name: tally

services:
  aggregator:
    build:
      context: ../..
      dockerfile: deploy/docker/Dockerfile
    image: ${image}
    command:
      - tally-aggregator
      - --listen=0.0.0.0:7400
      - --data_dir=/var/lib/tally/aggregator
      - --shutdown_grace_ms=5000
      - --tls_cert=${tls_dir}/server.pem
      - --tls_key=${tls_dir}/server.key
      - --tls_client_ca=${tls_dir}/ca.pem
      - --collector_identities=${tls_dir}/collector-identities.txt
      - --admin_listen=0.0.0.0:9400
      - --log_format=${log_format}
    volumes:
      - aggregator-data:/var/lib/tally/aggregator
$(tls_mounts ca.pem server.pem server.key collector-identities.txt)
    # The admin port on the host's loopback only: /metrics and /healthz for
    # a Prometheus or curl on the host, never beyond it.
    ports:
      - "127.0.0.1:7400:7400"
      - "127.0.0.1:9400:9400"
    # A real read over gRPC and TLS (127.0.0.1 is in the server
    # certificate): GetResults answers once the store is open and the state
    # rebuilt. The collectors and the relay start only after it.
    healthcheck:
      test: ["CMD", "tallyctl", "results", "--aggregator=127.0.0.1:7400", "--tls_ca=${tls_dir}/ca.pem", "--timeout_ms=2000"]
      interval: 5s
      timeout: 4s
      retries: 5
      start_period: 60s
    stop_grace_period: ${stop_grace}
    restart: unless-stopped

EOF
  port=7501
  for region in "${regions[@]}"; do
    cat <<EOF
  collector-${region}:
    image: ${image}
    pull_policy: never
    command:
      - tally-collector
      - --region=${region}
      - --listen=0.0.0.0:7500
      - --data_dir=/var/lib/tally/collector
      - --aggregator=aggregator:7400
      - --shutdown_grace_ms=5000
      - --tls_cert=${tls_dir}/collector-${region}.pem
      - --tls_key=${tls_dir}/collector-${region}.key
      - --tls_ca=${tls_dir}/ca.pem
      - --station_tokens=${tls_dir}/station-tokens.txt
      - --admin_listen=0.0.0.0:9500
      - --log_format=${log_format}
    volumes:
      - collector-${region}-data:/var/lib/tally/collector
$(tls_mounts ca.pem "collector-${region}.pem" "collector-${region}.key" \
  station-tokens.txt)
    ports:
      - "127.0.0.1:${port}:7500"
    healthcheck:
      test: $(healthz_test 9500)
      interval: 5s
      timeout: 4s
      retries: 5
      start_period: 30s
    depends_on:
      aggregator:
        condition: service_healthy
    stop_grace_period: ${stop_grace}
    restart: unless-stopped

EOF
    port=$((port + 1))
  done
  cat <<EOF
  relay:
    image: ${image}
    pull_policy: never
    command:
      - tally-relay
      - --listen=0.0.0.0:7600
      - --upstream=aggregator:7400
      - --shutdown_grace_ms=5000
      - --tls_cert=${tls_dir}/server.pem
      - --tls_key=${tls_dir}/server.key
      - --tls_ca=${tls_dir}/ca.pem
      - --admin_listen=0.0.0.0:9600
      - --log_format=${log_format}
    volumes:
$(tls_mounts ca.pem server.pem server.key)
    ports:
      - "127.0.0.1:7600:7600"
    healthcheck:
      test: $(healthz_test 9600)
      interval: 5s
      timeout: 4s
      retries: 5
      start_period: 30s
    depends_on:
      aggregator:
        condition: service_healthy
    stop_grace_period: ${stop_grace}
    restart: unless-stopped

  gateway:
    image: ${image}
    pull_policy: never
    command:
      - tally-gateway
      - --listen=0.0.0.0:8080
      - --upstream=aggregator:7400
      - --feed=relay:7600
      - --web_dir=/usr/share/tally/web
      - --shutdown_grace_ms=5000
      - --tls_ca=${tls_dir}/ca.pem
      - --admin_listen=0.0.0.0:9800
      - --log_format=${log_format}
    volumes:
$(tls_mounts ca.pem)
    ports:
      - "8080:8080"
    healthcheck:
      test: $(healthz_test 9800)
      interval: 5s
      timeout: 4s
      retries: 5
      start_period: 10s
    depends_on:
      aggregator:
        condition: service_healthy
      relay:
        condition: service_healthy
    stop_grace_period: ${stop_grace}
    restart: unless-stopped

volumes:
  aggregator-data:
EOF
  for region in "${regions[@]}"; do
    echo "  collector-${region}-data:"
  done
} >"${tmp}"
chmod 644 "${tmp}"
mv "${tmp}" "${out}"
trap - EXIT

port=7501
: >"${here}/collectors.txt"
for region in "${regions[@]}"; do
  echo "${region}=127.0.0.1:${port}" >>"${here}/collectors.txt"
  port=$((port + 1))
done
echo "wrote ${out} and ${here}/collectors.txt (${#regions[@]} collectors)"
