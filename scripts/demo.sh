#!/usr/bin/env bash
# The demo election night on the embedded defaults (Kazakhstan, Mazhilis,
# 19 March 2023): builds tally, starts a local cluster (one aggregator, one
# collector per region, a relay and the HTTP gateway with the live results
# page) on 127.0.0.1, plays the night at high speed through
# every collector while `tallyctl watch` shows totals and seats filling in,
# and ends with the final national result, the 98-seat composition by
# nominating party (69 list + 29 district seats; the demo fails unless it is
# the official one, deploy/elections/kz-2023.composition.json), when in the
# night each contest became mathematically decided (scripts/decided-report.py)
# and a recount of every total from the stored protocols.
#
#   DEMO_ELECTION  the election to play: kz-2023 (default, the reference
#                election), kz-2021 (Mazhilis, 10 January 2021) or kz-2022
#                (President, 20 November 2022): the definition generated
#                from deploy/elections/NAME.spec.json, a night summing to its
#                official result NAME.result.json, which the end of the
#                night is checked against
#   DEMO_SPEED   simulated seconds per real second (default 600: the six
#                hours after polls close play in about 40 seconds)
#   DEMO_DIR     where the cluster keeps its data and logs
#                (default build/demo-cluster; wiped at the start)
#   DEMO_KEEP=1  leave the cluster running at the end (the web page stays
#                up; stop it with deploy/local-cluster/cluster.sh stop)
#   GATEWAY_LISTEN  address of the results page (default 127.0.0.1:0, a
#                free port; the demo prints the URL)
#   DEMO_HA=1    the aggregator as three replicas on a three-member etcd
#                cluster (cluster.sh --ha): halfway through the night the
#                leading replica is killed with SIGKILL; the demo prints the
#                old and the new leader and how long no protocol was
#                committed, brings the killed replica back, and at the end
#                recounts on every replica and compares their results
set -euo pipefail
cd "$(dirname "$0")/.."

speed="${DEMO_SPEED:-600}"
rundir="${DEMO_DIR:-build/demo-cluster}"
ha="${DEMO_HA:-0}"
election="${DEMO_ELECTION:-kz-2023}"
spec="deploy/elections/${election}.spec.json"
official="deploy/elections/${election}.result.json"
if [[ ! -f "${spec}" || ! -f "${official}" ]]; then
  echo "demo: DEMO_ELECTION=${election}: no ${spec} and ${official}" >&2
  exit 2
fi
definition="build/elections/${election}.json"
# The contest of the official result (the national one).
contest="$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["contest_id"])' "${official}")"

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
targets=(tally-aggregator tally-collector tally-relay tally-gateway tallyctl)
echo "== Building ${targets[*]} =="
cmake --build build -j2 --target "${targets[@]}" >/dev/null

tallyctl=build/clients/tallyctl/tallyctl
echo
echo "== The election: ${election} (${spec}) =="
mkdir -p "$(dirname "${definition}")"
"${tallyctl}" definition generate --spec "${spec}" --output "${definition}" >/dev/null
"${tallyctl}" definition summary --definition "${definition}"
stations="$(python3 -c 'import json, sys; print(format(len(json.load(open(sys.argv[1]))["stations"]), ","))' "${definition}")"

echo
echo "== Starting the local cluster in ${rundir} =="
deploy/local-cluster/cluster.sh stop --dir "${rundir}" >/dev/null 2>&1 || true
simulator=""
failover=""
cleanup() {
  [[ -n "${simulator}" ]] && kill "${simulator}" 2>/dev/null || true
  [[ -n "${failover}" ]] && kill "${failover}" 2>/dev/null || true
  if [[ "${DEMO_KEEP:-0}" == 1 ]]; then
    echo
    echo "The cluster keeps running in ${rundir}; the page is at" \
      "http://$(cat "${rundir}/gateway.txt" 2>/dev/null)/ ; stop it with:"
    echo "  deploy/local-cluster/cluster.sh stop --dir ${rundir}"
  else
    deploy/local-cluster/cluster.sh stop --dir "${rundir}" >/dev/null || true
  fi
}
trap cleanup EXIT
start_flags=()
[[ "${ha}" == 1 ]] && start_flags=(--ha)
deploy/local-cluster/cluster.sh start --build build --dir "${rundir}" --fresh \
  --definition "${definition}" "${start_flags[@]}"
