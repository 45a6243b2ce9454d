#!/usr/bin/env bash
# A local tally cluster on 127.0.0.1: one tally-aggregator, one
# tally-collector per region of the election (the embedded reference
# election, or the definition file given with --definition), a
# tally-relay following the aggregator's feed and a tally-gateway serving
# the web page (reads from the aggregator, the feed through the relay),
# each with its own directory, log and PID file under RUNDIR. Ports are picked
# by the kernel (port 0) and read back from each server's serving line.
# Every gRPC connection uses TLS with certificates from a development CA
# (deploy/tls/gen-dev-certs.sh, into RUNDIR/tls), collectors prove their
# region to the aggregator with their certificates (mutual TLS) and station
# clients present a token; --insecure runs everything in plain text.
#
# --ha replaces the single aggregator by three replicas on a three-member
# etcd cluster (Debian's etcd-server, members under RUNDIR/etcd, TLS like
# the rest): RUNDIR/aggregator.txt then lists the three replicas
# (HOST:PORT,HOST:PORT,HOST:PORT), which collectors, the relay, the gateway
# and tallyctl take as a list (ingest follows the leader, reads use any).
# `cluster.sh leader` prints the leader's replica id and PID.
#
# --edge also starts the edge in front of the gateway: Debian's nginx as a
# caching reverse proxy (deploy/edge, configuration rendered into
# RUNDIR/edge/nginx.conf, its pid file, temporary files and cache there
# too), on a free loopback port (EDGE_LISTEN chooses it), written to
# RUNDIR/edge.txt.
#
#   cluster.sh start  [--build DIR] [--dir RUNDIR] [--fresh] [--insecure] [--ha]
#                     [--edge] [--definition DEF.json]
#   cluster.sh stop   [--dir RUNDIR]
#   cluster.sh status [--dir RUNDIR]
#   cluster.sh leader [--dir RUNDIR]
#   cluster.sh restart-replica N [--dir RUNDIR]   (--ha: aggregator-N again)
#
# start writes RUNDIR/aggregator.txt (HOST:PORT), RUNDIR/collectors.txt
# (region=HOST:PORT lines, the input of `tallyctl simulate
# --collectors_file`), RUNDIR/relay.txt and RUNDIR/gateway.txt (the web
# page's HOST:PORT; GATEWAY_LISTEN, default 127.0.0.1:0, chooses it) and
# RUNDIR/tallyctl.flags, the transport flags for tallyctl (use
# `tallyctl CMD --flagfile RUNDIR/tallyctl.flags`). See README.md in this
# directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"

command="${1:-}"
[[ $# -gt 0 ]] && shift
build="${repo}/build"
rundir=""
fresh=0
insecure=0
ha=0
edge=0
replica=""
definition_flags=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --dir) rundir="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    --insecure) insecure=1; shift ;;
    --ha) ha=1; shift ;;
    --edge) edge=1; shift ;;
    --definition)
      definition_flags=(--definition "$(cd "$(dirname "$2")" && pwd)/$(basename "$2")")
      shift 2 ;;
    [0-9]) replica="$1"; shift ;;
    *) echo "cluster.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
build="$(cd "${build}" 2>/dev/null && pwd || echo "${build}")"
rundir="${rundir:-${build}/local-cluster}"

aggregator_bin="${build}/services/aggregator/tally-aggregator"
collector_bin="${build}/services/collector/tally-collector"
tallyctl_bin="${build}/clients/tallyctl/tallyctl"
relay_bin="${build}/services/relay/tally-relay"
gateway_bin="${build}/services/gateway/tally-gateway"
gateway_listen="${GATEWAY_LISTEN:-127.0.0.1:0}"
# How long a server may take to print its serving line (a collector opens
# its outbox, the aggregator replays its store).
start_timeout_s="${START_TIMEOUT_S:-60}"
stop_timeout_s="${STOP_TIMEOUT_S:-30}"

die() { echo "cluster.sh: $*" >&2; exit 1; }

