#!/usr/bin/env bash
# The edge (deploy/edge) in the local cluster: `cluster.sh start --edge`
# puts Debian's nginx in front of the gateway. While a night is ingested,
# Server-Sent Events stream through it unbuffered, a burst of polls of one
# URL is answered from its cache (X-Cache-Status) with about one request
# per second reaching the gateway (its own request counter), results pinned
# to a revision are cached and revalidated by nginx itself, errors are
# never cached, a small wrk load (where wrk is installed) costs the gateway
# about a request per second, and `cluster.sh stop` stops it. Skipped (77)
# without nginx.
#   local_cluster_edge_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir="$1"
build_dir="$2"
command -v nginx >/dev/null || { echo "nginx not installed: skipped"; exit 77; }
cluster="${source_dir}/deploy/local-cluster/cluster.sh"
tallyctl="${build_dir}/clients/tallyctl/tallyctl"
rundir="$(mktemp -d "${TMPDIR:-/tmp}/tally-edge-test.XXXXXX")"
failed=1
simulate_pid=""
finish() {
  [[ -n "${simulate_pid}" ]] && kill "${simulate_pid}" 2>/dev/null && wait "${simulate_pid}" 2>/dev/null
  "${cluster}" stop --dir "${rundir}" >/dev/null 2>&1 || true
  if ((failed)); then
    echo "FAILED; logs kept in ${rundir}" >&2
  else
    rm -rf "${rundir}"
  fi
}
trap finish EXIT
fail() { echo "local_cluster_edge_test: $*" >&2; exit 1; }

"${cluster}" start --build "${build_dir}" --dir "${rundir}" --fresh --insecure --edge
"${cluster}" status --dir "${rundir}" >"${rundir}/status.txt" ||
  fail "status after start: $(cat "${rundir}/status.txt")"
grep -q "^edge .* running$" "${rundir}/status.txt" || fail "no edge in status"
grep -q "^24/24 running$" "${rundir}/status.txt" ||
  fail "expected 24 processes: $(cat "${rundir}/status.txt")"
edge="$(cat "${rundir}/edge.txt")"
gateway_admin="$(sed -n 's/^gateway=//p' "${rundir}/admin.txt")"

# The night, at full speed, in the background for the checks below.
"${tallyctl}" simulate --insecure --collectors_file "${rundir}/collectors.txt" \
  --speed 0 >"${rundir}/simulate.txt" 2>&1 &
simulate_pid=$!

/usr/bin/python3 - "${edge}" "${gateway_admin}" <<'PY' || fail "through the edge"
import http.client, queue, re, sys, threading, time

edge, admin = sys.argv[1], sys.argv[2]
host, port = edge.rsplit(":", 1)
DEADLINE_S = 120