# One HOST:PORT, or with DEMO_HA=1 the list of replicas (every client
# follows the leader on its own).
aggregator="$(cat "${rundir}/aggregator.txt")"
# TLS with the cluster's dev CA, and the station client token.
flags=(--flagfile "${rundir}/tallyctl.flags")
echo "Open http://$(cat "${rundir}/gateway.txt")/ in a browser to watch the live results page."

echo
echo "== Election night at ${speed}x: protocols from ${stations} stations =="
echo "   (3% sent wrong and corrected later, 2% resent; simulator log:"
echo "    ${rundir}/simulate.log)"
"${tallyctl}" simulate "${flags[@]}" --collectors_file "${rundir}/collectors.txt" \
  --speed "${speed}" --corrections_percent 3 --duplicates_percent 2 \
  --definition "${definition}" --target "${official}" \
  >"${rundir}/simulate.log" 2>&1 &
simulator=$!

# DEMO_HA=1: the leader is killed halfway through the night; its report
# goes to ${rundir}/failover.txt and is printed after the live view.
replicas_json() {
  "${tallyctl}" replicas "${flags[@]}" --aggregator "${aggregator}" --json \
    --timeout_ms 2000 2>/dev/null || true
}
# The leader's "replica_id revision" from `tallyctl replicas --json`.
leader_of() {
  python3 -c '
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    if r.get("role") == "LEADER":
        print(r["replica_id"], r.get("applied_revision", "0"))
        break'
}
list_stations_reported() {
  "${tallyctl}" results "${flags[@]}" --aggregator "${aggregator}" \
    --contest "${contest}" --json 2>/dev/null |
    python3 -c '
import json, sys
try:
    response = json.load(sys.stdin)
    totals = response["results"][0]["totals"]
    print(totals.get("stations_reported", 0), totals.get("stations_expected", 1))
except Exception:
    print(0, 1)'
}
kill_leader_halfway() {
  local reported=0 expected=1 deadline=$((SECONDS + 600))
  while true; do
    read -r reported expected < <(list_stations_reported)
    ((reported * 2 >= expected)) && break
    if ((SECONDS > deadline)); then
      echo "failover: the night never reached half of the stations" \
        >"${rundir}/failover.txt"
      return 1
    fi
    sleep 0.2
  done
  local old old_revision pid
  read -r old old_revision < <(replicas_json | leader_of)
  pid="$(cat "${rundir}/${old}/aggregator.pid")"
  local killed_at
  killed_at="$(date +%s.%N)"
  kill -KILL "${pid}"
  # The new leader has committed once its revision passes the old one's.
  local new="" revision=0 now
  deadline=$((SECONDS + 120))
  while true; do
    read -r new revision < <(replicas_json | leader_of) || true
    if [[ -n "${new}" && "${new}" != "${old}" ]] && ((revision > old_revision)); then
      break
    fi
    if ((SECONDS > deadline)); then
      echo "failover: no new leader committed within 120 s of the kill" \
        >"${rundir}/failover.txt"
      return 1
    fi
    sleep 0.05
  done
  now="$(date +%s.%N)"
  {
    echo "failover: killed the leader ${old} (PID ${pid}, SIGKILL) at" \
      "${reported}/${expected} list stations, revision ${old_revision}"
    printf 'failover: %s leads; %.2f s without a committed protocol\n' \
      "${new}" "$(awk -v a="${now}" -v b="${killed_at}" 'BEGIN { print a - b }')"
    deploy/local-cluster/cluster.sh restart-replica "${old#aggregator-}" \
      --dir "${rundir}" 2>&1 | sed 's/^/failover: /'
  } >"${rundir}/failover.txt" 2>&1
}
if [[ "${ha}" == 1 ]]; then
  kill_leader_halfway &
  failover=$!
fi

# The live view until every station has reported every contest, redrawn
# twice a second (a line each time when the output is not a terminal).
"${tallyctl}" watch "${flags[@]}" --aggregator "${aggregator}" --until_complete \
  --refresh_ms 500

if ! wait "${simulator}"; then
  simulator=""
  echo "the simulator failed:" >&2
  cat "${rundir}/simulate.log" >&2
  exit 1
