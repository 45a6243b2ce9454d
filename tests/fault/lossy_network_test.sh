#!/usr/bin/env bash
# A night through collectors over lossy links: the multi-host set-up of
# tests/multihost (every server in its own network namespace, TLS, two
# regions; see tests/multihost/netns_lib.sh) with both collectors' core
# links impaired in both directions: 200 ms delay with 50 ms jitter (which
# reorders), 5% loss. In the middle of the night col-a's link goes silent
# (every packet dropped, nothing refused or reset) while its stations keep
# submitting.
#
#   lossy_network_test.sh SOURCE_DIR BUILD_DIR [NFQUEUE_IMPAIR]
#
# The impairment: `tc qdisc ... netem` where the kernel has the netem
# qdisc; otherwise NFQUEUE_IMPAIR (tests/fault/nfqueue_impair.cc) in each
# collector's namespace behind iptables NFQUEUE rules on its eth0, which
# holds each packet for the delay and jitter before its verdict, drops 5%,
# and drops everything during the blackout. The test prints which it used;
# without either it prints "SKIP: ..." and exits 77.
#
# What it checks:
#   - the first half of both regions is forwarded and acknowledged over the
#     impaired links;
#   - during the blackout col-a still acknowledges its stations (its outbox
#     grows) and notices the silent connection through gRPC keepalive (20 s
#     without data, then 10 s for the ping's answer): its status reports
#     the aggregator stream down. The link stays silent at least 30 s and
#     until that is noticed (at most 60 s, else the test fails);
#   - once the link is back, col-a reconnects (its log and status) and its
#     outbox drains, over the still impaired link;
#   - the totals of every contest and scope equal an independent sum of the
#     last version of each protocol in the night's files, `tallyctl verify`
#     finds no difference, and the aggregator accepted exactly what the
#     collectors appended (each protocol once, however often resent);
#   - the impairment really acted: packets delayed, lost and reordered, and
#     dropped in the blackout (nfqueue_impair's counts or netem's).
# Every wait has a deadline; timings are printed, never asserted beyond the
# generous bounds above.
set -euo pipefail

test_name=lossy_network
ns_prefix=tln
impair_tool="${3:-}"
# shellcheck source=tests/multihost/netns_lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/../multihost" && pwd)/netns_lib.sh"

delay_ms=200
jitter_ms=50
loss_percent=5
blackout_min_seconds=30
notice_timeout=60 # from the start of the blackout
reconnect_timeout=120
night_drain_timeout=180

# ----------------------------------------------------------- the impairment

# netem when the kernel has it (probed on a dummy link in col-a).
impairment=""
if ip -n "${ns_col_a}" link add probe0 type dummy 2>/dev/null; then
  if ip netns exec "${ns_col_a}" tc qdisc add dev probe0 root netem \
    delay 1ms 2>/dev/null; then
    impairment=netem
  fi
  ip -n "${ns_col_a}" link del probe0 2>/dev/null || true
fi
if [[ -z "${impairment}" ]]; then
  [[ -n "${impair_tool}" && -x "${impair_tool}" ]] ||
    skip "no netem qdisc in this kernel and no nfqueue_impair (Debian libnetfilter-queue-dev at build time)"
  command -v iptables >/dev/null 2>&1 ||
    skip "no netem qdisc in this kernel and no iptables (Debian iptables) for nfqueue_impair"
  impairment=nfqueue
fi

declare -A impair_pid # collector -> nfqueue_impair PID
queue_of() { [[ "$1" == col-a ]] && echo 7 || echo 8; }
ns_of() { [[ "$1" == col-a ]] && echo "${ns_col_a}" || echo "${ns_col_b}"; }
port_of() { [[ "$1" == col-a ]] && echo p-col-a || echo p-col-b; }

