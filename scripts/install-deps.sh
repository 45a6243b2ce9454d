#!/usr/bin/env bash
# Installs every Debian 12 package tally needs to build, test and run.
# Idempotent and quick when everything is present: apt-get runs only when a
# package is missing.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config git
  protobuf-compiler libprotobuf-dev        # the tally.v1 contract
  libgrpc++-dev protobuf-compiler-grpc     # gRPC services (callback API)
  libabsl-dev                              # flags, strings, Status, containers
  librocksdb-dev                           # durable stores (aggregator, collector)
  python3-grpcio python3-protobuf          # the Python client test
  libssl-dev                               # SHA-256 protocol digests, token digests
  openssl                                  # deploy/tls/gen-dev-certs.sh (dev CA, certificates)
  libcpp-httplib-dev                       # HTTP/SSE gateway, admin endpoints
  prometheus-cpp-dev                       # Prometheus metrics (core library)
  libgtest-dev libgmock-dev                # tests
  libbenchmark-dev                         # benchmarks
  postgresql-15 libpq-dev                  # tally-bench's PostgreSQL peer (server binaries, libpq)
  etcd-server etcd-client                  # replication: the consensus engine and etcdctl
  faketime                                 # tests/replication: replicas with skewed clocks
  iproute2                                 # ip netns/veth/bridge for tests/multihost
  iptables libnetfilter-queue-dev          # tests/fault: NFQUEUE link impairment where the kernel has no netem
  python3-yaml                             # the deploy manifests test
  python3-cryptography                     # the transparency log's independent Python check (Ed25519)
  python3-jsonschema                       # validates the NIST SP 1500-100 exports against the schema (scripts/check-nist-cdf.py)
  # tests/deploy/containers_test.py: the Dockerfile and the compose file
  # really run, rootful, with no container registry.
  podman                                   # builds the image, runs the containers
  podman-compose                           # runs deploy/compose/compose.yaml
  runc                                     # the OCI runtime (crun refuses hybrid cgroups)
  netavark aardvark-dns                    # the compose network; service names resolve
  iptables                                 # netavark's NAT and published ports
  mmdebstrap                               # the debian:12 base image, from apt
  clang-format                             # the format check in the suite
  clang libclang-rt-14-dev                 # Clang build, ThreadSanitizer run and libFuzzer (scripts/fuzz.sh)
  chromium fonts-liberation                # the web page test (tests/browser)
  # The edge (deploy/edge): nginx's core package already has proxy_cache
  # and upstream keepalive (nginx-light only adds the echo module).
  nginx                                    # caching reverse proxy before the gateways
  wrk                                      # scripts/edge-load.sh: HTTP load through the edge
)
# node and npm drive the browser test; a node already on PATH (any >= 18)
# is used as it is.
if ! command -v node >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# playwright-core for the browser test, exactly as locked; again only when
# node_modules is missing or older than the lock file.
browser_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/browser"
if [ -f "$browser_dir/package-lock.json" ] &&
    { [ ! -d "$browser_dir/node_modules" ] ||
      [ "$browser_dir/package-lock.json" -nt "$browser_dir/node_modules" ]; }; then
  echo "installing: npm packages of tests/browser"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$browser_dir/node_modules"
fi
