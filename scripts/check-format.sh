#!/usr/bin/env bash
# Fails when a C++ source of the project is not clang-formatted (Google style,
# .clang-format at the root).
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(find proto services storage clients tests \
  \( -name '*.cc' -o -name '*.h' \) -not -path '*/build*' 2>/dev/null | sort)
bad=()
for f in "${files[@]}"; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "not clang-formatted (run clang-format -i): ${bad[*]}"
  exit 1
fi
echo "${#files[@]} files formatted"