def gateway_requests(code=None):
    """The gateway's own count of /v1/results requests (by code)."""
    c = http.client.HTTPConnection(*admin.rsplit(":", 1), timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    total = 0
    for line in text.splitlines():
        if line.startswith("tally_http_requests_total{") and 'endpoint="results"' in line:
            if code is None or f'code="{code}"' in line:
                total += float(line.rsplit(" ", 1)[1])
    return int(total)

# Server-Sent Events through nginx: the snapshot, then live events of the
# night as they are committed.
lines = queue.Queue()
def read_stream():
    c = http.client.HTTPConnection(host, int(port), timeout=DEADLINE_S)
    c.request("GET", "/v1/watch")
    r = c.getresponse()
    lines.put(("status", r.status, r.getheader("X-Cache-Status"),
               r.getheader("Content-Type")))
    while True:
        line = r.fp.readline()
        if not line:
            lines.put(("end",))
            return
        lines.put(("line", line.decode().rstrip("\n")))
threading.Thread(target=read_stream, daemon=True).start()
first = lines.get(timeout=DEADLINE_S)
assert first[0] == "status" and first[1] == 200, first
assert first[2] == "BYPASS", first
assert first[3].startswith("text/event-stream"), first
seen = set()
deadline = time.monotonic() + DEADLINE_S
while not {"snapshot_complete", "event"} <= seen:
    item = lines.get(timeout=max(0.1, deadline - time.monotonic()))
    assert item[0] == "line", item
    if item[1].startswith("event: "):
        seen.add(item[1][len("event: "):])
print("watch through the edge: snapshot, then live events")

# Polls of one URL on one keep-alive connection for three seconds, while
# the night changes the figures: the edge refreshes its copy in the
# background.
c = http.client.HTTPConnection(host, int(port), timeout=30)
def get(path, headers={}):
    c.request("GET", path, headers=headers)
    r = c.getresponse()
    return r, r.read()
url = "/v1/results?contest=mazhilis-list"
before = gateway_requests()
started = time.monotonic()
statuses = {}
polls = 0
while time.monotonic() - started < 3:
    polls += 1
    r, body = get(url)
    assert r.status == 200, (r.status, body[:200])
    assert r.getheader("Cache-Control") == \
        "public, max-age=1, stale-while-revalidate=5", r.getheader("Cache-Control")
    assert re.fullmatch(r'"r\d+-[0-9a-f]{16}"', r.getheader("ETag")), r.getheader("ETag")
    cache = r.getheader("X-Cache-Status")
    statuses[cache] = statuses.get(cache, 0) + 1
elapsed = time.monotonic() - started
reached = gateway_requests() - before
print(f"{polls} polls in {elapsed:.2f} s: {statuses}; {reached} reached the gateway")
assert statuses.get("HIT", 0) >= 1, statuses
# About one per second (a background update or a revalidation), whatever
# the number of polls.
assert reached <= elapsed + 3, (reached, elapsed)

# Pinned to a revision: cached, immutable, and revalidated by nginx.
r, body = get(url)
revision = int(re.search(rb'"revision":"(\d+)"', body).group(1))
pinned = f"{url}&revision={revision}"
r1, b1 = get(pinned)
assert r1.status == 200, (r1.status, b1[:200])
assert r1.getheader("Cache-Control") == "public, max-age=31536000, immutable"
before = gateway_requests()
r2, b2 = get(pinned)
assert r2.getheader("X-Cache-Status") == "HIT", r2.getheader("X-Cache-Status")
assert b2 == b1
r3, b3 = get(pinned, {"If-None-Match": r1.getheader("ETag")})
assert r3.status == 304 and b3 == b"", (r3.status, b3[:100])
assert gateway_requests() == before, "pinned answers reached the gateway"
print(f"revision {revision} pinned: cached and answered 304 by the edge")

# Errors are never cached: each one reaches the gateway.
before = gateway_requests(404)
for _ in range(3):
    r, body = get("/v1/results?contest=no-such-contest")
    assert r.status == 404, r.status
    assert r.getheader("Cache-Control") == "no-store", r.getheader("Cache-Control")
    assert r.getheader("X-Cache-Status") != "HIT"
assert gateway_requests(404) - before == 3
r, body = get("/")
assert r.status == 200 and b"<html" in body.lower(), r.status
print("errors not cached; the page served through the edge")

# A small load (scripts/edge-load.sh is the large one): 100 keep-alive
# connections polling for three seconds with Debian's wrk, when installed.
import shutil, subprocess
if shutil.which("wrk"):
    before = gateway_requests()
    started = time.monotonic()
    out = subprocess.run(["wrk", "-t", "1", "-c", "100", "-d", "3s",
                          f"http://{edge}{url}"], capture_output=True,
                         text=True, timeout=60).stdout
    elapsed = time.monotonic() - started
    reached = gateway_requests() - before
    served = int(re.search(r"(\d+) requests in", out).group(1))
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    assert served > 100, out
    assert reached <= elapsed + 3, (reached, elapsed)
    print(f"wrk, 100 connections: {served} requests in {elapsed:.1f} s, "
          f"{reached} reached the gateway")
PY

kill "${simulate_pid}" 2>/dev/null || true
wait "${simulate_pid}" 2>/dev/null || true
simulate_pid=""
"${cluster}" stop --dir "${rundir}"
if "${cluster}" status --dir "${rundir}" >"${rundir}/status.txt"; then
  fail "status after stop should fail: $(cat "${rundir}/status.txt")"
fi
grep -q "^edge .* stopped$" "${rundir}/status.txt" || fail "edge still running"
failed=0
echo "local_cluster_edge_test: passed"
