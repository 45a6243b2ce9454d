#!/usr/bin/env python3
"""Regenerates proto/etcd/ from Debian's golang-etcd-server-dev (etcd 3.4).

tally talks to etcd over its v3 gRPC API. The upstream .proto files import
gogoproto and google.api annotations that only matter to Go code and to
etcd's HTTP gateway; this copy removes those options and imports and keeps
everything else (package names, messages, field numbers, services)
unchanged, so it stays wire-compatible and compiles with protoc 3.21 and
grpc_cpp_plugin 1.51. It is vendored (committed) rather than generated at
build time so that building tally needs neither the Go source packages nor
this script; run it again only to move to another etcd release:

    apt-get install golang-etcd-server-dev && scripts/vendor-etcd-protos.py
"""
import pathlib
import re
import sys

SOURCE = pathlib.Path("/usr/share/gocode/src/go.etcd.io/etcd")
FILES = [
    "mvcc/mvccpb/kv.proto",
    "auth/authpb/auth.proto",
    "etcdserver/etcdserverpb/rpc.proto",
    "etcdserver/api/v3election/v3electionpb/v3election.proto",
]
HEADER = """\
// Vendored from etcd {version} (Debian golang-etcd-server-dev), file {path}.
// Copyright The etcd Authors. Licensed under the Apache License, Version 2.0
// (see proto/etcd/LICENSE). Modified by scripts/vendor-etcd-protos.py: the
// gogoproto and google.api options and imports were removed; messages,
// fields and services are unchanged (wire-compatible).
"""


def strip_http_options(text: str) -> str:
    """Removes every `option (google.api.http) = { ... };` block."""
    out = []
    i = 0
    marker = re.compile(r"option\s*\(google\.api\.http\)\s*=\s*\{")
    while True:
        m = marker.search(text, i)
        if not m:
            out.append(text[i:])
            return "".join(out)
        # Drop the marker's line start (indentation) too.
        line_start = text.rfind("\n", 0, m.start()) + 1
        out.append(text[i:line_start])
        depth = 1
        j = m.end()
        while depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        # The closing `};` and the rest of its line.
        j = text.index("\n", j) + 1
        i = j


def convert(text: str) -> str:
    text = strip_http_options(text)
    lines = []
    for line in text.splitlines():
        if re.match(r'\s*import\s+"(gogoproto/gogo|google/api/annotations)\.proto";', line):
            continue
        if re.match(r"\s*option\s*\(gogoproto\.[a-z_]+\)", line):
            continue
        # Field options such as [(gogoproto.nullable) = false].
        line = re.sub(r"\s*\[\(gogoproto\.[^\]]*\]", "", line)
        lines.append(line.rstrip())
    # Collapse the blank runs left behind.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent / "proto" / "etcd"
    version = "3.4"
    changelog = pathlib.Path("/usr/share/doc/golang-etcd-server-dev/changelog.Debian.gz")
    if changelog.exists():
        import gzip
        first = gzip.open(changelog, "rt").readline()
        m = re.search(r"\(([^)]+)\)", first)
        if m:
            version = m.group(1)
    for path in FILES:
        source = SOURCE / path
        if not source.exists():
            print(f"missing {source}: apt-get install golang-etcd-server-dev",
                  file=sys.stderr)
            return 1
        converted = convert(source.read_text())
        if "gogoproto" in converted or "google.api" in converted:
            print(f"{path}: options left after conversion", file=sys.stderr)
            return 1
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(HEADER.format(version=version, path=path) + converted)
        print(f"wrote {target.relative_to(root.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
