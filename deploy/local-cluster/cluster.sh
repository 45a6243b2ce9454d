#!/usr/bin/env bash
# A local tally cluster on 127.0.0.1: one tally-aggregator, one
# tally-collector per region of the embedded reference election, a
# tally-relay following the aggregator's feed and a tally-gateway serving
# the web page (reads from the aggregator, the feed through the relay),
# each with its own directory, log and PID file under RUNDIR. Ports are picked
# by the kernel (port 0) and read back from each server's serving line.
# Every gRPC connection uses TLS with certificates from a development CA
# (deploy/tls/gen-dev-certs.sh, into RUNDIR/tls), collectors prove their
# region to the aggregator with their certificates (mutual TLS) and station
# clients present a token; --insecure runs everything in plain text.
#
#   cluster.sh start  [--build DIR] [--dir RUNDIR] [--fresh] [--insecure]
#   cluster.sh stop   [--dir RUNDIR]
#   cluster.sh status [--dir RUNDIR]
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
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --dir) rundir="$2"; shift 2 ;;
    --fresh) fresh=1; shift ;;
    --insecure) insecure=1; shift ;;
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

start() {
  for bin in "${aggregator_bin}" "${collector_bin}" "${tallyctl_bin}" \
    "${relay_bin}" "${gateway_bin}"; do
    [[ -x "${bin}" ]] || die "${bin} not found: build first (or give --build DIR)"
  done
  if alive "${rundir}/aggregator.pid" tally-aggregator; then
    die "already running in ${rundir} (cluster.sh stop --dir ${rundir})"
  fi
  if ((fresh)); then
    rm -rf "${rundir}/aggregator" "${rundir}/collectors" "${rundir}/relay" \
      "${rundir}/gateway"
  fi
  mkdir -p "${rundir}/aggregator/data" "${rundir}/collectors"
  rm -f "${rundir}/collectors.txt" "${rundir}/aggregator.txt" \
    "${rundir}/relay.txt" "${rundir}/gateway.txt" "${rundir}/admin.txt"

  local regions
  regions="$("${tallyctl_bin}" simulate --list_regions)" ||
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

  local log="${rundir}/aggregator/aggregator.log"
  : >"${log}"
  # Every server also opens an admin endpoint (/metrics, /healthz) on a
  # free loopback port; the addresses go to ${rundir}/admin.txt.
  "${aggregator_bin}" --listen 127.0.0.1:0 "${aggregator_tls[@]}" \
    --admin_listen 127.0.0.1:0 \
    --data_dir "${rundir}/aggregator/data" >>"${log}" 2>&1 &
  echo $! >"${rundir}/aggregator.pid"
  local aggregator
  if ! aggregator="$(wait_serving "${log}" "${rundir}/aggregator.pid" \
    tally-aggregator)"; then
    stop
    exit 1
  fi
  echo "${aggregator}" >"${rundir}/aggregator.txt"
  echo "aggregator=$(admin_of "${log}")" >"${rundir}/admin.txt"
  echo "aggregator serving on ${aggregator}; metrics on" \
    "http://$(admin_of "${log}")/metrics"

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
      --admin_listen 127.0.0.1:0 >>"${dir}/collector.log" 2>&1 &
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
  stop_one "${rundir}/gateway.pid" tally-gateway || status=1
  stop_one "${rundir}/relay.pid" tally-relay || status=1
  for pidfile in "${rundir}"/collectors/*/collector.pid; do
    [[ -e "${pidfile}" ]] || continue
    stop_one "${pidfile}" tally-collector || status=1
  done
  stop_one "${rundir}/aggregator.pid" tally-aggregator || status=1
  ((status == 0)) && echo "cluster in ${rundir} stopped"
  return "${status}"
}

status() {
  local running=0 total=0 pidfile state
  if alive "${rundir}/aggregator.pid" tally-aggregator; then
    state=running
  else
    state=stopped
  fi
  echo "aggregator $(cat "${rundir}/aggregator.txt" 2>/dev/null || echo -) ${state}"
  [[ "${state}" == running ]] && running=$((running + 1))
  total=1
  local name
  for name in relay gateway; do
    [[ -e "${rundir}/${name}.txt" ]] || continue
    total=$((total + 1))
    if alive "${rundir}/${name}.pid" "tally-${name}"; then
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

case "${command}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: cluster.sh start|stop|status [--build DIR] [--dir RUNDIR] [--fresh] [--insecure]" >&2
    exit 2
    ;;
esac