# A TCP port on 127.0.0.1 that nothing listens on now (etcd and the
# replicas need theirs before they start: peers and collectors are told).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until etcd member log $1 says it serves clients.
wait_etcd() {
  local log="$1" pidfile="$2" deadline
  deadline=$((SECONDS + start_timeout_s))
  while ((SECONDS < deadline)); do
    grep -q "serving client traffic" "${log}" 2>/dev/null && return 0
    if ! alive "${pidfile}" etcd; then
      echo "cluster.sh: etcd exited during start; ${log}:" >&2
      tail -n 20 "${log}" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "cluster.sh: etcd did not start within ${start_timeout_s}s; see ${log}" >&2
  return 1
}

# Three etcd members on free loopback ports, TLS (client and peer, with
# client certificates) unless --insecure. Writes RUNDIR/etcd.txt.
start_etcd() {
  local tls="$1" scheme=https cluster="" n
  ((insecure)) && scheme=http
  local client_ports=() peer_ports=()
  # A restart (no --fresh) reuses the members' ports: their data
  # directories record the peer URLs of the cluster.
  local ports_file="${rundir}/etcd/ports"
  if [[ -f "${ports_file}" ]]; then
    read -r -a client_ports < <(sed -n 1p "${ports_file}")
    read -r -a peer_ports < <(sed -n 2p "${ports_file}")
  else
    for n in 0 1 2; do
      client_ports+=("$(free_port)")
      peer_ports+=("$(free_port)")
    done
    mkdir -p "${rundir}/etcd"
    printf '%s\n' "${client_ports[*]}" "${peer_ports[*]}" >"${ports_file}"
  fi
  for n in 0 1 2; do
    cluster+="${cluster:+,}etcd-${n}=${scheme}://127.0.0.1:${peer_ports[n]}"
  done
  local endpoints=""
  for n in 0 1 2; do
    local dir="${rundir}/etcd/etcd-${n}" security=()
    mkdir -p "${dir}"
    if ((!insecure)); then
      security=(--cert-file "${tls}/server.pem" --key-file "${tls}/server.key"
        --trusted-ca-file "${tls}/ca.pem" --client-cert-auth
        --peer-cert-file "${tls}/server.pem"
        --peer-key-file "${tls}/server.key"
        --peer-trusted-ca-file "${tls}/ca.pem" --peer-client-cert-auth)
    fi
    : >"${dir}/etcd.log"
    # --snapshot-count bounds etcd's memory (its raft log is kept in RAM
    # up to that many entries); auto-compaction is off because the
    # aggregator leader compacts after truncating its log.
    etcd --name "etcd-${n}" --data-dir "${dir}/data" \
      --listen-client-urls "${scheme}://127.0.0.1:${client_ports[n]}" \
      --advertise-client-urls "${scheme}://127.0.0.1:${client_ports[n]}" \
      --listen-peer-urls "${scheme}://127.0.0.1:${peer_ports[n]}" \
      --initial-advertise-peer-urls "${scheme}://127.0.0.1:${peer_ports[n]}" \
      --initial-cluster "${cluster}" --initial-cluster-state new \
      --initial-cluster-token "tally-local-$$" \
      --heartbeat-interval 100 --election-timeout 1000 \
      --snapshot-count 2000 --quota-backend-bytes $((4 * 1024 * 1024 * 1024)) \
      --auto-compaction-retention 0 --logger zap --log-outputs stderr \
      "${security[@]}" >>"${dir}/etcd.log" 2>&1 &
    echo $! >"${dir}/etcd.pid"
    endpoints+="${endpoints:+,}127.0.0.1:${client_ports[n]}"
  done
  for n in 0 1 2; do
    wait_etcd "${rundir}/etcd/etcd-${n}/etcd.log" \
      "${rundir}/etcd/etcd-${n}/etcd.pid" || return 1
  done
  echo "${endpoints}" >"${rundir}/etcd.txt"
  echo "etcd serving on ${endpoints}"
}

