#!/usr/bin/env bash
# The multi-host set-up shared by tests/multihost/netns_test.sh and
# tests/fault/lossy_network_test.sh, sourced by them (not run on its own):
# network namespaces on a bridge (aggregator, relay, two collectors with
# their station LANs, a viewer), dev TLS certificates, the reference night
# of the two smallest regions on a sliced definition, the four servers
# started and healthy, and the helpers the scenarios use (submit, status,
# drain, results, metrics). tests/multihost/README.md describes the
# topology.
#
# The sourcing script sets, before sourcing:
#   test_name   its name, for log lines and the temp dir (tally-NAME.*)
#   ns_prefix   a short prefix of its namespace names (PID appended)
# and passes its arguments (SOURCE_DIR BUILD_DIR ...) through: "$@" of the
# sourcing script is what this file reads as $1 and $2. On exit the trap
# runs every command in cleanup_hooks, stops the servers, ends what is left
# in the namespaces and deletes them; the temp dir is kept on failure.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: ${test_name}.sh SOURCE_DIR BUILD_DIR" >&2
  exit 2
fi
source_dir="$(cd "$1" && pwd)"
build_dir="$(cd "$2" && pwd)"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

aggregator_bin="${build_dir}/services/aggregator/tally-aggregator"
collector_bin="${build_dir}/services/collector/tally-collector"
relay_bin="${build_dir}/services/relay/tally-relay"
tallyctl_bin="${build_dir}/clients/tallyctl/tallyctl"
# Debian's interpreter: its python3-grpcio reads the collector's status.
python=/usr/bin/python3
[[ -x "${python}" ]] || python=python3
check=("${python}" "${here}/netns_check.py")

# Bounds of every wait, in seconds; the whole test takes about 20 s.
start_timeout=30
call_timeout=60
outage_timeout=60
drain_timeout=90
metrics_timeout=15
stop_timeout=15

# gRPC clients honour proxy variables; the namespaces have no proxy.
unset http_proxy https_proxy grpc_proxy HTTP_PROXY HTTPS_PROXY no_proxy \
  NO_PROXY

log() { echo "${test_name}: $*"; }
fail() {
  echo "${test_name}: FAILED: $*" >&2
  exit 1
}
skip() {
  echo "SKIP: network namespaces unavailable: $*"
  exit 77
}

for bin in "${aggregator_bin}" "${collector_bin}" "${relay_bin}" \
  "${tallyctl_bin}"; do
  [[ -x "${bin}" ]] || fail "${bin} not found: build first"
done

command -v ip >/dev/null 2>&1 ||
  skip "the ip command is missing (Debian package iproute2)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/tally-${test_name}.XXXXXX")"
id="${ns_prefix}$$"
ns_switch="${id}-switch"
ns_agg="${id}-agg"
ns_relay="${id}-relay"
ns_col_a="${id}-col-a"
ns_col_b="${id}-col-b"
ns_sta_a="${id}-stations-a"
ns_sta_b="${id}-stations-b"
ns_viewer="${id}-viewer"
namespaces=()   # created so far, deleted on exit
declare -A pids # server name -> PID
servers=()      # in start order; stopped in reverse

running() {
  local state
  state="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "${state}" && "${state}" != Z && "${state}" != X ]]
}

