#!/usr/bin/env bash
# tally across hosts: every server on its own network namespace, wired with
# veth pairs, everything on TLS, and a collector's uplink cut in the middle
# of the night.
#
#   netns_test.sh SOURCE_DIR BUILD_DIR
#
# Topology (namespace names carry this run's PID, so runs do not collide):
#
#              switch: bridge br0 (the core network, 10.77.0.0/24)
#        +-----------+-----------+-----------+-----------+
#      agg .1     relay .2    col-a .11   col-b .12   viewer .100
#                                |           |
#                 10.77.1.0/24  lan0        lan0  10.77.2.0/24
#                                |           |
#                          stations-a .10  stations-b .10
#
# tally-aggregator on agg, tally-relay on relay following it, and one
# tally-collector for each of the two smallest regions of the reference
# election. A collector serves its stations on its regional LAN and
# forwards over the core network. The station clients (`tallyctl submit`)
# run on the stations hosts; the viewer host reads results, verifies and
# watches through the relay. The servers load a two-region slice of the
# reference definition, so the night is complete when those regions are.
#
# Transport: certificates from deploy/tls/gen-dev-certs.sh with the hosts'
# addresses as extra subjectAltNames (every server is dialled by IP). The
# collectors forward over mutual TLS with their own region certificates,
# bound to their regions by collector-identities.txt; the relay follows
# the aggregator over TLS; station clients verify with the dev CA and
# present the station token; the viewer verifies with the dev CA.
#
# Observability: every server has an admin endpoint on <its address>:9400
# (a collector on its LAN address, reached from its stations host; the
# aggregator and relay from the viewer). /healthz must answer 200 once
# serving; during the cut col-a's /metrics must show the stream down and
# a non-empty outbox; after the repair both outboxes are empty and
# connected, and the aggregator's accepted protocols equal the protocol
# versions the collectors appended to their outboxes.
#
# The night: the reference night written by `tallyctl simulate --write_dir`
# (corrections and duplicates included), the two regions' files. Half of
# region A is sent, then col-a's port on the switch is set down: the rest
# of region A must still be acknowledged (into col-a's outbox), region B
# is counted meanwhile, region A's totals do not move and col-a reports
# its aggregator stream down (status and metrics). The port comes back up;
# col-a drains and the final totals of every contest and scope must equal
# an independent sum of the last version of each protocol in the files;
# `tallyctl verify` finds no difference; a watch through the relay ends
# complete with the same totals.
#
# Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN) and iproute2; otherwise it
# prints "SKIP: ..." and exits 77. Also needs openssl (for the
# certificates). Logs are kept on failure.
test_name=netns_test
ns_prefix=tmh
# shellcheck source=tests/multihost/netns_lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/netns_lib.sh"

# ------------------------------------------------------------- before the cut

submit submit-a1 "${ns_sta_a}" "${collector_a}" "${tmp}/a.1.jsonl"
wait_drained col-a "${ns_sta_a}" "${collector_a}" "${call_timeout}"
results "${tmp}/results-before.json"
before_a="$(list_reported "${tmp}/results-before.json" "${region_a}")"
((before_a > 0)) || fail "nothing of ${region_a} counted before the cut"
log "before the cut: ${before_a} stations of ${region_a} counted"

# ------------------------------------------------------------------- the cut

ip -n "${ns_switch}" link set p-col-a down
cut=${SECONDS}
log "col-a's link cut (switch port p-col-a down)"
seq_at_cut="$(status_of "${ns_sta_a}" "${collector_a}" | field last_seq)"
# Stations keep reporting: col-a still acknowledges (into its outbox).
submit submit-a2 "${ns_sta_a}" "${collector_a}" "${tmp}/a.2.jsonl"
submit submit-b "${ns_sta_b}" "${collector_b}" "${night_b}"
status="$(status_of "${ns_sta_a}" "${collector_a}")"
depth="$(field outbox_depth <<<"${status}")"
last_seq="$(field last_seq <<<"${status}")"
((last_seq > seq_at_cut && depth > 0)) ||
  fail "col-a's outbox did not grow while cut off: ${status}"