# Both directions of a collector's core link: its eth0 egress and the
# switch port's egress towards it (netem), or its eth0 in and out
# (NFQUEUE).
impair() { # COLLECTOR
  local name="$1" ns queue
  ns="$(ns_of "${name}")"
  if [[ "${impairment}" == netem ]]; then
    local netem=(netem delay "${delay_ms}ms" "${jitter_ms}ms"
      loss "${loss_percent}%")
    ip netns exec "${ns}" tc qdisc add dev eth0 root "${netem[@]}"
    ip netns exec "${ns_switch}" tc qdisc add dev "$(port_of "${name}")" root \
      "${netem[@]}"
    return
  fi
  queue="$(queue_of "${name}")"
  ip netns exec "${ns}" "${impair_tool}" --queue "${queue}" \
    --delay_ms "${delay_ms}" --jitter_ms "${jitter_ms}" \
    --loss_percent "${loss_percent}" --seed "${queue}" \
    >"${tmp}/impair-${name}.log" 2>&1 &
  impair_pid[${name}]=$!
  local deadline=$((SECONDS + start_timeout))
  until grep -q "ready on queue" "${tmp}/impair-${name}.log"; do
    running "${impair_pid[${name}]}" ||
      fail "nfqueue_impair for ${name}: $(cat "${tmp}/impair-${name}.log")"
    ((SECONDS < deadline)) || fail "nfqueue_impair for ${name} not ready"
    sleep 0.1
  done
  # No --queue-bypass: should the tool die, the link stops rather than
  # silently losing its impairment.
  ip netns exec "${ns}" iptables -A OUTPUT -o eth0 -j NFQUEUE \
    --queue-num "${queue}"
  ip netns exec "${ns}" iptables -A INPUT -i eth0 -j NFQUEUE \
    --queue-num "${queue}"
}

blackout() { # COLLECTOR on|off
  local name="$1" state="$2" ns
  ns="$(ns_of "${name}")"
  if [[ "${impairment}" == netem ]]; then
    local loss="${loss_percent}%"
    [[ "${state}" == on ]] && loss=100%
    ip netns exec "${ns}" tc qdisc change dev eth0 root netem \
      delay "${delay_ms}ms" "${jitter_ms}ms" loss "${loss}"
    ip netns exec "${ns_switch}" tc qdisc change dev "$(port_of "${name}")" \
      root netem delay "${delay_ms}ms" "${jitter_ms}ms" loss "${loss}"
    return
  fi
  if [[ "${state}" == on ]]; then
    kill -USR1 "${impair_pid[${name}]}"
  else
    kill -USR2 "${impair_pid[${name}]}"
  fi
}

# Ends the impairment tools (their summary line goes to their log).
stop_impairment() {
  local name pid
  for name in "${!impair_pid[@]}"; do
    pid="${impair_pid[${name}]}"
    running "${pid}" && kill -TERM "${pid}" 2>/dev/null
    wait "${pid}" 2>/dev/null
    unset "impair_pid[${name}]"
  done
}
cleanup_hooks+=(stop_impairment)

impair col-a
impair col-b
if [[ "${impairment}" == netem ]]; then
  log "impairment: tc netem on both collectors' core links, both directions: delay ${delay_ms} ms +- ${jitter_ms} ms, loss ${loss_percent}%"
else
  log "impairment: nfqueue_impair (the kernel has no netem qdisc) on both collectors' core links, both directions: delay ${delay_ms} ms +- ${jitter_ms} ms (reordering), loss ${loss_percent}%"
fi

# Forwarding lines of col-a so far ("forwarding to the aggregator" is
# logged each time a stream is up again).
forwarding_lines() { grep -c "forwarding to the aggregator" "${tmp}/col-a.log" || true; }

# ---------------------------------------------------- half the night, lossy

lines_b="$(wc -l <"${night_b}")"
half_b=$((lines_b / 2))
head -n "${half_b}" "${night_b}" >"${tmp}/b.1.jsonl"
tail -n "+$((half_b + 1))" "${night_b}" >"${tmp}/b.2.jsonl"

started=${SECONDS}
submit submit-a1 "${ns_sta_a}" "${collector_a}" "${tmp}/a.1.jsonl"
submit submit-b1 "${ns_sta_b}" "${collector_b}" "${tmp}/b.1.jsonl"
wait_drained col-a "${ns_sta_a}" "${collector_a}" "${night_drain_timeout}"
wait_drained col-b "${ns_sta_b}" "${collector_b}" "${night_drain_timeout}"
log "first half of both regions forwarded over the lossy links in $((SECONDS - started))s"