stop_servers() {
  local i name pid deadline
  for ((i = ${#servers[@]} - 1; i >= 0; i--)); do
    name="${servers[i]}"
    pid="${pids[${name}]}"
    running "${pid}" && kill -TERM "${pid}" 2>/dev/null
    deadline=$((SECONDS + stop_timeout))
    while running "${pid}" && ((SECONDS < deadline)); do sleep 0.1; done
    if running "${pid}"; then
      echo "${test_name}: ${name} (pid ${pid}) ignored SIGTERM; killing" >&2
      kill -KILL "${pid}" 2>/dev/null
    fi
    wait "${pid}" 2>/dev/null
  done
  servers=()
}

# Commands a test adds to run first on exit (its own helpers to stop).
cleanup_hooks=()

cleanup() {
  local status=$? ns pid hook
  set +e
  trap - EXIT INT TERM
  for hook in "${cleanup_hooks[@]}"; do eval "${hook}"; done
  stop_servers
  for ns in "${namespaces[@]}"; do
    # Anything still inside (a client cut off by a timeout) was started
    # here: end it by PID before the namespace goes.
    for pid in $(ip netns pids "${ns}" 2>/dev/null); do
      kill -KILL "${pid}" 2>/dev/null
    done
    ip netns del "${ns}" 2>/dev/null ||
      echo "${test_name}: could not delete namespace ${ns}" >&2
  done
  if ((status == 0 || status == 77)); then
    rm -rf "${tmp}"
  else
    local file
    for file in "${tmp}"/*.log; do
      [[ -s "${file}" ]] || continue
      echo "---- tail of ${file}" >&2
      tail -n 15 "${file}" >&2
    done
    echo "${test_name}: logs kept in ${tmp}" >&2
  fi
  exit "${status}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- network

if ! error="$(ip netns add "${ns_switch}" 2>&1)"; then
  skip "ip netns add: ${error}"
fi
namespaces+=("${ns_switch}")
if ! error="$(ip -n "${ns_switch}" link add br0 type bridge \
  forward_delay 0 stp_state 0 2>&1)"; then
  skip "no Linux bridge in a namespace: ${error}"
fi
ip -n "${ns_switch}" link set lo up
ip -n "${ns_switch}" link set br0 up

new_host() {
  ip netns add "$1"
  namespaces+=("$1")
  ip -n "$1" link set lo up
}

# A host's eth0 on the switch (switch side: port PORT) with ADDRESS/24.
plug() {
  local host="$1" port="$2" address="$3" error
  if ! error="$(ip -n "${ns_switch}" link add "${port}" type veth \
    peer name eth0 netns "${host}" 2>&1)"; then
    skip "no veth pairs between namespaces: ${error}"
  fi
  ip -n "${ns_switch}" link set "${port}" master br0
  ip -n "${ns_switch}" link set "${port}" up
  ip -n "${host}" addr add "${address}/24" dev eth0
  ip -n "${host}" link set eth0 up
}

# A point-to-point regional LAN: lan0 on both hosts.
lan() {
  local collector="$1" collector_address="$2" stations="$3"
  local stations_address="$4"
  ip -n "${collector}" link add lan0 type veth peer name lan0 \
    netns "${stations}"
  ip -n "${collector}" addr add "${collector_address}/24" dev lan0
  ip -n "${stations}" addr add "${stations_address}/24" dev lan0
  ip -n "${collector}" link set lan0 up
  ip -n "${stations}" link set lan0 up
}

for ns in "${ns_agg}" "${ns_relay}" "${ns_col_a}" "${ns_col_b}" \
  "${ns_sta_a}" "${ns_sta_b}" "${ns_viewer}"; do
  new_host "${ns}"
done
plug "${ns_agg}" p-agg 10.77.0.1
plug "${ns_relay}" p-relay 10.77.0.2
plug "${ns_col_a}" p-col-a 10.77.0.11
plug "${ns_col_b}" p-col-b 10.77.0.12
plug "${ns_viewer}" p-viewer 10.77.0.100
lan "${ns_col_a}" 10.77.1.1 "${ns_sta_a}" 10.77.1.10
lan "${ns_col_b}" 10.77.2.1 "${ns_sta_b}" 10.77.2.10

aggregator=10.77.0.1:7400
relay=10.77.0.2:7400
collector_a=10.77.1.1:7500
collector_b=10.77.2.1:7500
log "namespaces ${id}-*: agg ${aggregator}, relay ${relay}, col-a ${collector_a}, col-b ${collector_b}"

# Admin endpoints (plain HTTP: /metrics, /healthz) and the host each is
# scraped from: a collector's on its LAN address, which stays reachable
# from its stations host while its core link is cut.
declare -A admin=(
  [aggregator]=10.77.0.1:9400 [relay]=10.77.0.2:9400
  [col-a]=10.77.1.1:9400 [col-b]=10.77.2.1:9400)
declare -A admin_from=(
  [aggregator]="${ns_viewer}" [relay]="${ns_viewer}"
  [col-a]="${ns_sta_a}" [col-b]="${ns_sta_b}")

# ----------------------------------------------------------------- the night

tallyctl() { "${tallyctl_bin}" "$@"; }
# tallyctl on host NS, bounded, over TLS verified with the dev CA (its
# flags are set once the certificates exist).
tallyctl_flags=()
tallyctl_on() {
  local ns="$1"
  shift
  timeout "${call_timeout}" ip netns exec "${ns}" "${tallyctl_bin}" "$@" \
    "${tallyctl_flags[@]}"
}

tallyctl definition generate \
  --spec "${source_dir}/deploy/elections/kz-2023.spec.json" \
  --output "${tmp}/reference.json" >/dev/null
mapfile -t regions < <("${check[@]}" smallest 2 "${tmp}/reference.json")
region_a="${regions[0]}"
region_b="${regions[1]}"
"${check[@]}" slice "${tmp}/reference.json" "${tmp}/definition.json" \
  "${region_a}" "${region_b}"
tallyctl definition check --definition "${tmp}/definition.json"
tallyctl simulate --definition "${tmp}/reference.json" --seed 2023 \
  --corrections_percent 5 --duplicates_percent 5 \
  --write_dir "${tmp}/night" >/dev/null
night_a="${tmp}/night/${region_a}.jsonl"
night_b="${tmp}/night/${region_b}.jsonl"
lines_a="$(wc -l <"${night_a}")"
half=$((lines_a / 2))
head -n "${half}" "${night_a}" >"${tmp}/a.1.jsonl"
tail -n "+$((half + 1))" "${night_a}" >"${tmp}/a.2.jsonl"
log "region A ${region_a}: ${lines_a} submissions; region B ${region_b}: $(wc -l <"${night_b}")"

# ------------------------------------------------------------ certificates

# Every server address as an extra subjectAltName: the clients dial IPs.
tls="${tmp}/tls"
TALLY_DEV_CERT_EXTRA_SANS="IP:10.77.0.1,IP:10.77.0.2,IP:10.77.0.11,IP:10.77.0.12,IP:10.77.1.1,IP:10.77.2.1" \
  "${source_dir}/deploy/tls/gen-dev-certs.sh" "${tls}" "${region_a}" \
  "${region_b}" >"${tmp}/certs.log" 2>&1 ||
  fail "gen-dev-certs.sh: $(cat "${tmp}/certs.log")"
for file in ca.pem server.pem "collector-${region_a}.pem" \
  "collector-${region_b}.pem" collector-identities.txt station-tokens.txt \
  station-client.token; do
  [[ -s "${tls}/${file}" ]] || fail "gen-dev-certs.sh made no ${file}"
done
log "certificates: $(tail -n 1 "${tmp}/certs.log")"
tallyctl_flags=(--tls_ca "${tls}/ca.pem")
station_flags=(--token_file "${tls}/station-client.token")
aggregator_tls=(--tls_cert "${tls}/server.pem" --tls_key "${tls}/server.key"
  --tls_client_ca "${tls}/ca.pem"
  --collector_identities "${tls}/collector-identities.txt")
relay_tls=(--tls_cert "${tls}/server.pem" --tls_key "${tls}/server.key"
  --tls_ca "${tls}/ca.pem")
# A collector's own region certificate serves its stations and is its
# client identity towards the aggregator.
collector_tls() { # REGION, one flag or value a line
  printf '%s\n' --tls_cert "${tls}/collector-$1.pem" \
    --tls_key "${tls}/collector-$1.key" --tls_ca "${tls}/ca.pem" \
    --station_tokens "${tls}/station-tokens.txt"
}
mapfile -t collector_a_tls < <(collector_tls "${region_a}")
mapfile -t collector_b_tls < <(collector_tls "${region_b}")

# ----------------------------------------------------------------- servers

start_server() {
  local name="$1" ns="$2"
  shift 2
  # ip netns exec execs the binary: $! is the server's PID.
  ip netns exec "${ns}" "$@" >"${tmp}/${name}.log" 2>&1 &
  pids[${name}]=$!
  servers+=("${name}")
}

# One scrape of server NAME's /metrics from its admin host: the value of
# each SERIES, one a line.
metrics_of() { # NAME SERIES...
  local name="$1"
  shift
  timeout "${call_timeout}" ip netns exec "${admin_from[${name}]}" \
    "${check[@]}" metrics "http://${admin[${name}]}/metrics" "$@"
}

# Waits for the serving line (TLS on) and the admin endpoint, then asks
# /healthz from the admin host.
wait_serving() {
  local name="$1" deadline=$((SECONDS + start_timeout))
  until grep -q "serving on" "${tmp}/${name}.log" 2>/dev/null &&
    grep -q "admin endpoint on http://${admin[${name}]}/" \
      "${tmp}/${name}.log" 2>/dev/null; do
    running "${pids[${name}]}" || fail "${name} exited during start"
    ((SECONDS < deadline)) || fail "${name} not serving after ${start_timeout}s"
    sleep 0.1
  done
  grep -q "tls=true" "${tmp}/${name}.log" ||
    fail "${name} does not report tls=true: $(grep -m1 'serving on' "${tmp}/${name}.log")"
  timeout "${call_timeout}" ip netns exec "${admin_from[${name}]}" \
    "${check[@]}" healthz "http://${admin[${name}]}/healthz" \
    >"${tmp}/${name}-healthz.log" 2>&1 ||
    fail "${name}: /healthz: $(cat "${tmp}/${name}-healthz.log")"
  log "${name}: $(grep -m1 -o 'serving on .*' "${tmp}/${name}.log")"
  log "${name}: $(cat "${tmp}/${name}-healthz.log")"
}

mkdir -p "${tmp}/aggregator" "${tmp}/col-a" "${tmp}/col-b"
start_server aggregator "${ns_agg}" "${aggregator_bin}" \
  --listen "${aggregator}" --data_dir "${tmp}/aggregator" \
  --definition "${tmp}/definition.json" "${aggregator_tls[@]}" \
  --admin_listen "${admin[aggregator]}"
wait_serving aggregator
start_server col-a "${ns_col_a}" "${collector_bin}" --region "${region_a}" \
  --listen "${collector_a}" --data_dir "${tmp}/col-a" \
  --aggregator "${aggregator}" --definition "${tmp}/definition.json" \
  "${collector_a_tls[@]}" --admin_listen "${admin[col-a]}"
start_server col-b "${ns_col_b}" "${collector_bin}" --region "${region_b}" \
  --listen "${collector_b}" --data_dir "${tmp}/col-b" \
  --aggregator "${aggregator}" --definition "${tmp}/definition.json" \
  "${collector_b_tls[@]}" --admin_listen "${admin[col-b]}"
start_server relay "${ns_relay}" "${relay_bin}" --listen "${relay}" \
  --upstream "${aggregator}" "${relay_tls[@]}" \
  --admin_listen "${admin[relay]}"
wait_serving col-a
wait_serving col-b
wait_serving relay

# ----------------------------------------------------------------- helpers

# The collector's status, as one JSON object, asked from its stations host
# over TLS with the station token.
status_of() {
  local ns="$1" address="$2"
  timeout "${call_timeout}" ip netns exec "${ns}" "${check[@]}" status \
    --proto "${source_dir}/proto" --stubs "${tmp}/stubs" \
    --tls_ca "${tls}/ca.pem" --token_file "${tls}/station-client.token" \
    "${address}"
}
field() { "${python}" -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Waits until the collector's outbox is empty and acknowledged.
wait_drained() {
  local name="$1" ns="$2" address="$3" timeout="$4" status
  local deadline=$((SECONDS + timeout))
  while true; do
    status="$(status_of "${ns}" "${address}")" || status="{}"
    if "${python}" -c '
import json, sys
s = json.loads(sys.argv[1])
sys.exit(0 if s and int(s["outbox_depth"]) == 0 and
         int(s["last_acked_seq"]) == int(s["last_seq"]) else 1)' "${status}"; then
      return 0
    fi
    ((SECONDS < deadline)) ||
      fail "${name} not drained within ${timeout}s: ${status}"
    sleep 0.2
  done
}

# The aggregator's results (every contest and scope), read from the viewer.
results() {
  tallyctl_on "${ns_viewer}" results --aggregator "${aggregator}" \
    --all_scopes --json >"$1"
}
list_reported() { # RESULTS REGION
  "${check[@]}" scope --results "$1" mazhilis-list "region/$2" \
    stations_reported
}

submit() { # NAME NS COLLECTOR FILE
  tallyctl_on "$2" submit --collector "$3" "${station_flags[@]}" "$4" \
    >"${tmp}/$1.log" 2>&1 ||
    fail "$1: submit exited $?: $(tail -n 5 "${tmp}/$1.log")"
  grep -q " 0 rejected" "${tmp}/$1.log" ||
    fail "$1: rejections: $(cat "${tmp}/$1.log")"
  log "$1: $(grep -m1 ' rejected' "${tmp}/$1.log")"
}

# Both collectors' outboxes are empty, their streams up and everything they
# appended acknowledged; the aggregator accepted exactly what they appended
# (each protocol version once, however often it was resent). The aggregator
# counts a round right after acknowledging it: polled briefly.
expect_forwarded_exactly_once() {
  local name scrape values appended=0 accepted deadline
  for name in col-a col-b; do
    scrape="$(metrics_of "${name}" tally_outbox_depth \
      tally_aggregator_connected tally_outbox_appended_total \
      tally_outbox_acknowledged_total 2>&1)" ||
      fail "${name}'s /metrics: ${scrape}"
    mapfile -t values <<<"${scrape}"
    ((values[0] == 0 && values[1] == 1 && values[2] == values[3] &&
      values[2] > 0)) ||
      fail "${name}'s /metrics at the end: tally_outbox_depth ${values[0]}, tally_aggregator_connected ${values[1]}, appended ${values[2]}, acknowledged ${values[3]}"
    log "${name} /metrics at the end: tally_outbox_depth ${values[0]}, tally_aggregator_connected ${values[1]}, tally_outbox_appended_total ${values[2]}"
    appended=$((appended + values[2]))
  done
  deadline=$((SECONDS + metrics_timeout))
  while true; do
    accepted="$(metrics_of aggregator \
      'tally_ingest_protocols_total{outcome="accepted"}' 2>&1)" ||
      fail "the aggregator's /metrics: ${accepted}"
    ((accepted == appended)) && break
    ((SECONDS < deadline)) ||
      fail "aggregator accepted ${accepted} protocols, the collectors appended ${appended}"
    sleep 0.2
  done
  log "aggregator /metrics: tally_ingest_protocols_total{outcome=\"accepted\"} ${accepted} = ${appended} appended by the collectors"
}

# Every totals of every contest and scope equals an independent sum of the
# last version of each protocol in both regions' files (written to
# TMP/results.json), and `tallyctl verify` finds no difference.
expect_exact_totals() {
  results "${tmp}/results.json"
  "${check[@]}" expect --definition "${tmp}/definition.json" \
    --results "${tmp}/results.json" "${night_a}" "${night_b}" \
    >"${tmp}/expect.log" || fail "totals differ: $(head -n 20 "${tmp}/expect.log")"
  log "$(tail -n 1 "${tmp}/expect.log")"
  tallyctl_on "${ns_viewer}" verify --aggregator "${aggregator}" \
    >"${tmp}/verify.log" 2>&1 || fail "verify: $(cat "${tmp}/verify.log")"
  grep -q " 0 differences" "${tmp}/verify.log" ||
    fail "verify: $(cat "${tmp}/verify.log")"
  log "verify: $(grep -m1 ' 0 differences' "${tmp}/verify.log")"
}
