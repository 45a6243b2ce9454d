#!/usr/bin/env bash
# The edge under load (docs/PERFORMANCE.md, "The edge"): a local cluster
# with the edge in front of its gateway (cluster.sh start --edge, plain
# text), a night ingested in the background, and wrk (Debian's) holding
# CONNECTIONS keep-alive connections to nginx, each polling one URL of the
# JSON API, for DURATION seconds. Prints one line of figures:
#
#   edge_load target=edge|gateway connections=N poll_ms=N duration_s=S requests=N
#     requests_per_s=X p50_ms=X p99_ms=X errors=N gateway_requests=N
#     gateway_requests_per_s=X revisions=FROM..TO
#
# (one line; wrapped here). requests_per_s and the latency percentiles are
# wrk's (--latency; the time from sending a request to its whole answer,
# not the wait between polls), errors its socket errors and non-2xx/3xx
# answers; gateway_requests is the increase of the gateway's own
# tally_http_requests_total for the endpoint during the run, so
# gateway_requests_per_s is what reached the gateway through the cache;
# revisions are the aggregator's before and after (the night went on).
# wrk's own report goes to stderr.
#
#   edge-load.sh [--build DIR] [--connections N] [--duration S]
#                [--threads N] [--poll_ms MS] [--url PATH] [--speed X]
#                [--direct]
#
# --direct: wrk goes to the gateway itself instead of the edge (for
# comparison: what the edge saves).
# --poll_ms: each connection waits this long between its requests (wrk's
# delay(); 0, the default: as fast as the edge answers); --speed: the
# night's simulated seconds per real second (tallyctl simulate). Not part
# of the test suite: it takes the machine for DURATION seconds.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/.." && pwd)"
build="${repo}/build"
connections=10000
duration=25
threads=2
poll_ms=0
url="/v1/results?contest=mazhilis-list"
speed=600
target=edge
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --connections) connections="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --poll_ms) poll_ms="$2"; shift 2 ;;
    --url) url="$2"; shift 2 ;;
    --speed) speed="$2"; shift 2 ;;
    --direct) target=gateway; shift ;;
    *) echo "edge-load.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "edge-load.sh: wrk not found (scripts/install-deps.sh)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "edge-load.sh: nginx not found (scripts/install-deps.sh)" >&2; exit 1; }
# wrk and nginx each hold one descriptor per connection.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < connections + 1024)); then
  echo "edge-load.sh: open files limit $(ulimit -n) is below ${connections} connections" >&2
  exit 1
fi

cluster="${repo}/deploy/local-cluster/cluster.sh"
tallyctl="${build}/clients/tallyctl/tallyctl"
rundir="$(mktemp -d "${TMPDIR:-/tmp}/tally-edge-load.XXXXXX")"
simulate_pid=""
finish() {
  [[ -n "${simulate_pid}" ]] && kill "${simulate_pid}" 2>/dev/null
  "${cluster}" stop --dir "${rundir}" >/dev/null 2>&1 || true
  rm -rf "${rundir}"
}
trap finish EXIT

"${cluster}" start --build "${build}" --dir "${rundir}" --fresh --insecure \
  --edge >"${rundir}/cluster.txt"
server="$(cat "${rundir}/${target}.txt")"
gateway_admin="$(sed -n 's/^gateway=//p' "${rundir}/admin.txt")"
endpoint="$(sed -E 's|^/v1/([a-z-]+).*|\1|; s|-|_|g' <<<"${url}")"

"${tallyctl}" simulate --insecure --collectors_file "${rundir}/collectors.txt" \
  --speed "${speed}" >"${rundir}/simulate.txt" 2>&1 &
simulate_pid=$!
sleep 2

# The revision the aggregator is at (through the gateway, uncached).
revision() {
  python3 - "$(cat "${rundir}/gateway.txt")" <<'PY'
import json, sys, urllib.request
print(json.load(urllib.request.urlopen(
    f"http://{sys.argv[1]}/v1/election", timeout=30))["revision"])
PY
}

# The gateway's count of requests to the endpoint, every code.
gateway_count() {
  python3 - "${gateway_admin}" "${endpoint}" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(f"http://{sys.argv[1]}/metrics", timeout=30).read().decode()
print(int(sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("tally_http_requests_total{")
              and f'endpoint="{sys.argv[2]}"' in line)))
PY
}

cat >"${rundir}/poll.lua" <<LUA
-- Each connection waits ${poll_ms} ms between its requests.
function delay() return ${poll_ms} end
LUA
before="$(gateway_count)"
revision_before="$(revision)"
started="$(date +%s.%N)"
wrk -t "${threads}" -c "${connections}" -d "${duration}s" --timeout 10s \
  --latency -s "${rundir}/poll.lua" "http://${server}${url}" >"${rundir}/wrk.txt" 2>&1
ended="$(date +%s.%N)"
after="$(gateway_count)"
revision_after="$(revision)"
# wrk's own report, for the record.
cat "${rundir}/wrk.txt" >&2

python3 - "${rundir}/wrk.txt" "${before}" "${after}" "${started}" "${ended}" \
  "${connections}" "${poll_ms}" "${revision_before}" "${revision_after}" "${target}" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
before, after = int(sys.argv[2]), int(sys.argv[3])
elapsed = float(sys.argv[5]) - float(sys.argv[4])
def ms(value):
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]
def percentile(p):
    return ms(re.search(rf"^\s*{p}%\s+(\S+)", text, re.M).group(1))
requests = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", text).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = 0
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if m:
    errors += sum(int(x) for x in m.groups())
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if m:
    errors += int(m.group(1))
print(f"edge_load target={sys.argv[10]} connections={sys.argv[6]} poll_ms={sys.argv[7]} "
      f"duration_s={elapsed:.1f} requests={requests} requests_per_s={rate:.0f} "
      f"p50_ms={percentile(50):.2f} p99_ms={percentile(99):.2f} errors={errors} "
      f"gateway_requests={after - before} "
      f"gateway_requests_per_s={(after - before) / elapsed:.2f} "
      f"revisions={sys.argv[8]}..{sys.argv[9]}")
PY
