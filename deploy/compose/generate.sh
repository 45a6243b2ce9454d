#!/usr/bin/env bash
# Writes compose.yaml (and collectors.txt and edge.conf) in this directory:
# a three-member etcd cluster, three aggregator replicas on it, one
# collector per region of the election definition, a relay, the gateway
# and the edge in front of it (nginx from the same image, its
# configuration edge.conf rendered by deploy/edge/render.sh). The region list
# comes from `tallyctl simulate --list_regions`, so the file follows the
# definition; compose.yaml is committed, rerun this after changing the
# regions.
#
#   generate.sh [--tallyctl PATH] [--definition FILE]
#
# Ports inside the containers: etcd 2379 (clients), 2380 (peers) and 2381
# (--listen-metrics-urls: GET /metrics, GET /health); aggregator replicas
# 7400, collectors 7500, relay 7600, gateway 8080, and each tally server's
# admin HTTP port (--admin_listen: GET /metrics, GET /healthz): aggregator
# 9400, collectors 9500, relay 9600, gateway 9800; the edge 8081. On the
# host, the gateway is published on 8080 and the edge on 8081 for
# everyone, and the gRPC ports on 127.0.0.1 only: replica aggregator-N on
# 7400+N, relay 7600, the collector of the i-th region 7501+i-1 (collectors.txt lists them in the format of `tallyctl
# simulate --collectors_file`). Of the admin ports only the replicas' are
# published, aggregator-N's on 127.0.0.1:9400+N; the others, and etcd, are
# reached inside the compose network (e.g. by a Prometheus container, or
# `exec etcd-0 etcdctl ...`).
#
# Every client of the aggregator (collectors, relay, gateway) is given the
# list of the three replicas and follows the leader itself.
#
# TLS: every server, the etcd members included, reads its certificates
# from deploy/compose/tls, made by `deploy/tls/gen-dev-certs.sh
# deploy/compose/tls` (README.md). Each container gets only the files it
# uses, bind-mounted read-only one by one under /etc/tally/tls; a missing
# file stops `up` instead of turning into an empty directory
# (create_host_path: false).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
# deploy/edge/render.sh of this repository (TALLY_SOURCE: of another
# checkout, for a copy of this script run elsewhere).
render="${TALLY_SOURCE:-${repo}}/deploy/edge/render.sh"
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
edge_prefix="/var/cache/tally-edge"
# Structured logs on stderr, one JSON object per line, for `docker compose
# logs` and whatever ships them.
log_format="json"
# Three etcd members (an odd number: one may fail and a quorum stands) and
# three aggregator replicas (one may fail while another takes over).
members=3
etcd_endpoints=""
initial_cluster=""
replica_list=""
for ((n = 0; n < members; n++)); do
  etcd_endpoints+="${etcd_endpoints:+,}etcd-${n}:2379"
  initial_cluster+="${initial_cluster:+,}etcd-${n}=https://etcd-${n}:2380"
  replica_list+="${replica_list:+,}aggregator-${n}:7400"
done

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

# depends_on entries: every service named PREFIX-0 ... PREFIX-(members-1),
# healthy.
#   depends_on_all PREFIX
depends_on_all() {
  local n
  for ((n = 0; n < members; n++)); do
    cat <<EOF
      $1-${n}:
        condition: service_healthy
EOF
  done
}

# etcd member etcd-N: TLS towards clients and peers, each side presenting
# a certificate of the dev CA; its data on the named volume etcd-N-data.
#   etcd_service N
etcd_service() {
  local n="$1"
  cat <<EOF
  etcd-${n}:
    image: ${image}
    pull_policy: never
    command:
      - etcd
      - --name=etcd-${n}
      - --data-dir=/var/lib/tally/etcd/data
      - --listen-client-urls=https://0.0.0.0:2379
      - --advertise-client-urls=https://etcd-${n}:2379
      - --listen-peer-urls=https://0.0.0.0:2380
      - --initial-advertise-peer-urls=https://etcd-${n}:2380
      - --initial-cluster=${initial_cluster}
      - --initial-cluster-state=new
      - --initial-cluster-token=tally
      - --listen-metrics-urls=http://0.0.0.0:2381
      - --heartbeat-interval=100
      - --election-timeout=1000
      - --snapshot-count=2000
      - --quota-backend-bytes=4294967296
      - --auto-compaction-retention=0
      - --cert-file=${tls_dir}/server.pem
      - --key-file=${tls_dir}/server.key
      - --trusted-ca-file=${tls_dir}/ca.pem
      - --client-cert-auth
      - --peer-cert-file=${tls_dir}/server.pem
      - --peer-key-file=${tls_dir}/server.key
      - --peer-trusted-ca-file=${tls_dir}/ca.pem
      - --peer-client-cert-auth
      - --logger=zap
      - --log-outputs=stderr
    volumes:
      - etcd-${n}-data:/var/lib/tally/etcd
$(tls_mounts ca.pem server.pem server.key)
    # etcdctl over TLS with the member's certificate: healthy while the
    # member serves a linearizable read, that is while a quorum stands.
    healthcheck:
      test: ["CMD", "etcdctl", "--endpoints=https://127.0.0.1:2379", "--cacert=${tls_dir}/ca.pem", "--cert=${tls_dir}/server.pem", "--key=${tls_dir}/server.key", "--dial-timeout=2s", "--command-timeout=2s", "endpoint", "health"]
      interval: 5s
      timeout: 5s
      retries: 5
      start_period: 30s
    stop_grace_period: ${stop_grace}
    restart: unless-stopped

EOF
}

