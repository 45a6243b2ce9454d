#!/usr/bin/env bash
# deploy/local-cluster/cluster.sh end to end, the way the README demo uses
# it: start a cluster from BUILD in a temp dir, check status, play the night
# at full speed, check the final seats and the recount, stop, and check that
# everything stopped and that a restart resumes from the stored state.
#   local_cluster_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir="$1"
build_dir="$2"
cluster="${source_dir}/deploy/local-cluster/cluster.sh"
tallyctl="${build_dir}/clients/tallyctl/tallyctl"
rundir="$(mktemp -d "${TMPDIR:-/tmp}/tally-cluster-test.XXXXXX")"
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
fail() { echo "local_cluster_test: $*" >&2; exit 1; }

"${cluster}" start --build "${build_dir}" --dir "${rundir}" --fresh
"${cluster}" status --dir "${rundir}" >"${rundir}/status.txt" ||
  fail "status after start: $(cat "${rundir}/status.txt")"
grep -q "^23/23 running$" "${rundir}/status.txt" ||
  fail "expected 23 servers: $(cat "${rundir}/status.txt")"
[[ $(wc -l <"${rundir}/collectors.txt") -eq 20 ]] ||
  fail "collectors.txt should list 20 collectors"
aggregator="$(cat "${rundir}/aggregator.txt")"
# TLS, mutual TLS for the collectors and station tokens: the flags say
# where the dev CA and the token are.
flags=(--flagfile "${rundir}/tallyctl.flags")
grep -q -- "--tls_ca=" "${rundir}/tallyctl.flags" || fail "the cluster is not on TLS"

"${tallyctl}" simulate "${flags[@]}" --collectors_file "${rundir}/collectors.txt" \
  --speed 0 --corrections_percent 5 --duplicates_percent 5 \
  >"${rundir}/simulate.txt" 2>&1 || fail "simulate: $(cat "${rundir}/simulate.txt")"
grep -q " 0 rejected" "${rundir}/simulate.txt" || fail "rejections"

# The collectors forward asynchronously: wait until everything is counted.
for _ in $(seq 1 600); do
  "${tallyctl}" results "${flags[@]}" --aggregator "${aggregator}" --contest mazhilis-list \
    --json >"${rundir}/results.json" 2>&1 || true
  grep -Eq '"stations_?[rR]eported": ?10310' "${rundir}/results.json" && break
  sleep 0.2
done
"${tallyctl}" results "${flags[@]}" --aggregator "${aggregator}" >"${rundir}/results.txt"
grep -q "reported 10,310 of 10,310 stations" "${rundir}/results.txt" ||
  fail "not every station reported: $(head -5 "${rundir}/results.txt")"
for party in "Amanat .* 40" "Auyl .* 8" "Respublica .* 6" "Aq Jol .* 6" \
  "People's Party of Kazakhstan .* 5" "National Social Democratic Party .* 4"; do
  grep -Eq "^  ${party}( |$)" "${rundir}/results.txt" ||
    fail "official seats not reproduced (${party}): $(cat "${rundir}/results.txt")"
done
grep -q "98 of 98 seats allocated" "${rundir}/results.txt" || fail "98 seats"
"${tallyctl}" verify "${flags[@]}" --aggregator "${aggregator}" | tee "${rundir}/verify.txt"
grep -q " 0 differences" "${rundir}/verify.txt" || fail "verify"

# Without the token, or in plain text, the collectors refuse.
if env -u TALLY_TOKEN "${tallyctl}" simulate --collectors_file "${rundir}/collectors.txt" \
  --tls_ca "${rundir}/tls/ca.pem" --speed 0 --max_attempts 1 \
  >"${rundir}/no-token.txt" 2>&1; then
  fail "a simulate without a token was accepted"
fi
grep -q "UNAUTHENTICATED" "${rundir}/no-token.txt" ||
  fail "expected UNAUTHENTICATED: $(tail -3 "${rundir}/no-token.txt")"

# The viewer tier: the relay's feed and the gateway's JSON see the night.
timeout 60 "${tallyctl}" watch "${flags[@]}" --aggregator "$(cat "${rundir}/relay.txt")" \
  --until_complete --json >"${rundir}/relay-watch.json" ||
  fail "watch through the relay did not complete"
grep -q '"snapshot_complete"\|"snapshotComplete"' "${rundir}/relay-watch.json" ||
  fail "no snapshot through the relay"
/usr/bin/python3 - "$(cat "${rundir}/gateway.txt")" <<'PY' || fail "gateway"
import json, sys, urllib.request
base = "http://" + sys.argv[1]
results = json.load(urllib.request.urlopen(
    base + "/v1/results?contest=mazhilis-list&scope=national", timeout=30))
totals = results["results"][0]["totals"]
assert int(totals["stations_reported"]) == 10310, totals["stations_reported"]
page = urllib.request.urlopen(base + "/", timeout=30).read().decode()
assert "<html" in page.lower(), page[:200]
assert urllib.request.urlopen(base + "/healthz", timeout=30).status == 200
PY

# Every server's admin endpoint: healthy, and the figures add up. Each
# collector's outbox is empty and fully acknowledged; the aggregator
# counted every protocol the collectors appended.
/usr/bin/python3 - "${rundir}/admin.txt" <<'PY' || fail "admin endpoints"
import sys, urllib.request
admins = dict(line.strip().split("=", 1) for line in open(sys.argv[1]) if line.strip())
assert len(admins) == 23, admins
def scrape(address):
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=30).read().decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}
appended = 0
for name, address in admins.items():
    assert urllib.request.urlopen(f"http://{address}/healthz", timeout=30).status == 200, name
    if name.startswith("collector-"):
        m = scrape(address)
        assert m["tally_outbox_depth"] == 0, (name, m["tally_outbox_depth"])
        assert m["tally_outbox_acknowledged_total"] == m["tally_outbox_appended_total"], name
        assert m["tally_aggregator_connected"] == 1, name
        appended += m["tally_outbox_appended_total"]
m = scrape(admins["aggregator"])
accepted = m['tally_ingest_protocols_total{outcome="accepted"}']
assert accepted == appended, (accepted, appended)
assert m["tally_stations_reported"] == 10310, m["tally_stations_reported"]
assert m["tally_ingest_streams"] == 20, m["tally_ingest_streams"]
assert scrape(admins["relay"])["tally_feed_serving"] == 1
print(f"admin endpoints: 23 healthy; {int(accepted)} protocols appended by the collectors and accepted by the aggregator")
PY

"${cluster}" stop --dir "${rundir}"
if "${cluster}" status --dir "${rundir}" >"${rundir}/status.txt"; then
  fail "status after stop should fail: $(cat "${rundir}/status.txt")"
fi
grep -q "^0/[0-9]* running$" "${rundir}/status.txt" || fail "still running"

# Without --fresh the cluster resumes from its data directories.
"${cluster}" start --build "${build_dir}" --dir "${rundir}"
aggregator="$(cat "${rundir}/aggregator.txt")"
"${tallyctl}" results "${flags[@]}" --aggregator "${aggregator}" >"${rundir}/results.txt"
grep -q "reported 10,310 of 10,310 stations" "${rundir}/results.txt" ||
  fail "restart lost the night"
"${cluster}" stop --dir "${rundir}"
failed=0
echo "local_cluster_test: passed"