# Starts the replica in directory $1 with its kept command line, in the
# background, appending to its log.
run_replica() {
  local dir="$1" argv
  mapfile -t argv <"${dir}/command"
  "${argv[@]}" >>"${dir}/aggregator.log" 2>&1 &
  echo $! >"${dir}/aggregator.pid"
}

# The three aggregator replicas; prints their addresses as a list.
start_replicas() {
  local tls="$1" etcd_endpoints n addresses=""
  etcd_endpoints="$(cat "${rundir}/etcd.txt")"
  local etcd_tls=()
  if ((!insecure)); then
    etcd_tls=(--etcd_tls_ca "${tls}/ca.pem" --etcd_tls_cert "${tls}/server.pem"
      --etcd_tls_key "${tls}/server.key")
  fi
  for n in 0 1 2; do
    local dir="${rundir}/aggregator-${n}" port
    mkdir -p "${dir}/data"
    # A restart keeps each replica's port (peers and clients knew it).
    port="$(cat "${dir}/port" 2>/dev/null || true)"
    if [[ -z "${port}" ]]; then
      port="$(free_port)"
      echo "${port}" >"${dir}/port"
    fi
    : >"${dir}/aggregator.log"
    # Kept, one argument per line, for `cluster.sh restart-replica`.
    printf '%s\n' "${aggregator_bin}" --listen "127.0.0.1:${port}" \
      --advertise "127.0.0.1:${port}" --replica_id "aggregator-${n}" \
      --etcd_endpoints "${etcd_endpoints}" "${etcd_tls[@]}" \
      "${aggregator_tls[@]}" --admin_listen 127.0.0.1:0 \
      --data_dir "${dir}/data" "${definition_flags[@]}" >"${dir}/command"
    run_replica "${dir}"
  done
  for n in 0 1 2; do
    local dir="${rundir}/aggregator-${n}" address
    address="$(wait_serving "${dir}/aggregator.log" "${dir}/aggregator.pid" \
      tally-aggregator)" || return 1
    addresses+="${addresses:+,}${address}"
    echo "aggregator-${n}=$(admin_of "${dir}/aggregator.log")" \
      >>"${rundir}/admin.txt"
  done
  echo "${addresses}"
}

# Whether the PID in $1 is alive and still runs the binary named $2 (a PID
# file may outlive its process, and the PID may have been reused).
alive() {
  local pidfile="$1" name="$2" pid
  [[ -f "${pidfile}" ]] || return 1
  pid="$(cat "${pidfile}")"
  [[ -n "${pid}" ]] && running "${pid}" || return 1
  [[ "$(cat "/proc/${pid}/comm" 2>/dev/null)" == "${name:0:15}" ]]
}

# Whether PID $1 runs: exists and is not a zombie (an exited server whose
# parent, this script's earlier run, is gone and whose reaper may not reap).
running() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "${state}" && "${state}" != Z && "${state}" != X ]]
}

# Waits for "serving on HOST:PORT" in log $1 of the process in $2; prints
# HOST:PORT.
wait_serving() {
  local log="$1" pidfile="$2" name="$3" deadline address
  deadline=$((SECONDS + start_timeout_s))
  while ((SECONDS < deadline)); do
    address="$(grep -m1 -o 'serving on [^ ]*' "${log}" 2>/dev/null |
      cut -d' ' -f3 || true)"
    if [[ -n "${address}" ]]; then
      echo "${address}"
      return 0
    fi
    if ! alive "${pidfile}" "${name}"; then
      echo "cluster.sh: ${name} exited during start; ${log}:" >&2
      tail -n 20 "${log}" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "cluster.sh: ${name} did not start within ${start_timeout_s}s; see ${log}" >&2
  return 1
}

# Prints the admin endpoint HOST:PORT from log $1 (the line follows the
# serving line at once); empty after a second without it.
admin_of() {
  local log="$1" tries=0 address
  while ((tries < 50)); do
    address="$(grep -m1 -o 'admin endpoint on http://[^/]*' "${log}" \
      2>/dev/null | sed 's|.*http://||' || true)"
    if [[ -n "${address}" ]]; then
      echo "${address}"
      return 0
    fi
    tries=$((tries + 1))
    sleep 0.02
  done
}

