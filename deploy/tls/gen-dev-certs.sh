#!/usr/bin/env bash
# Development certificates for tally: a private CA, one server certificate
# for the aggregator, relays and gateways, one certificate per regional
# collector (its server certificate and its client identity towards the
# aggregator), the aggregator's --collector_identities file, and a station
# client token with the collector's --station_tokens file.
#
#   deploy/tls/gen-dev-certs.sh OUTDIR [REGION...]
#
# REGION defaults to the 20 regions of the reference election. Idempotent:
# what exists in OUTDIR is kept (a second run only adds certificates for
# new regions, signed by the same CA). Nothing here belongs in git: OUTDIR
# holds private keys and a token. Needs the openssl command line tool.
#
# TALLY_DEV_CERT_EXTRA_SANS: more subjectAltNames for the server
# certificate and for every collector certificate, comma-separated
# IP:ADDRESS or DNS:NAME entries, for servers dialled by another address
# than loopback or their service name, e.g.
#
#   TALLY_DEV_CERT_EXTRA_SANS="IP:10.77.0.1,IP:10.77.1.1,DNS:tally.lan" \
#     deploy/tls/gen-dev-certs.sh OUTDIR
#
# Only certificates issued by this run carry them: a certificate already
# in OUTDIR is kept as it is (a warning names the names it lacks), so
# change the list with a fresh OUTDIR (or delete the certificates).
set -euo pipefail

if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  echo "usage: $0 OUTDIR [REGION...]" >&2
  exit 2