log "col-a acknowledged $((last_seq - seq_at_cut)) more; outbox depth ${depth}"

# col-a notices that its aggregator is unreachable (keepalive, then failed
# reconnects), and says so in its status.
deadline=$((SECONDS + outage_timeout))
while true; do
  status="$(status_of "${ns_sta_a}" "${collector_a}")"
  if [[ "$(field aggregator_connected <<<"${status}")" == False &&
    -n "$(field last_error <<<"${status}")" ]]; then
    break
  fi
  ((SECONDS < deadline)) ||
    fail "col-a still reports a connected aggregator: ${status}"
  sleep 0.5
done
log "col-a reports the outage after $((SECONDS - cut))s: depth $(field outbox_depth <<<"${status}"), error: $(field last_error <<<"${status}")"
((depth == $(field outbox_depth <<<"${status}"))) ||
  fail "col-a's outbox changed while cut off: ${status}"

# The same from col-a's admin endpoint (its LAN address, from stations-a:
# its core port is down) while the aggregator stays healthy for the viewer.
scrape="$(metrics_of col-a tally_aggregator_connected tally_outbox_depth \
  2>&1)" || fail "col-a's /metrics during the cut: ${scrape}"
mapfile -t cut_metrics <<<"${scrape}"
((cut_metrics[0] == 0 && cut_metrics[1] == depth)) ||
  fail "col-a's /metrics during the cut: tally_aggregator_connected ${cut_metrics[0]}, tally_outbox_depth ${cut_metrics[1]} (status depth ${depth})"
log "col-a /metrics during the cut: tally_aggregator_connected ${cut_metrics[0]}, tally_outbox_depth ${cut_metrics[1]}"
timeout "${call_timeout}" ip netns exec "${ns_viewer}" "${check[@]}" healthz \
  "http://${admin[aggregator]}/healthz" >/dev/null ||
  fail "the aggregator's /healthz failed during the cut"

# Region B is unaffected; region A's totals have not moved.
wait_drained col-b "${ns_sta_b}" "${collector_b}" "${call_timeout}"
results "${tmp}/results-outage.json"
during_a="$(list_reported "${tmp}/results-outage.json" "${region_a}")"
during_b="$(list_reported "${tmp}/results-outage.json" "${region_b}")"
expected_b="$("${check[@]}" scope --results "${tmp}/results-outage.json" \
  mazhilis-list "region/${region_b}" stations_expected)"
((during_a == before_a)) ||
  fail "${region_a} moved while cut off: ${before_a} -> ${during_a}"
((during_b == expected_b)) ||
  fail "${region_b} incomplete during the outage: ${during_b} of ${expected_b}"
log "during the outage: ${region_a} ${during_a} stations, ${region_b} ${during_b} of ${expected_b}"

# --------------------------------------------------------------- the repair

ip -n "${ns_switch}" link set p-col-a up
repaired=${SECONDS}
log "col-a's link restored"
wait_drained col-a "${ns_sta_a}" "${collector_a}" "${drain_timeout}"
log "col-a drained $((SECONDS - repaired))s after the repair"

# ------------------------------------------------------------ observability

# Both outboxes empty and forwarding; what they appended (each protocol
# version a collector accepted) is what the aggregator accepted. The
# aggregator counts a round right after acknowledging it: poll briefly.
expect_forwarded_exactly_once

# ------------------------------------------------------------ exact totals

expect_exact_totals

# A viewer through the relay sees the complete night and the same totals.
tallyctl_on "${ns_viewer}" watch --aggregator "${relay}" --until_complete \
  --json >"${tmp}/watch.jsonl" 2>"${tmp}/watch.log" ||
  fail "watch through the relay did not complete: $(tail -n 5 "${tmp}/watch.log")"
"${check[@]}" watch --results "${tmp}/results.json" \
  --watch "${tmp}/watch.jsonl" >"${tmp}/watch-check.log" ||
  fail "relay watch differs: $(head -n 20 "${tmp}/watch-check.log")"
log "relay $(tail -n 1 "${tmp}/watch-check.log")"

stop_servers
log "passed"