# nginx in front of the gateway(s) in $1 (HOST:PORT, comma-separated), in
# the foreground of a background job, unprivileged workers (as root, the
# master hands its workers to nobody, who must reach RUNDIR/edge).
start_edge() {
  local gateways="$1" dir="${rundir}/edge" listen gateway render_flags=()
  command -v nginx >/dev/null || die "nginx not found: install nginx (scripts/install-deps.sh)"
  mkdir -p "${dir}"
  chmod 0755 "${rundir}" "${dir}"
  listen="${EDGE_LISTEN:-127.0.0.1:$(free_port)}"
  for gateway in ${gateways//,/ }; do render_flags+=(--gateway "${gateway}"); done
  "${repo}/deploy/edge/render.sh" --listen "${listen}" --prefix "${dir}" \
    --max_files "$(ulimit -Hn)" "${render_flags[@]}" >"${dir}/nginx.conf"
  : >"${dir}/nginx.log"
  nginx -p "${dir}" -c "${dir}/nginx.conf" -g 'daemon off;' \
    >>"${dir}/nginx.log" 2>&1 &
  echo $! >"${rundir}/edge.pid"
  local deadline=$((SECONDS + start_timeout_s))
  until python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://${listen}/healthz" 2>/dev/null; do
    if ! alive "${rundir}/edge.pid" nginx; then
      echo "cluster.sh: nginx exited during start; ${dir}/nginx.log:" >&2
      tail -n 20 "${dir}/nginx.log" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: nginx did not serve within ${start_timeout_s}s" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "${listen}" >"${rundir}/edge.txt"
  echo "edge (nginx, caching) serving the results page on http://${listen}/"
}

start() {
  for bin in "${aggregator_bin}" "${collector_bin}" "${tallyctl_bin}" \
    "${relay_bin}" "${gateway_bin}"; do
    [[ -x "${bin}" ]] || die "${bin} not found: build first (or give --build DIR)"
  done
  if alive "${rundir}/aggregator.pid" tally-aggregator ||
    alive "${rundir}/aggregator-0/aggregator.pid" tally-aggregator; then
    die "already running in ${rundir} (cluster.sh stop --dir ${rundir})"
  fi
  if ((fresh)); then
    rm -rf "${rundir}/aggregator" "${rundir}"/aggregator-? "${rundir}/etcd" \
      "${rundir}/collectors" "${rundir}/relay" "${rundir}/gateway" \
      "${rundir}/edge"
  fi
  mkdir -p "${rundir}/aggregator/data" "${rundir}/collectors"
  rm -f "${rundir}/collectors.txt" "${rundir}/aggregator.txt" \
    "${rundir}/relay.txt" "${rundir}/gateway.txt" "${rundir}/admin.txt" \
    "${rundir}/edge.txt"

  local regions
  regions="$("${tallyctl_bin}" simulate --list_regions "${definition_flags[@]}")" ||
    die "cannot list the regions"

  # Transport flags of each kind of process, TLS unless --insecure.
  local tls="${rundir}/tls"
  local aggregator_tls=(--insecure) relay_tls=(--insecure)
  local gateway_tls=(--insecure)
  if ((insecure)); then
    echo "--insecure" >"${rundir}/tallyctl.flags"
  else
    # shellcheck disable=SC2086
    "${repo}/deploy/tls/gen-dev-certs.sh" "${tls}" ${regions} >/dev/null ||
      die "cannot make the development certificates in ${tls}"
    aggregator_tls=(--tls_cert "${tls}/server.pem" --tls_key "${tls}/server.key"
      --tls_client_ca "${tls}/ca.pem"
      --collector_identities "${tls}/collector-identities.txt")
    relay_tls=(--tls_cert "${tls}/server.pem" --tls_key "${tls}/server.key"
      --tls_ca "${tls}/ca.pem")
    gateway_tls=(--tls_ca "${tls}/ca.pem")
    printf -- '--tls_ca=%s\n--token_file=%s\n' "${tls}/ca.pem" \
      "${tls}/station-client.token" >"${rundir}/tallyctl.flags"
  fi
  local tallyctl_flags=(--flagfile "${rundir}/tallyctl.flags")

  local aggregator
  : >"${rundir}/admin.txt"
  if ((ha)); then
    command -v etcd >/dev/null || die "etcd not found: install etcd-server"
    echo ha >"${rundir}/mode"
    if ! start_etcd "${tls}" || ! aggregator="$(start_replicas "${tls}")"; then
      stop
      exit 1
    fi
    echo "${aggregator}" >"${rundir}/aggregator.txt"
    echo "3 aggregator replicas serving on ${aggregator}"
  else
    echo single >"${rundir}/mode"
    local log="${rundir}/aggregator/aggregator.log"
    : >"${log}"
    # Every server also opens an admin endpoint (/metrics, /healthz) on a
    # free loopback port; the addresses go to ${rundir}/admin.txt.
    "${aggregator_bin}" --listen 127.0.0.1:0 "${aggregator_tls[@]}" \
      --admin_listen 127.0.0.1:0 \
      --data_dir "${rundir}/aggregator/data" "${definition_flags[@]}" \
      >>"${log}" 2>&1 &
    echo $! >"${rundir}/aggregator.pid"
    if ! aggregator="$(wait_serving "${log}" "${rundir}/aggregator.pid" \
      tally-aggregator)"; then
      stop
      exit 1
    fi
    echo "${aggregator}" >"${rundir}/aggregator.txt"
    echo "aggregator=$(admin_of "${log}")" >>"${rundir}/admin.txt"
    echo "aggregator serving on ${aggregator}; metrics on" \
      "http://$(admin_of "${log}")/metrics"
  fi

  # Start every collector, then wait for all: they open their stores in
  # parallel.
  for region in ${regions}; do
    local dir="${rundir}/collectors/${region}"
    mkdir -p "${dir}/data"
    : >"${dir}/collector.log"
    local collector_tls=(--insecure)
    if ((!insecure)); then
      collector_tls=(--tls_cert "${tls}/collector-${region}.pem"
        --tls_key "${tls}/collector-${region}.key" --tls_ca "${tls}/ca.pem"
        --station_tokens "${tls}/station-tokens.txt")
    fi
    "${collector_bin}" --region "${region}" --data_dir "${dir}/data" \
      --listen 127.0.0.1:0 --aggregator "${aggregator}" "${collector_tls[@]}" \
      --admin_listen 127.0.0.1:0 "${definition_flags[@]}" \
      >>"${dir}/collector.log" 2>&1 &
    echo $! >"${dir}/collector.pid"
  done
  local lines=""
  for region in ${regions}; do
    local dir="${rundir}/collectors/${region}" address
    if ! address="$(wait_serving "${dir}/collector.log" \
      "${dir}/collector.pid" tally-collector)"; then
      stop
      exit 1
    fi
    lines+="${region}=${address}"$'\n'
    echo "collector-${region}=$(admin_of "${dir}/collector.log")" \
      >>"${rundir}/admin.txt"
  done
  printf '%s' "${lines}" >"${rundir}/collectors.txt"
  echo "$(wc -l <"${rundir}/collectors.txt") collectors serving; addresses in ${rundir}/collectors.txt"

  # The viewer tier: a relay on the aggregator's feed, and the gateway
  # reading from the aggregator and watching through the relay.
  mkdir -p "${rundir}/relay" "${rundir}/gateway"
  : >"${rundir}/relay/relay.log"
  "${relay_bin}" --listen 127.0.0.1:0 --upstream "${aggregator}" \
    "${relay_tls[@]}" --admin_listen 127.0.0.1:0 \
    >>"${rundir}/relay/relay.log" 2>&1 &
  echo $! >"${rundir}/relay.pid"
  local relay
  if ! relay="$(wait_serving "${rundir}/relay/relay.log" \
    "${rundir}/relay.pid" tally-relay)"; then
    stop
    exit 1
  fi
  echo "${relay}" >"${rundir}/relay.txt"
  echo "relay=$(admin_of "${rundir}/relay/relay.log")" >>"${rundir}/admin.txt"
  echo "relay serving on ${relay}"
  : >"${rundir}/gateway/gateway.log"
  "${gateway_bin}" --listen "${gateway_listen}" --upstream "${aggregator}" \
    --feed "${relay}" --web_dir "${repo}/clients/web" "${gateway_tls[@]}" \
    --admin_listen 127.0.0.1:0 >>"${rundir}/gateway/gateway.log" 2>&1 &
  echo $! >"${rundir}/gateway.pid"
  local gateway
  if ! gateway="$(wait_serving "${rundir}/gateway/gateway.log" \
    "${rundir}/gateway.pid" tally-gateway)"; then
    stop
    exit 1
  fi
  echo "${gateway}" >"${rundir}/gateway.txt"
  echo "gateway=$(admin_of "${rundir}/gateway/gateway.log")" \
    >>"${rundir}/admin.txt"
  echo "gateway serving the results page on http://${gateway}/"
  if ((edge)) && ! start_edge "${gateway}"; then
    stop
    exit 1
  fi

  # Healthy: the aggregator answers a query.
  "${tallyctl_bin}" results "${tallyctl_flags[@]}" --aggregator "${aggregator}" \
    --timeout_ms 5000 \
    >/dev/null || die "the aggregator at ${aggregator} does not answer"
  echo "cluster running in ${rundir}"
}

# SIGTERM, then wait for the process to drain and exit.
stop_one() {
  local pidfile="$1" name="$2" pid deadline
  if ! alive "${pidfile}" "${name}"; then
    rm -f "${pidfile}"
    return 0
  fi
  pid="$(cat "${pidfile}")"
  kill -TERM "${pid}"
  deadline=$((SECONDS + stop_timeout_s))
  while running "${pid}"; do
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: ${name} (pid ${pid}) still running after ${stop_timeout_s}s" >&2
      return 1
    fi
    sleep 0.1
  done
  rm -f "${pidfile}"
}

stop() {
  local status=0 pidfile
  # Viewers first, then the collectors (they drain their outboxes to the
  # aggregator), the aggregator last.
  stop_one "${rundir}/edge.pid" nginx || status=1
  stop_one "${rundir}/gateway.pid" tally-gateway || status=1
  stop_one "${rundir}/relay.pid" tally-relay || status=1
  for pidfile in "${rundir}"/collectors/*/collector.pid; do
    [[ -e "${pidfile}" ]] || continue
    stop_one "${pidfile}" tally-collector || status=1
  done
  stop_one "${rundir}/aggregator.pid" tally-aggregator || status=1
  for pidfile in "${rundir}"/aggregator-?/aggregator.pid; do
    [[ -e "${pidfile}" ]] || continue
    stop_one "${pidfile}" tally-aggregator || status=1
  done
  # etcd last: replicas resign through it.
  for pidfile in "${rundir}"/etcd/etcd-?/etcd.pid; do
    [[ -e "${pidfile}" ]] || continue
    stop_one "${pidfile}" etcd || status=1
  done
  ((status == 0)) && echo "cluster in ${rundir} stopped"
  return "${status}"
}

status() {
  local running=0 total=0 pidfile state
  if [[ "$(cat "${rundir}/mode" 2>/dev/null)" == ha ]]; then
    local n
    for n in 0 1 2; do
      total=$((total + 1))
      if alive "${rundir}/etcd/etcd-${n}/etcd.pid" etcd; then
        running=$((running + 1))
        state=running
      else
        state=stopped
      fi
      echo "etcd-${n} $(cut -d, -f$((n + 1)) "${rundir}/etcd.txt" 2>/dev/null) ${state}"
    done
    for n in 0 1 2; do
      total=$((total + 1))
      if alive "${rundir}/aggregator-${n}/aggregator.pid" tally-aggregator; then
        running=$((running + 1))
        state=running
      else
        state=stopped
      fi
      echo "aggregator-${n} $(cut -d, -f$((n + 1)) "${rundir}/aggregator.txt" 2>/dev/null) ${state}"
    done
  else
    if alive "${rundir}/aggregator.pid" tally-aggregator; then
      state=running
    else
      state=stopped
    fi
    echo "aggregator $(cat "${rundir}/aggregator.txt" 2>/dev/null || echo -) ${state}"
    [[ "${state}" == running ]] && running=$((running + 1))
    total=1
  fi
  local name
  for name in relay gateway edge; do
    [[ -e "${rundir}/${name}.txt" ]] || continue
    total=$((total + 1))
    local binary="tally-${name}"
    [[ "${name}" == edge ]] && binary=nginx
    if alive "${rundir}/${name}.pid" "${binary}"; then
      running=$((running + 1))
      state=running
    else
      state=stopped
    fi
    echo "${name} $(cat "${rundir}/${name}.txt") ${state}"
  done
  for pidfile in "${rundir}"/collectors/*/collector.pid; do
    [[ -e "${pidfile}" ]] || continue
    local region
    region="$(basename "$(dirname "${pidfile}")")"
    total=$((total + 1))
    if alive "${pidfile}" tally-collector; then
      running=$((running + 1))
      state=running
    else
      state=stopped
    fi
    echo "collector ${region} $(grep "^${region}=" "${rundir}/collectors.txt" 2>/dev/null | cut -d= -f2 || echo -) ${state}"
  done
  echo "${running}/${total} running"
  ((running == total))
}

# The replica that leads now: "aggregator-N PID" (asked of the replicas
# themselves, with tallyctl replicas).
leader() {
  # A cluster just started, or one whose leader just died, may still be
  # electing: ask again for up to 30 s before saying there is none.
  local answer="" line="" deadline=$((SECONDS + 30))
  while true; do
    answer="$("${tallyctl_bin}" replicas --flagfile "${rundir}/tallyctl.flags" \
      --aggregator "$(cat "${rundir}/aggregator.txt")" --timeout_ms 3000 2>&1)"
    line="$(awk '$2 == "LEADER" {print $1; exit}' <<<"${answer}")"
    [[ -z "${line}" && ${SECONDS} -lt ${deadline} ]] || break
    sleep 0.5
  done
  [[ -n "${line}" ]] || die "no leader in 30 s: ${answer}"
  echo "${line} $(cat "${rundir}/${line}/aggregator.pid" 2>/dev/null)"
}

# Starts replica aggregator-N again (after a crash or a kill), on the
# same port, data directory and flags; it resumes from its store and the
# etcd log, as a follower unless nobody else leads.
restart_replica() {
  local n="$1" dir
  dir="${rundir}/aggregator-${n}"
  [[ -f "${dir}/command" ]] || die "no replica aggregator-${n} in ${rundir}"
  if alive "${dir}/aggregator.pid" tally-aggregator; then
    die "aggregator-${n} is running"
  fi
  local from
  from="$(wc -l <"${dir}/aggregator.log")"
  run_replica "${dir}"
  # Only the lines of this start count as its serving line.
  local deadline=$((SECONDS + 120))
  until tail -n +"$((from + 1))" "${dir}/aggregator.log" |
    grep -q "serving on "; do
    alive "${dir}/aggregator.pid" tally-aggregator ||
      die "aggregator-${n} exited: $(tail -n 3 "${dir}/aggregator.log")"
    ((SECONDS < deadline)) || die "aggregator-${n} did not start in 120 s"
    sleep 0.1
  done
  echo "aggregator-${n} serving again"
}

case "${command}" in
  start) start ;;
  restart-replica) restart_replica "${replica}" ;;
  stop) stop ;;
  status) status ;;
  leader) leader ;;
  *)
    echo "usage: cluster.sh start|stop|status|leader|restart-replica N [--build DIR] [--dir RUNDIR] [--fresh] [--insecure] [--ha] [--edge] [--definition DEF.json]" >&2
    exit 2
    ;;
esac
