#!/usr/bin/env bash
# Writes collectors.yaml in this directory (and edge-config.yaml, the edge's
# nginx configuration as a ConfigMap): for every region of the election
# definition (`tallyctl simulate --list_regions`) a one-replica StatefulSet
# with its own volume for the RocksDB outbox and a Service
# collector-<region>:7500, plus the headless Service that governs them all.
# collectors.yaml is committed; rerun this after changing the regions.
#
#   generate.sh [--tallyctl PATH] [--definition FILE]
#
# Why a StatefulSet per region (see README.md): a collector acknowledges a
# protocol once it is in its outbox, so the outbox volume must follow the
# region's collector across restarts and rescheduling, and two pods must
# never serve one region (they would share a collector id and its sequence
# numbers at the aggregator). A StatefulSet binds the volume to the pod
# identity and runs at most one pod per identity; one StatefulSet per region
# keeps --region a plain flag rather than something derived from an ordinal.
#
# Each collector is given the list of the aggregator's replicas
# (aggregator-N.aggregator-headless:7400) and sends to whichever leads.
#
# TLS: each collector serves station clients and authenticates to the
# aggregator with its own certificate (Secret collector-<region>-tls, type
# kubernetes.io/tls), verifies the aggregator with ca.pem of tally-tls, and
# checks station tokens against tally-station-tokens (README.md).
#
# Admin: --admin_listen=0.0.0.0:9500 serves /metrics (scraped through the
# pod's prometheus.io annotations) and /healthz (the probes) in plain HTTP
# on the container port named admin; logs are JSON lines on stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "${here}/../.." && pwd)"
# deploy/edge/render.sh of this repository (TALLY_SOURCE: of another
# checkout, for a copy of this script run elsewhere).
render="${TALLY_SOURCE:-${repo}}/deploy/edge/render.sh"
tallyctl="${repo}/build/clients/tallyctl/tallyctl"
definition=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --tallyctl) tallyctl="$2"; shift 2 ;;
    --definition) definition="$2"; shift 2 ;;
    *) echo "generate.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -x "${tallyctl}" ]] || {
  echo "generate.sh: ${tallyctl} not found (build tallyctl or give --tallyctl)" >&2
  exit 1
}
list_args=(simulate --list_regions)
[[ -n "${definition}" ]] && list_args+=(--definition "${definition}")
mapfile -t regions < <("${tallyctl}" "${list_args[@]}")
[[ ${#regions[@]} -gt 0 ]] || { echo "generate.sh: no regions" >&2; exit 1; }

out="${here}/collectors.yaml"
tmp="$(mktemp "${out}.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
{
  cat <<EOF
# One collector per region (${#regions[@]}): a StatefulSet with the region's
# outbox volume and a Service collector-<region>:7500 for station clients.
# Written by deploy/kubernetes/generate.sh from \`tallyctl simulate
# --list_regions\`: edit the script, not this file.
#
# TLS: the region's certificate (Secret collector-<region>-tls) is both the
# collector's server certificate and its client identity towards the
# aggregator, which binds it to the region (--collector_identities).
# Admin (plain HTTP, container port admin, 9500): /metrics for Prometheus
# (prometheus.io annotations), /healthz for the probes.
apiVersion: v1
kind: Service
metadata:
  name: collectors
  labels:
    app.kubernetes.io/name: tally
    app.kubernetes.io/component: collector
spec:
  clusterIP: None
  publishNotReadyAddresses: true
  selector:
    app.kubernetes.io/name: tally
    app.kubernetes.io/component: collector
  ports:
    - name: grpc
      port: 7500
      targetPort: grpc
      appProtocol: https  # gRPC over TLS
EOF
  for region in "${regions[@]}"; do
    cat <<EOF
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: collector-${region}
  labels:
    app.kubernetes.io/name: tally
    app.kubernetes.io/component: collector
    tally/region: ${region}
spec:
  serviceName: collectors
  # Exactly one: a second pod would reuse the collector id.
  replicas: 1
  updateStrategy:
    type: RollingUpdate
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Retain
    whenScaled: Retain
  selector:
    matchLabels:
      app.kubernetes.io/name: tally
      app.kubernetes.io/component: collector
      tally/region: ${region}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: tally
        app.kubernetes.io/component: collector
        tally/region: ${region}
      annotations:
        prometheus.io/scrape: "true"
        prometheus.io/port: "9500"
        prometheus.io/path: /metrics
    spec:
      # Longer than --shutdown_grace_ms (5 s) plus stopping the forwarder
      # and closing the outbox.
      terminationGracePeriodSeconds: 30
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        runAsGroup: 10001
        fsGroup: 10001
      containers:
        - name: collector
          image: tally:0.1.0
          imagePullPolicy: IfNotPresent
          command: ["tally-collector"]
          args:
            - --region=${region}
            - --listen=0.0.0.0:7500
            - --data_dir=/var/lib/tally/collector
            - --aggregator=aggregator-0.aggregator-headless:7400,aggregator-1.aggregator-headless:7400,aggregator-2.aggregator-headless:7400
            - --shutdown_grace_ms=5000
            - --tls_cert=/etc/tally/collector-tls/tls.crt
            - --tls_key=/etc/tally/collector-tls/tls.key
            - --tls_ca=/etc/tally/ca/ca.pem
            - --station_tokens=/etc/tally/tokens/station-tokens.txt
            - --admin_listen=0.0.0.0:9500
            - --log_format=json
          ports:
            - name: grpc
              containerPort: 7500
              protocol: TCP
            - name: admin
              containerPort: 9500
              protocol: TCP
          # GET /healthz on the plain-HTTP admin port: 200 while serving,
          # 503 while starting (outbox opening) or draining. It does not
          # depend on the aggregator: an outage only grows the outbox, and
          # the collector keeps accepting.
          startupProbe:
            httpGet:
              path: /healthz
              port: admin
            periodSeconds: 5
            failureThreshold: 60
          readinessProbe:
            httpGet:
              path: /healthz
              port: admin
            periodSeconds: 5
            failureThreshold: 2
          livenessProbe:
            httpGet:
              path: /healthz
              port: admin
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          resources:
            requests:
              cpu: 100m
              memory: 256Mi
            limits:
              memory: 1Gi
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: ["ALL"]
          volumeMounts:
            - name: outbox
              mountPath: /var/lib/tally/collector
            - name: tmp
              mountPath: /tmp
            - name: tls
              mountPath: /etc/tally/collector-tls
              readOnly: true
            - name: ca
              mountPath: /etc/tally/ca
              readOnly: true
            - name: tokens
              mountPath: /etc/tally/tokens
              readOnly: true
      volumes:
        - name: tmp
          emptyDir: {}
        # Group-readable only: fsGroup gives the files to group 10001.
        - name: tls
          secret:
            secretName: collector-${region}-tls
            defaultMode: 0440
            items:
              - key: tls.crt
                path: tls.crt
              - key: tls.key
                path: tls.key
        # Only the CA of tally-tls: the shared server key stays out.
        - name: ca
          secret:
            secretName: tally-tls
            defaultMode: 0440
            items:
              - key: ca.pem
                path: ca.pem
        - name: tokens
          secret:
            secretName: tally-station-tokens
            defaultMode: 0440
            items:
              - key: station-tokens.txt
                path: station-tokens.txt
  volumeClaimTemplates:
    - metadata:
        name: outbox
      spec:
        accessModes: ["ReadWriteOnce"]
        resources:
          requests:
            storage: 2Gi
---
apiVersion: v1
kind: Service
metadata:
  name: collector-${region}
  labels:
    app.kubernetes.io/name: tally
    app.kubernetes.io/component: collector
    tally/region: ${region}
spec:
  type: ClusterIP
  selector:
    app.kubernetes.io/name: tally
    app.kubernetes.io/component: collector
    tally/region: ${region}
  ports:
    - name: grpc
      port: 7500
      targetPort: grpc
      appProtocol: https  # gRPC over TLS
EOF
  done
} >"${tmp}"
chmod 644 "${tmp}"
mv "${tmp}" "${out}"
trap - EXIT
echo "wrote ${out} (${#regions[@]} collectors)"

# The edge's nginx configuration (deploy/edge), as the ConfigMap that
# edge.yaml mounts: listening on 8081, balancing over the gateway Service.
edge_out="${here}/edge-config.yaml"
{
  cat <<EOF
# The edge's nginx configuration (deploy/edge/nginx.conf.template), mounted
# by edge.yaml. Written by deploy/kubernetes/generate.sh with
# deploy/edge/render.sh: edit the template, not this file.
apiVersion: v1
kind: ConfigMap
metadata:
  name: edge-nginx
  labels:
    app.kubernetes.io/name: tally
    app.kubernetes.io/component: edge
data:
  nginx.conf: |
EOF
  "${render}" --listen 0.0.0.0:8081 --gateway gateway:80 \
    --prefix /var/cache/tally-edge | sed 's/^\(.\)/    \1/'
} >"${edge_out}"
echo "wrote ${edge_out}"