# Aggregator replica aggregator-N on the etcd cluster. aggregator-0 builds
# the image, the others use it.
#   aggregator_service N
aggregator_service() {
  local n="$1"
  echo "  aggregator-${n}:"
  if ((n == 0)); then
    cat <<EOF
    build:
      context: ../..
      dockerfile: deploy/docker/Dockerfile
EOF
  else
    echo "    pull_policy: never"
  fi
  cat <<EOF
    image: ${image}
    command:
      - tally-aggregator
      - --listen=0.0.0.0:7400
      - --data_dir=/var/lib/tally/aggregator
      - --etcd_endpoints=${etcd_endpoints}
      - --replica_id=aggregator-${n}
      - --advertise=aggregator-${n}:7400
      - --shutdown_grace_ms=5000
      - --tls_cert=${tls_dir}/server.pem
      - --tls_key=${tls_dir}/server.key
      - --tls_client_ca=${tls_dir}/ca.pem
      - --collector_identities=${tls_dir}/collector-identities.txt
      - --etcd_tls_ca=${tls_dir}/ca.pem
      - --etcd_tls_cert=${tls_dir}/server.pem
      - --etcd_tls_key=${tls_dir}/server.key
      - --peer_tls_ca=${tls_dir}/ca.pem
      - --admin_listen=0.0.0.0:9400
      - --log_format=${log_format}
    volumes:
      - aggregator-${n}-data:/var/lib/tally/aggregator
$(tls_mounts ca.pem server.pem server.key collector-identities.txt)
    # The admin port on the host's loopback only: /metrics and /healthz for
    # a Prometheus or curl on the host, never beyond it.
    ports:
      - "127.0.0.1:$((7400 + n)):7400"
      - "127.0.0.1:$((9400 + n)):9400"
    # A real read over gRPC and TLS (127.0.0.1 is in the server
    # certificate): GetResults answers once the store is open and the state
    # rebuilt, on a follower as on the leader. The collectors and the relay
    # start only after it.
    healthcheck:
      test: ["CMD", "tallyctl", "results", "--aggregator=127.0.0.1:7400", "--tls_ca=${tls_dir}/ca.pem", "--timeout_ms=2000"]
      interval: 5s
      timeout: 4s
      retries: 5
      start_period: 60s
    depends_on:
$(depends_on_all etcd)
    stop_grace_period: ${stop_grace}
    # Also restarts a replica that found no etcd quorum at start and
    # exited (Docker Compose waits for healthy members, podman-compose
    # does not).
    restart: unless-stopped

EOF
}

out="${here}/compose.yaml"
tmp="$(mktemp "${out}.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
{
  cat <<EOF
# tally on one Docker host: a three-member etcd cluster, three aggregator
# replicas on it, one collector per region (${#regions[@]}), relay, gateway
# and the edge (nginx caching the gateway, configured by edge.conf).
# Written by deploy/compose/generate.sh from \`tallyctl simulate
# --list_regions\`: edit the script, not this file.
#
#   docker compose -f deploy/compose/compose.yaml build aggregator-0
#   docker compose -f deploy/compose/compose.yaml up -d
#
# Certificates first (README.md): deploy/tls/gen-dev-certs.sh deploy/compose/tls
# See README.md in this directory for TLS, the health checks and ports.
name: tally

services:
EOF
  for ((n = 0; n < members; n++)); do
    etcd_service "${n}"
  done
  for ((n = 0; n < members; n++)); do
    aggregator_service "${n}"
  done
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
      - --aggregator=${replica_list}
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
$(depends_on_all aggregator)
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
      - --upstream=${replica_list}
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
$(depends_on_all aggregator)
    stop_grace_period: ${stop_grace}
    restart: unless-stopped

  gateway:
    image: ${image}
    pull_policy: never
    command:
      - tally-gateway
      - --listen=0.0.0.0:8080
      - --upstream=${replica_list}
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
$(depends_on_all aggregator)
      relay:
        condition: service_healthy
    stop_grace_period: ${stop_grace}
    restart: unless-stopped

  # The edge: nginx caching the gateway's JSON (deploy/edge), unprivileged,
  # its pid file, temporary files and cache in the image's ${edge_prefix}
  # (a cache: nothing to keep).
  edge:
    image: ${image}
    pull_policy: never
    command:
      - nginx
      - -p
      - ${edge_prefix}
      - -c
      - /etc/tally/edge/nginx.conf
      - -g
      - daemon off;
    volumes:
      - type: bind
        source: ./edge.conf
        target: /etc/tally/edge/nginx.conf
        read_only: true
        bind:
          create_host_path: false
    ports:
      - "8081:8081"
    healthcheck:
      test: $(healthz_test 8081)
      interval: 5s
      timeout: 4s
      retries: 5
      start_period: 5s
    depends_on:
      gateway:
        condition: service_healthy
    stop_grace_period: ${stop_grace}
    restart: unless-stopped

volumes:
EOF
  for ((n = 0; n < members; n++)); do
    echo "  etcd-${n}-data:"
  done
  for ((n = 0; n < members; n++)); do
    echo "  aggregator-${n}-data:"
  done
  for region in "${regions[@]}"; do
    echo "  collector-${region}-data:"
  done
} >"${tmp}"
chmod 644 "${tmp}"
mv "${tmp}" "${out}"
trap - EXIT

"${render}" --listen 0.0.0.0:8081 --gateway gateway:8080 \
  --prefix "${edge_prefix}" >"${here}/edge.conf"

port=7501
: >"${here}/collectors.txt"
for region in "${regions[@]}"; do
  echo "${region}=127.0.0.1:${port}" >>"${here}/collectors.txt"
  port=$((port + 1))
done
echo "wrote ${out}, ${here}/edge.conf and ${here}/collectors.txt (${#regions[@]} collectors," \
  "${members} etcd members, ${members} aggregator replicas)"
