#!/usr/bin/env bash
# deploy/local-cluster/cluster.sh --ha end to end: three etcd members and
# three aggregator replicas (TLS everywhere), collectors, relay and gateway
# on the replica list. The leader is killed while the collectors forward a
# whole night; `cluster.sh leader` names a new one, `restart-replica`
# brings the killed one back, and every replica ends with the official
# seats, a clean recount and identical results. A stopped cluster resumes
# from its stores and the etcd log.
#   local_cluster_ha_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir="$1"
build_dir="$2"
cluster="${source_dir}/deploy/local-cluster/cluster.sh"
tallyctl="${build_dir}/clients/tallyctl/tallyctl"
rundir="$(mktemp -d "${TMPDIR:-/tmp}/tally-cluster-ha-test.XXXXXX")"
failed=1
finish() {
  "${cluster}" stop --dir "${rundir}" >/dev/null 2>&1 || true
  if ((failed)); then
    echo "FAILED; logs kept in ${rundir}" >&2
  else
    rm -rf "${rundir}"
  fi
}
trap finish EXIT
fail() { echo "local_cluster_ha_test: $*" >&2; exit 1; }

"${cluster}" start --build "${build_dir}" --dir "${rundir}" --fresh --ha
"${cluster}" status --dir "${rundir}" >"${rundir}/status.txt" ||
  fail "status after start: $(cat "${rundir}/status.txt")"
# 3 etcd members, 3 replicas, 20 collectors, the relay and the gateway.
grep -q "^28/28 running$" "${rundir}/status.txt" ||
  fail "expected 28 servers: $(cat "${rundir}/status.txt")"
replicas="$(cat "${rundir}/aggregator.txt")"
[[ "$(tr ',' '\n' <<<"${replicas}" | wc -l)" -eq 3 ]] ||
  fail "aggregator.txt should list 3 replicas: ${replicas}"
flags=(--flagfile "${rundir}/tallyctl.flags")

read -r old pid < <("${cluster}" leader --build "${build_dir}" --dir "${rundir}") ||
  fail "no leader after start"
"${tallyctl}" simulate "${flags[@]}" --collectors_file "${rundir}/collectors.txt" \
  --speed 0 --corrections_percent 5 --duplicates_percent 5 \
  >"${rundir}/simulate.txt" 2>&1 || fail "simulate: $(cat "${rundir}/simulate.txt")"
grep -q " 0 rejected" "${rundir}/simulate.txt" || fail "rejections"
# The collectors acknowledged every station and now forward to the leader:
# kill it mid-stream.
kill -KILL "${pid}"
new=""
for _ in $(seq 1 600); do
  read -r new _ < <("${cluster}" leader --build "${build_dir}" --dir "${rundir}" 2>/dev/null) || true
  [[ -n "${new}" && "${new}" != "${old}" ]] && break
  sleep 0.1
done
[[ -n "${new}" && "${new}" != "${old}" ]] || fail "no new leader after ${old}"
echo "leader ${old} killed; ${new} leads"

for _ in $(seq 1 1200); do
  "${tallyctl}" results "${flags[@]}" --aggregator "${replicas}" --contest mazhilis-list \
    --json >"${rundir}/results.json" 2>&1 || true
  grep -Eq '"stations_?[rR]eported": ?10310' "${rundir}/results.json" && break
  sleep 0.2
done
"${cluster}" restart-replica "${old#aggregator-}" --dir "${rundir}" ||
  fail "restart-replica ${old}"

# Every replica: the same revision, the official seats, a clean recount.
first=""
for address in ${replicas//,/ }; do
  for _ in $(seq 1 600); do
    "${tallyctl}" results "${flags[@]}" --aggregator "${address}" \
      >"${rundir}/results.txt" 2>&1 || true
    grep -q "reported 10,310 of 10,310 stations" "${rundir}/results.txt" && break
    sleep 0.2
  done
  grep -q "reported 10,310 of 10,310 stations" "${rundir}/results.txt" ||
    fail "${address}: not every station: $(head -5 "${rundir}/results.txt")"
  for party in "Amanat .* 40" "Auyl .* 8" "Respublica .* 6" "Aq Jol .* 6" \
    "People's Party of Kazakhstan .* 5" "National Social Democratic Party .* 4"; do
    grep -Eq "^  ${party}( |$)" "${rundir}/results.txt" ||
      fail "${address}: official seats not reproduced (${party})"
  done
  "${tallyctl}" verify "${flags[@]}" --aggregator "${address}" | tee "${rundir}/verify.txt"
  grep -q " 0 differences" "${rundir}/verify.txt" || fail "${address}: verify"
  "${tallyctl}" results "${flags[@]}" --aggregator "${address}" --all_scopes --json \
    >"${rundir}/all.json"
  if [[ -z "${first}" ]]; then
    first="$(cat "${rundir}/all.json")"
  elif [[ "$(cat "${rundir}/all.json")" != "${first}" ]]; then
    fail "${address} differs from the first replica"
  fi
done
"${tallyctl}" replicas "${flags[@]}" --aggregator "${replicas}" |
  tee "${rundir}/replicas.txt" || fail "replicas: not exactly one leader"
[[ "$(grep -c " FOLLOWER " "${rundir}/replicas.txt")" -eq 2 ]] ||
  fail "expected two followers"

"${cluster}" stop --dir "${rundir}"
if "${cluster}" status --dir "${rundir}" >"${rundir}/status.txt"; then
  fail "status after stop should fail: $(cat "${rundir}/status.txt")"
fi
grep -q "^0/[0-9]* running$" "${rundir}/status.txt" || fail "still running"

# Without --fresh: etcd and the replicas resume from their directories.
"${cluster}" start --build "${build_dir}" --dir "${rundir}" --ha
replicas="$(cat "${rundir}/aggregator.txt")"
"${tallyctl}" results "${flags[@]}" --aggregator "${replicas}" >"${rundir}/results.txt"
grep -q "reported 10,310 of 10,310 stations" "${rundir}/results.txt" ||
  fail "restart lost the night"
"${cluster}" stop --dir "${rundir}"
failed=0
echo "local_cluster_ha_test: passed"
