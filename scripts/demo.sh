#!/usr/bin/env bash
# The demo on the embedded defaults: the reference election (Kazakhstan,
# Mazhilis, 19 March 2023) summarised, and its official party-list result
# turned into seats by tally's own allocation library.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2 --target tallyctl reference_definition >/dev/null

tallyctl=build/clients/tallyctl/tallyctl
echo "== The reference election (embedded default) =="
"$tallyctl" definition summary
echo
echo "== Official party-list votes, 69 seats, Hare quota, 5% threshold =="
"$tallyctl" seats --table --input deploy/elections/kz-2023-list-result.json
echo
echo "== The same as JSON (tallyctl seats) =="
"$tallyctl" seats --input deploy/elections/kz-2023-list-result.json
