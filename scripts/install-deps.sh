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
  libssl-dev                               # SHA-256 protocol digests
  libgtest-dev libgmock-dev                # tests
  libbenchmark-dev                         # benchmarks
  clang-format                             # the format check in the suite
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null |
      grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