fi
simulator=""
echo
tail -n 1 "${rundir}/simulate.log"
# The end of the night is the official result (votes, percentages, seats).
"${tallyctl}" results "${flags[@]}" --aggregator "${aggregator}" \
  --contest "${contest}" --json | scripts/check-official-result.py "${official}"

if [[ "${ha}" == 1 ]]; then
  failover_status=0
  wait "${failover}" || failover_status=$?
  failover=""
  echo
  echo "== Failover =="
  cat "${rundir}/failover.txt"
  ((failover_status == 0)) || exit 1
fi

echo
echo "== Final result =="
"${tallyctl}" results "${flags[@]}" --aggregator "${aggregator}"

echo
echo "== Chamber composition (seats by nominating party) =="
"${tallyctl}" composition "${flags[@]}" --aggregator "${aggregator}"
# The demo fails unless the night ends on the official composition (for
# the elections whose composition is on file).
expected_composition="deploy/elections/${election}.composition.json"
if [[ -f "${expected_composition}" ]]; then
  "${tallyctl}" composition "${flags[@]}" --aggregator "${aggregator}" --json |
    python3 scripts/check-composition.py "${expected_composition}"
fi

echo
echo "== When each contest was decided =="
echo "   (mathematically: its seats certain whatever the stations still to"
echo "    report could hold; the time is the night's, after polls closed)"
python3 scripts/decided-report.py --tallyctl "${tallyctl}" \
  --definition "${definition}" --simulate_log "${rundir}/simulate.log" \
  -- "${flags[@]}" --aggregator "${aggregator}"

echo
echo "== Recount of every total from the stored protocols =="
if [[ "${ha}" == 1 ]]; then
  # Every replica applied the same log: the same revision, the same
  # results and a clean recount on each.
  first=""
  for address in ${aggregator//,/ }; do
    echo "-- replica at ${address}"
    "${tallyctl}" verify "${flags[@]}" --aggregator "${address}"
    results="$("${tallyctl}" results "${flags[@]}" --aggregator "${address}" --json)"
    if [[ -z "${first}" ]]; then
      first="${results}"
    elif [[ "${results}" != "${first}" ]]; then
      echo "replica ${address} differs from the first replica" >&2
      exit 1
    fi
  done
  echo "every replica: identical results"
  "${tallyctl}" replicas "${flags[@]}" --aggregator "${aggregator}"
else
  "${tallyctl}" verify "${flags[@]}" --aggregator "${aggregator}"
fi

echo
echo "== Operations: Prometheus metrics from the admin endpoints =="
# GET /metrics over bash's /dev/tcp (no HTTP client needed).
metrics_of() {
  local address="$1"
  exec 3<>"/dev/tcp/${address%:*}/${address##*:}"
  printf 'GET /metrics HTTP/1.0\r\nHost: %s\r\n\r\n' "${address}" >&3
  cat <&3
  exec 3<&-
}
echo "(every server's endpoint is listed in ${rundir}/admin.txt)"
admin_name=aggregator
if [[ "${ha}" == 1 ]]; then
  read -r admin_name _ < <(replicas_json | leader_of)
  echo "(aggregator: the leader, ${admin_name})"
fi
metrics_of "$(sed -n "s/^${admin_name}=//p" "${rundir}/admin.txt")" | awk '
  /^tally_ingest_protocols_total/ { sub(/^tally_ingest_protocols_total/, "");
    outcomes = outcomes " " $0 }
  /^tally_commit_batch_protocols_sum / { protocols = $2 }
  /^tally_commit_batch_protocols_count / { rounds = $2 }
  /^tally_commit_duration_seconds_sum / { seconds = $2 }
  /^tally_revision / { revision = $2 }
  END {
    gsub(/\{outcome="/, "", outcomes); gsub(/"\} /, "=", outcomes)
    print "aggregator: protocols by outcome" outcomes
    if (rounds > 0)
      printf "aggregator: %d synced commit rounds up to revision %d, mean %.1f protocols and %.2f ms per round\n",
        rounds, revision, protocols / rounds, 1000 * seconds / rounds
  }'
depth=0
while IFS='=' read -r name address; do
  [[ "${name}" == collector-* ]] || continue
  value="$(metrics_of "${address}" | awk '/^tally_outbox_depth / { print $2 }')"
  depth=$((depth + ${value:-0}))
done <"${rundir}/admin.txt"
echo "collectors: ${depth} protocols waiting in their outboxes"