fi
out="$1"
shift
regions=("$@")
if [ ${#regions[@]} -eq 0 ]; then
  regions=(astana almaty shymkent abai akmola aktobe almaty-region atyrau
           west-kazakhstan jambyl jetisu karaganda kostanay kyzylorda
           mangystau pavlodar north-kazakhstan turkistan ulytau
           east-kazakhstan)
fi
command -v openssl >/dev/null || {
  echo "$0: openssl is required (Debian package openssl)" >&2
  exit 1
}
for region in "${regions[@]}"; do
  if ! [[ "$region" =~ ^[a-z0-9][a-z0-9-]*$ ]]; then
    echo "$0: region \"$region\" must be lower-case letters, digits and '-'" >&2
    exit 2
  fi
done
# Checked here, not by openssl: a malformed entry would otherwise fail
# deep in `openssl x509` with its output discarded.
extra_sans=()
if [ -n "${TALLY_DEV_CERT_EXTRA_SANS:-}" ]; then
  IFS=, read -r -a extra_sans <<<"$TALLY_DEV_CERT_EXTRA_SANS"
  for entry in "${extra_sans[@]}"; do
    if ! [[ "$entry" =~ ^IP:[0-9A-Fa-f.:]+$ ||
      "$entry" =~ ^DNS:[A-Za-z0-9*]([A-Za-z0-9.-]*[A-Za-z0-9])?$ ]]; then
      echo "$0: TALLY_DEV_CERT_EXTRA_SANS entry \"$entry\" is not IP:ADDRESS or DNS:NAME" >&2
      exit 2
    fi
  done
fi
extra_san=""
for entry in "${extra_sans[@]}"; do
  extra_san+=",$entry"
done

mkdir -p "$out"
umask 077
days=825

# A fresh EC P-256 key and a certificate signed by the CA.
#   issue NAME COMMON_NAME EXTENDED_KEY_USAGE SUBJECT_ALT_NAMES
issue() {
  local name="$1" cn="$2" eku="$3" san="$4"
  if [ -f "$out/$name.pem" ] && [ -f "$out/$name.key" ]; then
    warn_missing_sans "$name"
    return 0
  fi
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$out/$name.key" -subj "/O=tally dev/CN=$cn" \
    -out "$out/$name.csr" 2>/dev/null
  printf '%s\n' \
    "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=$eku" \
    "subjectAltName=$san" >"$out/$name.ext"
  openssl x509 -req -in "$out/$name.csr" -CA "$out/ca.pem" \
    -CAkey "$out/ca.key" -CAcreateserial -days "$days" -sha256 \
    -extfile "$out/$name.ext" -out "$out/$name.pem" 2>/dev/null
  rm -f "$out/$name.csr" "$out/$name.ext"
}

# Says which extra names a kept certificate NAME lacks (it is not
# reissued: its key may already be deployed).
warn_missing_sans() {
  local name="$1" have entry missing=""
  [ ${#extra_sans[@]} -eq 0 ] && return 0
  # openssl prints "IP Address:10.0.0.1, DNS:name": compare in its
  # spelling (IPv6 addresses are printed expanded, so may be reported
  # even when present).
  have="$(openssl x509 -in "$out/$name.pem" -noout -ext subjectAltName \
    2>/dev/null | tail -n +2 | tr -d ' ')"
  for entry in "${extra_sans[@]}"; do
    case ",$have," in
      *",${entry/#IP:/IPAddress:},"*) ;;
      *) missing+=" $entry" ;;
    esac
  done
  if [ -n "$missing" ]; then
    echo "$0: warning: kept $out/$name.pem lacks$missing (use a fresh OUTDIR to add them)" >&2
  fi
}

if [ ! -f "$out/ca.pem" ] || [ ! -f "$out/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$out/ca.key" -subj "/O=tally dev/CN=tally dev CA" \
    -days "$days" -sha256 \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$out/ca.pem" 2>/dev/null
fi

# The shared server certificate: loopback plus the service names of the
# deploy manifests and the extra names. The replicas and etcd members are
# dialled by name: aggregator-N and etcd-N in Compose,
# aggregator-N.aggregator-headless and etcd-N.etcd (a StatefulSet pod under
# its headless Service) on Kubernetes. It is also a client certificate:
# replicas present it to etcd and to each other (copying a store), and
# etcd members present it to their peers. It names no collector: the
# aggregator takes any certificate carrying a collector-REGION name for
# that collector (and refuses it a store copy), and each collector has a
# certificate of its own.
server_san="IP:127.0.0.1,DNS:localhost,DNS:aggregator,DNS:relay,DNS:gateway"
for n in 0 1 2; do
  server_san+=",DNS:aggregator-$n,DNS:aggregator-$n.aggregator-headless"
  server_san+=",DNS:etcd-$n,DNS:etcd-$n.etcd"
done
# A server certificate of an earlier version of this script was not a
# client certificate, lacked the replicas' Kubernetes names, or named the
# collectors: issue it again (a development certificate).
if [ -f "$out/server.pem" ] &&
  { ! openssl x509 -in "$out/server.pem" -noout -ext extendedKeyUsage \
    2>/dev/null | grep -q "Client Authentication" ||
    ! openssl x509 -in "$out/server.pem" -noout -ext subjectAltName \
      2>/dev/null | grep -q "DNS:aggregator-0.aggregator-headless" ||
    openssl x509 -in "$out/server.pem" -noout -ext subjectAltName \
      2>/dev/null | grep -q "DNS:collector-"; }; then
  rm -f "$out/server.pem" "$out/server.key"
fi
issue server tally-server serverAuth,clientAuth "$server_san$extra_san"

for region in "${regions[@]}"; do
  issue "collector-$region" "collector-$region" serverAuth,clientAuth \
    "DNS:collector-$region,DNS:localhost,IP:127.0.0.1$extra_san"
done

# Every collector certificate in OUTDIR, bound to its region.
{
  echo "# identity  region  collector id (tally-aggregator --collector_identities)"
  for cert in "$out"/collector-*.pem; do
    [ -e "$cert" ] || continue
    name="$(basename "$cert" .pem)"
    echo "$name ${name#collector-} $name"
  done
} >"$out/collector-identities.txt"

# One station client token valid for every station of any region; the
# collectors keep only its SHA-256.
if [ ! -f "$out/station-client.token" ]; then
  openssl rand -hex 32 >"$out/station-client.token"
fi
digest="$(tr -d '[:space:]' <"$out/station-client.token" |
  openssl dgst -sha256 -r | cut -d' ' -f1)"
{
  echo "# sha256(token)  client name  stations (tally-collector --station_tokens)"
  echo "$digest dev-client *"
} >"$out/station-tokens.txt"

extra_list="${extra_san#,}"
extra_list="${extra_list//,/, }"
cat >"$out/README.md" <<README
# Development certificates (not for production)

Made by deploy/tls/gen-dev-certs.sh. Keep this directory out of git: it
holds private keys and a token.

| file | use |
| --- | --- |
| ca.pem | the dev CA: \`--tls_ca\` of every client, \`--tls_client_ca\` of the aggregator |
| ca.key | the CA's key (only to issue more certificates) |
| server.pem, server.key | \`--tls_cert\`, \`--tls_key\` of the aggregator and relays, and the certificate of the etcd members (127.0.0.1, localhost, aggregator, relay, gateway, aggregator-0..2, etcd-0..2 and their Kubernetes names${extra_san:+, and the extra names below}; no collector name); also a client certificate (replicas towards etcd and each other, etcd members towards their peers) |
| collector-REGION.pem, .key | \`--tls_cert\`, \`--tls_key\` of that region's collector: its server certificate and its client identity towards the aggregator (collector-REGION, localhost, 127.0.0.1${extra_san:+, and the extra names below}) |
| collector-identities.txt | the aggregator's \`--collector_identities\` |
| station-client.token | a station client token: \`tallyctl submit --token_file\` (or \$TALLY_TOKEN) |
| station-tokens.txt | the collectors' \`--station_tokens\` (the token's SHA-256, client dev-client, every station) |
${extra_san:+
Extra subjectAltNames asked for by the last run
(TALLY_DEV_CERT_EXTRA_SANS; certificates that were already here were kept
as they were): ${extra_list}.
}
README
chmod 644 "$out"/*.pem "$out/collector-identities.txt" "$out/station-tokens.txt" \
  "$out/README.md"
echo "dev certificates in $out: ca.pem, server.pem, ${#regions[@]} collector certificates, collector-identities.txt, station-tokens.txt"
