#!/usr/bin/env bash
# Writes the edge's nginx configuration (nginx.conf.template in this
# directory) to stdout.
#
#   render.sh --listen HOST:PORT --gateway HOST:PORT [--gateway ...]
#             --prefix DIR [--worker_connections N] [--max_files N]
#
# --listen: where nginx serves (HOST:PORT, or a port); --gateway: each
# tally-gateway it balances over (at least one); --prefix: the directory
# for its pid file, temporary files and cache (created by nginx's user,
# who must be able to write it). The defaults hold 16,384 connections per
# worker.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
listen=""
prefix=""
gateways=()
worker_connections=16384
max_files=40000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --listen) listen="$2"; shift 2 ;;
    --gateway) gateways+=("$2"); shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --worker_connections) worker_connections="$2"; shift 2 ;;
    --max_files) max_files="$2"; shift 2 ;;
    *) echo "render.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [[ -z "${listen}" || -z "${prefix}" || ${#gateways[@]} -eq 0 ]]; then
  echo "usage: render.sh --listen HOST:PORT --gateway HOST:PORT [--gateway ...] --prefix DIR" >&2
  exit 2
fi
servers=""
for gateway in "${gateways[@]}"; do
  servers+="    server ${gateway} max_fails=1 fail_timeout=2s;"$'\n'
done
servers="${servers%$'\n'}"
while IFS= read -r line; do
  if [[ "${line}" == "@GATEWAYS@" ]]; then
    printf '%s\n' "${servers}"
    continue
  fi
  line="${line//@LISTEN@/${listen}}"
  line="${line//@PREFIX@/${prefix}}"
  line="${line//@WORKER_CONNECTIONS@/${worker_connections}}"
  line="${line//@MAX_FILES@/${max_files}}"
  printf '%s\n' "${line}"
done <"${here}/nginx.conf.template"