# ----------------------------------------------------------- the blackout

forwarding_before="$(forwarding_lines)"
blackout col-a on
blackout_start=${SECONDS}
log "col-a's link silent (every packet dropped)"
# Stations keep reporting: col-a acknowledges into its outbox.
submit submit-a2 "${ns_sta_a}" "${collector_a}" "${tmp}/a.2.jsonl"
submit submit-b2 "${ns_sta_b}" "${collector_b}" "${tmp}/b.2.jsonl"
status="$(status_of "${ns_sta_a}" "${collector_a}")"
((  $(field outbox_depth <<<"${status}") > 0 )) ||
  fail "col-a's outbox is empty during the blackout: ${status}"

# The silent connection is noticed by keepalive: the status says the
# stream is down, with an error.
while true; do
  status="$(status_of "${ns_sta_a}" "${collector_a}")" || status="{}"
  if [[ "$(field aggregator_connected <<<"${status}" 2>/dev/null)" == False ]]; then
    break
  fi
  ((SECONDS - blackout_start < notice_timeout)) ||
    fail "col-a did not notice the silent link within ${notice_timeout}s: ${status}"
  sleep 0.5
done
noticed=$((SECONDS - blackout_start))
log "col-a noticed the silent link after ${noticed}s (keepalive 20 s + 10 s): $(field last_error <<<"${status}")"
while ((SECONDS - blackout_start < blackout_min_seconds)); do sleep 0.5; done
blackout col-a off
blackout_seconds=$((SECONDS - blackout_start))
restored=${SECONDS}
log "col-a's link back after ${blackout_seconds}s (still delayed and lossy)"

# ------------------------------------------------------------ the recovery

while true; do
  status="$(status_of "${ns_sta_a}" "${collector_a}")" || status="{}"
  if [[ "$(field aggregator_connected <<<"${status}" 2>/dev/null)" == True ]] &&
    (($(forwarding_lines) > forwarding_before)); then
    break
  fi
  ((SECONDS - restored < reconnect_timeout)) ||
    fail "col-a did not reconnect within ${reconnect_timeout}s of the link's return: ${status}"
  sleep 0.5
done
log "col-a forwarding again $((SECONDS - restored))s after the link's return: $(grep "forwarding to the aggregator" "${tmp}/col-a.log" | tail -n 1)"
wait_drained col-a "${ns_sta_a}" "${collector_a}" "${night_drain_timeout}"
wait_drained col-b "${ns_sta_b}" "${collector_b}" "${night_drain_timeout}"
log "both outboxes drained $((SECONDS - restored))s after the link's return"

# ------------------------------------------------------------ exact totals

expect_forwarded_exactly_once
expect_exact_totals

# ------------------------------------------------- the impairment acted

if [[ "${impairment}" == netem ]]; then
  for name in col-a col-b; do
    stats="$(ip netns exec "$(ns_of "${name}")" tc -s qdisc show dev eth0)"
    grep -q "netem" <<<"${stats}" || fail "no netem on ${name}: ${stats}"
    log "${name} netem: $(tr '\n' ' ' <<<"${stats}")"
  done
else
  stop_impairment
  for name in col-a col-b; do
    summary="$(grep "packets," "${tmp}/impair-${name}.log")" ||
      fail "nfqueue_impair for ${name} printed no summary: $(cat "${tmp}/impair-${name}.log")"
    log "${name} ${summary}"
    read -r packets delayed lost blacked reordered < <(sed -E \
      's/.*: ([0-9]+) packets, ([0-9]+) delayed, ([0-9]+) lost, ([0-9]+) dropped in blackout, ([0-9]+) reordered/\1 \2 \3 \4 \5/' \
      <<<"${summary}")
    ((delayed > 0 && lost > 0 && reordered > 0)) ||
      fail "${name}: the impairment did not delay, lose and reorder: ${summary}"
    if [[ "${name}" == col-a ]]; then
      ((blacked > 0)) || fail "col-a: nothing dropped in the blackout: ${summary}"
    fi
  done
fi

stop_servers
log "passed: impairment ${impairment}, blackout ${blackout_seconds}s, silent link noticed after ${noticed}s"
