#!/usr/bin/python3
"""Checks the deployment files against the binaries they run.

  manifests_test.py --source SOURCE_DIR --build BUILD_DIR

Kubernetes cannot run in the test environment, and Docker and Compose run
(tests/deploy/containers_test.py, with podman) only where podman can, so this
parses deploy/docker/Dockerfile, /.dockerignore, deploy/compose/compose.yaml
and every manifest of deploy/kubernetes on every machine, and checks what
would break at start or under load:

- every --flag of every container command (and of the health checks that run
  tallyctl) is defined by the binary, as its --helpfull output says; the
  flags each server requires are given; servers listen on 0.0.0.0;
- listen ports agree with container ports, published ports, Service target
  ports, probe ports and the addresses other services dial; an address
  list (--aggregator A,B,C, --upstream, --etcd_endpoints) names only
  servers that exist, each once, and every replica of the aggregator and
  every etcd member (a client follows only the replicas it is given); on
  Kubernetes a StatefulSet pod is dialled as POD.SERVICE under its headless
  Service;
- the replicated aggregator: REPLICAS (3) replicas, each with
  --etcd_endpoints, a unique --replica_id (on Kubernetes the pod's name
  from the downward API) and --advertise naming its own address, the TLS
  flags towards etcd when the members ask for client certificates; on
  Kubernetes a StatefulSet with a volume claim per replica, started in
  parallel, under a headless Service that publishes not-ready pods, and a
  PodDisruptionBudget of one pod at a time;
- etcd, run from the same image: every flag is one of `etcd --help` (and
  of `etcdctl --help` in health checks and init containers) of the
  machine's Debian etcd-server and etcd-client; each member has its name,
  URLs (https towards clients and peers, plain HTTP metrics, listeners on
  0.0.0.0), an initial cluster listing exactly the members at their peer
  URLs, TLS with client certificates both ways, --snapshot-count (at most
  ETCD_MAX_SNAPSHOT_COUNT), --auto-compaction-retention=0, a space quota,
  and its data on a named volume or volume claim; Compose health checks
  run `etcdctl endpoint health` over TLS against the member itself,
  Kubernetes probes GET /health on the metrics port; the aggregator's
  init container waits with etcdctl for exactly its --etcd_endpoints;
- every server runs its admin HTTP server (--admin_listen on 0.0.0.0, a port
  of its own: /metrics and /healthz) and --log_format=json; the admin port
  is the container port named admin, the port of the readiness and liveness
  probes (httpGet /healthz) and of the prometheus.io/port annotation (with
  prometheus.io/scrape "true" and prometheus.io/path /metrics), is EXPOSEd
  by the Dockerfile, and in Compose is published only for the aggregator,
  on 127.0.0.1; Compose health checks dial the listen port or GET /healthz
  on the admin port;
- each region of `tallyctl simulate --list_regions` has exactly one collector
  in Compose and in Kubernetes, with a data directory on its own persistent
  volume; the aggregator's data directory is persistent too;
- every server runs with the complete TLS flag set of its binary or with
  --insecure, and neither Compose nor Kubernetes uses --insecure; every file
  a flag names (certificates, keys, collector identities, station tokens,
  etcd's and etcdctl's certificates) is mounted read-only: in Compose a
  bind mount of a file that deploy/tls/gen-dev-certs.sh makes, in
  Kubernetes a Secret volume holding that key, as created by the `kubectl
  create secret` commands of deploy/kubernetes/README.md from
  gen-dev-certs.sh's files; each flag
  names the right one of those files (a certificate, not a key; the CA;
  a collector its own region's certificate);
- probes: readiness and liveness are httpGet /healthz on the admin port;
  the kubelet's grpc: probe is plain text, so TLS servers have none; the
  aggregator's startup probe is a real read (`tallyctl results` over TLS
  against its own port), so it is never ready before that works; other
  startup probes are httpGet /healthz on the admin port, tcpSocket on the
  listen port or tallyctl; the relay has a CPU HorizontalPodAutoscaler and
  a PodDisruptionBudget, grace periods exceed --shutdown_grace_ms;
- the generated files (compose.yaml, collectors.txt, edge.conf,
  collectors.yaml, edge-config.yaml) are what deploy/compose/generate.sh and
  deploy/kubernetes/generate.sh write for the build's tallyctl;
- the edge (deploy/edge), an nginx service in Compose and an nginx
  Deployment in Kubernetes: in the foreground with a prefix the image makes
  for its user (Compose) or on an emptyDir (Kubernetes) and its
  configuration mounted read-only (a ConfigMap), which
  caches the JSON (proxy_cache, proxy_cache_lock, proxy_cache_use_stale
  updating, proxy_cache_revalidate, X-Cache-Status), never buffers nor
  caches /v1/watch, keeps every path under the prefix, passes `nginx -t`
  where nginx is installed, listens on an EXPOSEd, published (container,
  probe) port and balances over addresses that reach the gateway; the
  Ingress sends the public to the edge;
- the Dockerfile has a debian:12 builder and a debian:12-slim runtime, builds
  and copies every binary, runs as a non-root user, ships the web page where
  --web_dir points, installs runtime packages that exist in Debian 12
  (apt-cache) and hold every shared library the built binaries load,
  etcd-server and etcd-client, and nginx;
- the build context: /.dockerignore (the one file every builder reads; no
  deploy/docker/Dockerfile.dockerignore, which podman 4.3 ignores and
  BuildKit would prefer) lets in every file the Dockerfile COPYs and keeps
  out the decoy secrets of DECOY_SECRETS: keys, tokens and certificates
  where a checkout has them.

Prints a summary; exits 1 listing every mismatch, 2 on bad usage.
"""

import argparse
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

# Image command name -> path of the built binary under the build directory.
BINARIES = {
    "tally-aggregator": "services/aggregator/tally-aggregator",
    "tally-collector": "services/collector/tally-collector",
    "tally-relay": "services/relay/tally-relay",
    "tally-gateway": "services/gateway/tally-gateway",
    "tallyctl": "clients/tallyctl/tallyctl",
}
SERVERS = ("tally-aggregator", "tally-collector", "tally-relay",
           "tally-gateway")
GRPC_SERVERS = ("tally-aggregator", "tally-collector", "tally-relay")
# Flags without which a server is wrong in a container: --listen (the
# default is 127.0.0.1, unreachable from other containers), data
# directories, the region, upstreams, and the gateway's --web_dir (its
# default is a path of the build machine).
# The admin server (--admin_listen, default off) and the log format are
# required too: without them nothing scrapes or probes the server.
REQUIRED_FLAGS = {
    "tally-aggregator": ("listen", "data_dir", "admin_listen", "log_format"),
    "tally-collector": ("listen", "data_dir", "region", "aggregator",
                        "admin_listen", "log_format"),
    "tally-relay": ("listen", "upstream", "admin_listen", "log_format"),
    "tally-gateway": ("listen", "upstream", "web_dir", "admin_listen",
                      "log_format"),
}
# Flags every server has for operations: the admin HTTP server (/metrics,
# /healthz) and the format of its logs on stderr.
ADMIN_FLAGS = ("admin_listen", "log_format")
LOG_FORMATS = ("text", "json")
# What Compose and Kubernetes run with: one JSON object per line, for log
# collectors.
DEPLOYED_LOG_FORMAT = "json"
# The pod template annotations of the common Prometheus kubernetes-pods
# scrape job; {port} is the admin port.
SCRAPE_ANNOTATIONS = {"prometheus.io/scrape": "true",
                      "prometheus.io/port": "{port}",
                      "prometheus.io/path": "/metrics"}
# Flags naming other servers (an address, or a comma-separated list of
# them): flag -> binaries that may be behind it. A list naming replicas of
# the aggregator or members of etcd must name all of them: a client only
# ever follows the replicas it was given.
ADDRESS_FLAGS = {
    ("tally-collector", "aggregator"): ("tally-aggregator",),
    ("tally-relay", "upstream"): ("tally-aggregator", "tally-relay"),
    ("tally-gateway", "upstream"): ("tally-aggregator",),
    ("tally-gateway", "feed"): ("tally-aggregator", "tally-relay"),
    ("tally-aggregator", "etcd_endpoints"): ("etcd",),
}
# Servers of which a list names every instance.
REPLICATED = ("tally-aggregator", "etcd")
# The replicated aggregator as deployed: this many aggregator replicas on
# an etcd cluster of this many members (odd: a quorum survives a loss).
REPLICAS = 3
# A replica's flags besides --etcd_endpoints: its name and the address
# collectors and the other replicas reach it at.
REPLICA_FLAGS = ("replica_id", "advertise")
# The aggregator's flags for TLS to etcd (all three when the members ask
# for client certificates).
ETCD_CLIENT_TLS_FLAGS = ("etcd_tls_ca", "etcd_tls_cert", "etcd_tls_key")
# etcd (Debian's etcd-server 3.4) runs from the same image: flags read
# from `etcd --help` and `etcdctl --help` of the machine, the same
# packages (scripts/install-deps.sh). Every member gives these: its
# identity, URLs and initial cluster, the plain-HTTP metrics listener
# (/metrics, /health), and the limits the aggregator relies on:
# --snapshot-count bounds the raft log etcd keeps in memory,
# auto-compaction is off (the leader compacts after truncating its log),
# and a space quota.
ETCD_PACKAGES = ("etcd-server", "etcd-client")
ETCD_REQUIRED_FLAGS = ("name", "data-dir", "listen-client-urls",
                       "advertise-client-urls", "listen-peer-urls",
                       "initial-advertise-peer-urls", "initial-cluster",
                       "initial-cluster-state", "initial-cluster-token",
                       "listen-metrics-urls", "snapshot-count",
                       "auto-compaction-retention", "quota-backend-bytes")
# TLS towards clients and peers, each side presenting a certificate.
ETCD_TLS_FLAGS = ("cert-file", "key-file", "trusted-ca-file",
                  "client-cert-auth", "peer-cert-file", "peer-key-file",
                  "peer-trusted-ca-file", "peer-client-cert-auth")
ETCD_FILE_FLAGS = ("cert-file", "key-file", "trusted-ca-file",
                   "peer-cert-file", "peer-key-file", "peer-trusted-ca-file")
ETCDCTL_FILE_FLAGS = ("cacert", "cert", "key")
# etcd's default (100000 entries, each up to a 256 KB round) would hold
# gigabytes of raft log in memory; deploy/local-cluster uses 2000.
ETCD_MAX_SNAPSHOT_COUNT = 10000
# etcd's documented largest sensible space quota.
ETCD_MAX_QUOTA_BYTES = 8 * 1024 ** 3
# The TLS flags each server needs unless it runs --insecure (its main.cc
# refuses to start with part of them).
TLS_FLAGS = {
    "tally-aggregator": ("tls_cert", "tls_key", "tls_client_ca",
                         "collector_identities"),
    "tally-collector": ("tls_cert", "tls_key", "tls_ca", "station_tokens"),
    "tally-relay": ("tls_cert", "tls_key", "tls_ca"),
    "tally-gateway": ("tls_ca",),
}
# Optional flags that come in pairs (a client certificate and its key).
TLS_PAIRS = {"tally-collector": (("client_cert", "client_key"),)}
# Flags whose value is a file to mount (servers and tallyctl).
FILE_FLAGS = ("tls_cert", "tls_key", "tls_ca", "tls_client_ca",
              "collector_identities", "station_tokens", "client_cert",
              "client_key", "token_file", "etcd_tls_ca", "etcd_tls_cert",
              "etcd_tls_key", "peer_tls_ca")
# The file of deploy/tls/gen-dev-certs.sh each file flag must name, per
# binary ({region}: the collector's region); tallyctl's apply to every
# health check.
DEV_FILES = {
    "tally-aggregator": {"tls_cert": "server.pem", "tls_key": "server.key",
                         "tls_client_ca": "ca.pem",
                         "collector_identities": "collector-identities.txt",
                         "etcd_tls_ca": "ca.pem",
                         "etcd_tls_cert": "server.pem",
                         "etcd_tls_key": "server.key",
                         "peer_tls_ca": "ca.pem"},
    "tally-collector": {"tls_cert": "collector-{region}.pem",
                        "tls_key": "collector-{region}.key",
                        "client_cert": "collector-{region}.pem",
                        "client_key": "collector-{region}.key",
                        "tls_ca": "ca.pem",
                        "station_tokens": "station-tokens.txt"},
    "tally-relay": {"tls_cert": "server.pem", "tls_key": "server.key",
                    "tls_ca": "ca.pem"},
    "tally-gateway": {"tls_ca": "ca.pem"},
    "tallyctl": {"tls_ca": "ca.pem", "token_file": "station-client.token"},
    "etcd": {"cert-file": "server.pem", "key-file": "server.key",
             "trusted-ca-file": "ca.pem", "peer-cert-file": "server.pem",
             "peer-key-file": "server.key", "peer-trusted-ca-file": "ca.pem"},
    "etcdctl": {"cacert": "ca.pem", "cert": "server.pem",
                "key": "server.key"},
}
# Hosts a probe inside the pod may dial: names of the server certificate.
LOCAL_HOSTS = ("127.0.0.1", "localhost")
# Packages of debian:12-slim itself (apt needs them), not installed again.
BASE_PACKAGES = {"libc6", "libstdc++6", "libgcc-s1"}
# Runtimes of a sanitizer build (the suite also runs on one).
SANITIZER_PACKAGES = re.compile(r"^lib(asan|ubsan|lsan|tsan)\d+$")
# Where a checkout may hold secrets that must never enter the build
# context: deploy/tls/gen-dev-certs.sh's output in deploy/compose/tls (as
# deploy/compose/README.md says) or in a test's directory of a build tree
# under any name, and strays in the directories the Dockerfile copies.
# containers_test.py plants them in a probe context for podman.
DECOY_SECRETS = (
    "deploy/compose/tls/ca.key",
    "deploy/compose/tls/server.key",
    "deploy/compose/tls/collector-astana.key",
    "deploy/compose/tls/station-client.token",
    "build/tests/containers/runs/tally-ct-1/tls/server.key",
    "build-asan/tls/ca.key",
    "out/tests/tls/collector-almaty.key",
    "tls/ca.key",
    "services/stray.key",
    "deploy/elections/stray.key",
    "clients/web/stray-private-key.pem",
    "proto/stray.token",
)


class Checker:
    """Collects problems and counts of what was checked."""

    def __init__(self):
        self.problems = []
        self.counts = {}

    def fail(self, where, message):
        self.problems.append(f"{where}: {message}")

    def count(self, what, n=1):
        self.counts[what] = self.counts.get(what, 0) + n

    def expect(self, condition, where, message):
        self.count("assertions")
        if not condition:
            self.fail(where, message)
        return condition


# ---------------------------------------------------------------- binaries


class FlagSet:
    """Flags of one binary (or tallyctl subcommand) from --helpfull; or,
    with style "etcd" or "etcdctl", from those programs' --help."""

    def __init__(self, name, help_text, style="absl"):
        self.name = name
        self.defaults = {}
        if style == "etcd":
            # "  --name 'default'" then the description on its own line.
            for match in re.finditer(r"^  --([\w-]+) '([^']*)'", help_text,
                                     re.M):
                self.defaults[match.group(1)] = match.group(2)
            return
        if style == "etcdctl":
            # '      --cacert=""  ...', '  -w, --write-out="simple"  ...',
            # '      --debug[=false]  ...' (a boolean).
            for match in re.finditer(
                    r"^\s+(?:-\w, )?--([\w-]+)\[?=\"?([^\"\]\s]*)",
                    help_text, re.M):
                self.defaults[match.group(1)] = match.group(2)
            return
        # "    --name (description...); default: value;" possibly wrapped.
        for match in re.finditer(r"^ {4}--(\w+) \(", help_text, re.M):
            rest = help_text[match.end():]
            default = re.search(r"default: ([^;]*);", rest)
            self.defaults[match.group(1)] = (default.group(1).strip()
                                             if default else "")

    def has(self, flag):
        return flag in self.defaults

    def is_bool(self, flag):
        return self.defaults.get(flag) in ("true", "false")

    def default_int(self, flag):
        try:
            return int(self.defaults.get(flag, ""))
        except ValueError:
            return None


def run(argv, timeout=60):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, check=False)


def load_flags(build, checker):
    """Binary or 'tallyctl <sub>' -> FlagSet; None when a binary is missing."""
    flags = {}
    for name, relative in BINARIES.items():
        path = os.path.join(build, relative)
        if not os.access(path, os.X_OK):
            checker.fail("build", f"{path} not found: build {name} first")
            return None
        if name == "tallyctl":
            continue
        text = run([path, "--helpfull"]).stdout
        flags[name] = FlagSet(name, text)
        if not flags[name].has("listen"):
            checker.fail("build", f"{path} --helpfull lists no --listen flag:\n"
                         f"{text[:400]}")
        for flag in TLS_FLAGS[name] + ("insecure",) + tuple(
                f for pair in TLS_PAIRS.get(name, ()) for f in pair):
            checker.expect(flags[name].has(flag), "build",
                           f"{name} has no --{flag} (TLS_FLAGS of this test "
                           "follows the binaries' flags)")
        for flag in ADMIN_FLAGS:
            checker.expect(flags[name].has(flag), "build",
                           f"{name} has no --{flag} (build a tree with the "
                           "admin server and structured logs)")
    tallyctl = os.path.join(build, BINARIES["tallyctl"])
    usage = run([tallyctl]).stdout
    commands = re.findall(r"^  ([a-z]+) {2,}", usage, re.M)
    if not commands:
        checker.fail("build", f"cannot read tallyctl's command list:\n{usage}")
    for command in commands:
        flags[f"tallyctl {command}"] = FlagSet(
            f"tallyctl {command}", run([tallyctl, command, "--helpfull"]).stdout)
    # etcd and etcdctl of the machine: the same Debian 12 packages as the
    # image's.
    for name in ("etcd", "etcdctl"):
        path = shutil.which(name)
        if path is None:
            checker.fail("build", f"{name} not found: scripts/install-deps.sh "
                         f"installs {' and '.join(ETCD_PACKAGES)}")
            return None
        flags[name] = FlagSet(name, run([path, "--help"]).stdout, style=name)
        checker.expect(len(flags[name].defaults) > 10 and
                       flags[name].has("endpoints" if name == "etcdctl"
                                       else "snapshot-count"), "build",
                       f"cannot read the flags of {path} --help")
    return flags


def list_regions(build, checker):
    result = run([os.path.join(build, BINARIES["tallyctl"]), "simulate",
                  "--list_regions"])
    regions = result.stdout.split()
    if result.returncode != 0 or not regions:
        checker.fail("build", f"tallyctl simulate --list_regions failed: "
                     f"{result.stdout}")
    return regions


def parse_args(argv, flagset, where, checker):
    """--flag=value / --flag value / --[no]bool -> {flag: value}; checks
    every flag exists."""
    parsed = {}
    i = 0
    while i < len(argv):
        token = str(argv[i])
        i += 1
        if not token.startswith("-"):
            continue
        body = token.lstrip("-")
        name, has_value, value = body.partition("=")
        checker.count("flags checked")
        if not flagset.has(name) and name.startswith("no") and \
                flagset.is_bool(name[2:]) and not has_value:
            parsed[name[2:]] = "false"
            continue
        if not flagset.has(name):
            checker.fail(where, f"--{name} is not a flag of {flagset.name} "
                         f"(see {flagset.name} --helpfull)")
            # Reported once here; the other checks still see its value.
            if has_value:
                parsed[name] = value
            continue
        if not has_value:
            if flagset.is_bool(name):
                value = "true"
            elif i < len(argv):
                value = str(argv[i])
                i += 1
            else:
                checker.fail(where, f"--{name} has no value")
        if name in parsed:
            checker.fail(where, f"--{name} given twice")
        parsed[name] = value
    return parsed


def split_address(address):
    host, _, port = str(address).rpartition(":")
    try:
        return host, int(port)
    except ValueError:
        return host, None


def check_server_args(binary, args, flags, where, checker):
    """Flags exist, required ones are present, --listen and --admin_listen
    are 0.0.0.0:PORT on two ports, --log_format is valid and the deployed
    one. Returns (parsed flags, listen port, admin port)."""
    parsed = parse_args(args, flags[binary], where, checker)
    for flag in REQUIRED_FLAGS[binary]:
        checker.expect(flag in parsed, where,
                       f"{binary} needs --{flag} in a container")
    host, port = split_address(parsed.get("listen", ""))
    if "listen" in parsed:
        checker.expect(host == "0.0.0.0" and port, where,
                       f"--listen={parsed['listen']}: listen on 0.0.0.0:PORT "
                       "to be reachable from other containers")
    admin_host, admin = split_address(parsed.get("admin_listen", ""))
    if "admin_listen" in parsed:
        checker.count("admin servers")
        checker.expect(admin_host == "0.0.0.0" and admin, where,
                       f"--admin_listen={parsed['admin_listen']}: listen on "
                       "0.0.0.0:PORT so that probes, health checks and "
                       "Prometheus reach it (empty turns it off)")
        checker.expect(admin != port, where,
                       f"--admin_listen and --listen share port {port}")
    if "log_format" in parsed:
        log_format = parsed["log_format"].strip('"')
        checker.expect(log_format in LOG_FORMATS, where,
                       f"--log_format={log_format}: not one of "
                       f"{'|'.join(LOG_FORMATS)}")
        checker.expect(log_format == DEPLOYED_LOG_FORMAT, where,
                       f"--log_format={log_format}: containers log "
                       f"{DEPLOYED_LOG_FORMAT} for log collectors")
    return parsed, port, admin


def check_transport(binary, parsed, where, checker, allow_insecure):
    """TLS with the complete flag set of the binary, or --insecure alone.
    Returns [(flag, path)] of the files the flags name."""
    insecure = parsed.get("insecure", "false") == "true"
    given = [f for f in FILE_FLAGS if parsed.get(f, "").strip('"')]
    checker.count("transport checks")
    if insecure:
        checker.expect(allow_insecure, where,
                       f"{binary} runs --insecure: plain text and no "
                       "authentication; give "
                       f"{' '.join('--' + f for f in TLS_FLAGS[binary])}")
        checker.expect(not given, where,
                       f"--insecure together with "
                       f"{', '.join('--' + f for f in given)}: one or the "
                       "other")
        return []
    missing = [f for f in TLS_FLAGS[binary]
               if not parsed.get(f, "").strip('"')]
    checker.expect(not missing, where,
                   f"{binary} without --insecure needs "
                   f"{', '.join('--' + f for f in missing)} (it refuses to "
                   "start with part of its TLS flags)")
    for pair in TLS_PAIRS.get(binary, ()):
        present = [f for f in pair if f in given]
        checker.expect(len(present) in (0, len(pair)), where,
                       f"--{present[0] if present else ''} without "
                       f"{' '.join('--' + f for f in pair if f not in present)}")
    return [(f, parsed[f].strip('"')) for f in given]


def check_probe_client(words, flags, port, where, checker, allow_insecure):
    """A tallyctl command of a health check: known flags, its own server's
    port on a name of the certificate, TLS. Returns (parsed, files)."""
    sub = f"tallyctl {words[1]}" if len(words) > 1 else ""
    if not checker.expect(sub in flags, where, f"runs unknown {sub}"):
        return {}, []
    parsed = parse_args(words[2:], flags[sub], where, checker)
    address = parsed.get("aggregator", flags[sub].defaults.get(
        "aggregator", "").strip('"'))
    host, dialled = split_address(address)
    checker.expect(dialled == port, where,
                   f"{sub} dials {address}, the server listens on {port}")
    insecure = parsed.get("insecure", "false") == "true"
    checker.expect(not insecure or allow_insecure, where,
                   f"{sub} --insecure cannot reach a TLS server")
    files = [(f, parsed[f]) for f in FILE_FLAGS if parsed.get(f)]
    if not insecure:
        checker.expect("tls_ca" in parsed, where,
                       f"{sub} needs --tls_ca: the system roots do not know "
                       "the servers' CA")
        checker.expect(host in LOCAL_HOSTS, where,
                       f"{sub} dials {host}: the certificate names "
                       f"{' and '.join(LOCAL_HOSTS)} inside the container")
    return parsed, files


def split_url(url):
    """scheme://host:port -> (scheme, host, port); port None if absent."""
    match = re.fullmatch(r"([a-z]+)://([^/:]+|\[[^\]]+\])(?::(\d+))?/?",
                         str(url))
    if not match:
        return None, None, None
    port = int(match.group(3)) if match.group(3) else None
    return match.group(1), match.group(2), port


def check_etcd_args(args, flags, where, checker):
    """One etcd member's command line: known flags, the required ones, TLS
    towards clients and peers with client certificates, listeners on
    0.0.0.0 (the metrics listener plain HTTP), the limits. Returns (parsed
    flags, {"client", "peer", "metrics": port})."""
    parsed = parse_args(args, flags["etcd"], where, checker)
    checker.count("etcd members checked")
    for flag in ETCD_REQUIRED_FLAGS + ETCD_TLS_FLAGS:
        checker.expect(parsed.get(flag, "") != "", where,
                       f"etcd needs --{flag}")
    for flag in ("client-cert-auth", "peer-client-cert-auth"):
        checker.expect(parsed.get(flag) in (None, "true"), where,
                       f"--{flag}={parsed.get(flag)}: only holders of a "
                       "certificate of the CA may reach etcd")
    for flag in ("auto-tls", "peer-auto-tls"):
        checker.expect(parsed.get(flag, "false") == "false", where,
                       f"--{flag}: self-signed certificates nobody verifies")
    ports = {}
    for kind, flag, scheme in (("client", "listen-client-urls", "https"),
                               ("peer", "listen-peer-urls", "https"),
                               ("metrics", "listen-metrics-urls", "http")):
        if flag not in parsed:
            continue
        urls = parsed[flag].split(",")
        got_scheme, host, port = split_url(urls[0])
        checker.expect(len(urls) == 1 and got_scheme == scheme and
                       host == "0.0.0.0" and port, where,
                       f"--{flag}={parsed[flag]}: one {scheme}://0.0.0.0:PORT"
                       + (" (plain HTTP: the kubelet and Prometheus cannot "
                          "present a client certificate)"
                          if scheme == "http" else " (TLS)"))
        ports[kind] = port
    checker.expect(len(set(ports.values())) == len(ports), where,
                   f"client, peer and metrics listeners share a port: {ports}")
    for flag, kind in (("advertise-client-urls", "client"),
                       ("initial-advertise-peer-urls", "peer")):
        if flag in parsed:
            scheme, _, port = split_url(parsed[flag])
            checker.expect(scheme == "https" and port == ports.get(kind),
                           where, f"--{flag}={parsed[flag]}: https on the "
                           f"{kind} port {ports.get(kind)}")
    count = parsed.get("snapshot-count", "")
    checker.expect(count.isdigit() and
                   0 < int(count) <= ETCD_MAX_SNAPSHOT_COUNT, where,
                   f"--snapshot-count={count}: at most "
                   f"{ETCD_MAX_SNAPSHOT_COUNT} (etcd keeps that many raft "
                   "entries, each up to a commit round, in memory)")
    checker.expect(parsed.get("auto-compaction-retention") in ("0", None),
                   where, f"--auto-compaction-retention="
                   f"{parsed.get('auto-compaction-retention')}: must be 0, "
                   "the aggregator's leader compacts after truncating its log")
    quota = parsed.get("quota-backend-bytes", "")
    checker.expect(quota.isdigit() and 0 < int(quota) <= ETCD_MAX_QUOTA_BYTES,
                   where, f"--quota-backend-bytes={quota}: a quota of at "
                   f"most {ETCD_MAX_QUOTA_BYTES} bytes")
    checker.expect(parsed.get("initial-cluster-state") in ("new", None),
                   where, f"--initial-cluster-state="
                   f"{parsed.get('initial-cluster-state')}: a deployment "
                   "forms a new cluster")
    return parsed, ports


def check_etcd_cluster(where, members, checker):
    """members: [{"name": expected --name, "host": the DNS name others dial
    it at, "parsed", "ports"}]. The initial cluster of every member lists
    exactly the members at their peer URLs; each advertises its own
    name."""
    checker.count("etcd clusters", 1 if members else 0)
    if not members:
        return
    checker.expect(len(members) == REPLICAS, where,
                   f"{len(members)} etcd members, expected {REPLICAS}")
    expected = {m["name"]: f"https://{m['host']}:{m['ports'].get('peer')}"
                for m in members}
    tokens = set()
    for m in members:
        parsed = m["parsed"]
        member = f"{where}: member {m['name']}"
        checker.expect(parsed.get("name") == m["name"], member,
                       f"--name={parsed.get('name')}, expected {m['name']}")
        initial = dict(entry.partition("=")[::2] for entry in
                       parsed.get("initial-cluster", "").split(",") if entry)
        checker.expect(initial == expected, member,
                       f"--initial-cluster={parsed.get('initial-cluster')}, "
                       "expected " + ",".join(f"{k}={v}" for k, v in
                                              expected.items()))
        checker.expect(parsed.get("initial-advertise-peer-urls") ==
                       expected[m["name"]], member,
                       "--initial-advertise-peer-urls="
                       f"{parsed.get('initial-advertise-peer-urls')}, "
                       f"expected {expected[m['name']]}")
        client = f"https://{m['host']}:{m['ports'].get('client')}"
        checker.expect(parsed.get("advertise-client-urls") == client, member,
                       "--advertise-client-urls="
                       f"{parsed.get('advertise-client-urls')}, expected "
                       f"{client}")
        tokens.add(parsed.get("initial-cluster-token"))
    checker.expect(len(tokens) == 1, where,
                   f"members disagree on --initial-cluster-token: {tokens}")


def check_etcdctl(words, flags, client_port, where, checker,
                  endpoints=None):
    """An etcdctl command (a health check, a wait for the quorum): known
    flags, TLS with a client certificate, the endpoints it dials (its own
    member on a local name, or exactly `endpoints`). Returns [(flag,
    file)] of the files it reads."""
    options = []
    for word in words[1:]:
        if not str(word).startswith("-"):
            break
        options.append(str(word))
    parsed = parse_args(options, flags["etcdctl"], where, checker)
    checker.count("etcdctl commands")
    urls = [u for u in parsed.get("endpoints", "").split(",") if u]
    checker.expect(urls and all(split_url(u)[0] == "https" for u in urls),
                   where, f"etcdctl --endpoints={parsed.get('endpoints')}: "
                   "https:// URLs (the members speak TLS only)")
    if endpoints is None:
        checker.expect(len(urls) == 1 and
                       split_url(urls[0])[1] in LOCAL_HOSTS and
                       split_url(urls[0])[2] == client_port, where,
                       f"etcdctl dials {parsed.get('endpoints')}, the member "
                       f"serves clients on {client_port} (a name of the "
                       f"certificate: {' or '.join(LOCAL_HOSTS)})")
    else:
        dialled = {f"{split_url(u)[1]}:{split_url(u)[2]}" for u in urls}
        checker.expect(dialled == set(endpoints), where,
                       f"etcdctl dials {sorted(dialled)}, the aggregator's "
                       f"--etcd_endpoints are {sorted(endpoints)}")
    for flag in ETCDCTL_FILE_FLAGS:
        checker.expect(parsed.get(flag), where,
                       f"etcdctl needs --{flag}: the members verify client "
                       "certificates")
    return [(f, parsed[f]) for f in ETCDCTL_FILE_FLAGS if parsed.get(f)]


def check_replicas(where, replicas, etcd_client_auth, checker):
    """The aggregators of one deployment: a single one, or REPLICAS
    replicas on the etcd cluster (whose members --etcd_endpoints must name,
    as ADDRESS_FLAGS checks). replicas: [{"where", "parsed", "advertise":
    the address it must advertise, "id": its replica id as the manifest
    gives it}]; etcd_client_auth: the members ask for client
    certificates."""
    replicated = [r for r in replicas if r["parsed"].get("etcd_endpoints")]
    if not replicated and len(replicas) == 1:
        return
    checker.count("replicated aggregators", len(replicated))
    checker.expect(len(replicated) == len(replicas), where,
                   "aggregators without --etcd_endpoints beside replicas: "
                   "each would be a source of truth of its own")
    checker.expect(len(replicas) == REPLICAS, where,
                   f"{len(replicas)} aggregator replicas, expected "
                   f"{REPLICAS}")
    ids = [r["id"] for r in replicated]
    checker.expect(len(set(ids)) == len(ids), where,
                   f"replica ids not unique: {ids}")
    for r in replicated:
        parsed = r["parsed"]
        for flag in REPLICA_FLAGS:
            checker.expect(parsed.get(flag), r["where"],
                           f"--etcd_endpoints needs --{flag}")
        checker.expect(parsed.get("advertise") == r["advertise"],
                       r["where"], f"--advertise={parsed.get('advertise')}: "
                       f"collectors and peers reach it at {r['advertise']}")
        if etcd_client_auth:
            missing = [f for f in ETCD_CLIENT_TLS_FLAGS if not parsed.get(f)]
            checker.expect(not missing, r["where"],
                           "the etcd members ask for client certificates: "
                           f"give {' '.join('--' + f for f in missing)}")


_DEV_CERT_FILES = {}


def dev_cert_files(source, regions, checker):
    """Names of the files deploy/tls/gen-dev-certs.sh makes for the regions
    (run once); None when it cannot run."""
    key = (source, tuple(regions))
    if key in _DEV_CERT_FILES:
        return _DEV_CERT_FILES[key]
    script = os.path.join(source, "deploy/tls/gen-dev-certs.sh")
    files = None
    if not os.path.isfile(script):
        checker.fail("deploy/tls/gen-dev-certs.sh", "missing")
    elif not shutil.which("openssl"):
        print("SKIPPED: file names not checked against gen-dev-certs.sh "
              "(openssl missing)")
    else:
        with tempfile.TemporaryDirectory() as directory:
            out = os.path.join(directory, "tls")
            result = run(["bash", script, out] + list(regions), timeout=120)
            if result.returncode == 0:
                files = set(os.listdir(out))
                checker.count("gen-dev-certs.sh files", len(files))
            else:
                checker.fail("deploy/tls/gen-dev-certs.sh",
                             f"failed ({result.returncode}): {result.stdout}")
    _DEV_CERT_FILES[key] = files
    return files


def dev_file(binary, flag, region):
    """The gen-dev-certs.sh file the flag must name; None if unknown."""
    name = DEV_FILES.get(binary, {}).get(flag) or \
        DEV_FILES["tallyctl"].get(flag)
    return name.format(region=region) if name else None


def shutdown_grace_ms(binary, parsed, flags):
    if "shutdown_grace_ms" in parsed:
        try:
            return int(parsed["shutdown_grace_ms"])
        except ValueError:
            return None
    return flags[binary].default_int("shutdown_grace_ms")


# -------------------------------------------------------------- Dockerfile


def dockerfile_instructions(text):
    """[(INSTRUCTION, arguments)] with continuations joined, comments gone."""
    lines = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            lines.append(current.strip())
        current = ""
    if current.strip():
        lines.append(current.strip())
    result = []
    for line in lines:
        instruction, _, arguments = line.partition(" ")
        result.append((instruction.upper(), arguments.strip()))
    return result


def apt_install_packages(command):
    """Package names of every `apt-get install` in a RUN command."""
    packages = []
    for part in re.split(r"&&|;|\|\|", command):
        tokens = part.split()
        if "apt-get" not in tokens or "install" not in tokens:
            continue
        for token in tokens[tokens.index("install") + 1:]:
            if not token.startswith("-"):
                packages.append(token)
    return packages


def debian_packages_found(packages):
    """Which of the packages apt-cache knows, in one call (each call reads
    every package list); None when apt-cache or its lists are missing."""
    if not shutil.which("apt-cache"):
        print("SKIPPED: Debian package names not checked: apt-cache not found")
        return None
    result = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", "libc6"] + list(packages),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        timeout=120, check=False)
    found = set(re.findall(r"^Package: (\S+)$", result.stdout, re.M))
    if "libc6" not in found:
        print("SKIPPED: Debian package names not checked: apt-cache has no "
              "package lists (run apt-get update)")
        return None
    return found


def installed_with(packages):
    """The packages apt installs for `packages`: them and their Depends and
    PreDepends, recursively (a sanitizer build links libraries such as
    libcares directly that a release build reaches only through libgrpc's
    own dependencies); None when apt-cache is missing."""
    if not shutil.which("apt-cache") or not packages:
        return None
    result = subprocess.run(
        ["apt-cache", "depends", "--recurse", "--no-recommends",
         "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces",
         "--no-enhances"] + list(packages),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        timeout=120, check=False)
    closure = set(packages)
    for line in result.stdout.splitlines():
        if not line.startswith(" "):
            closure.add(line.strip())
            continue
        match = re.match(r"\s+\|?(?:Pre)?Depends: <?([^\s>]+)>?", line)
        if match:
            closure.add(match.group(1).split(":")[0])
    return closure


def needed_packages(paths, checker):
    """Debian packages holding the shared libraries the binaries link
    directly (objdump NEEDED, resolved by ldd, owner by dpkg -S); None when
    the tools are missing."""
    if not (shutil.which("objdump") and shutil.which("ldd") and
            shutil.which("dpkg")):
        return None
    libraries = []  # (binary, soname, path)
    for path in paths:
        needed = re.findall(r"NEEDED\s+(\S+)",
                            run(["objdump", "-p", path]).stdout)
        resolved = dict(re.findall(r"^\s*(\S+) => (\S+)",
                                   run(["ldd", path]).stdout, re.M))
        for soname in needed:
            library = resolved.get(soname)
            if not library or not library.startswith("/"):
                checker.fail("build", f"{path}: {soname} does not resolve")
                continue
            libraries.append((os.path.basename(path), soname, library))
    candidates = sorted({p for _, _, library in libraries
                         for p in (library, os.path.realpath(library))})
    owners = {}
    result = subprocess.run(["dpkg", "-S"] + candidates,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, timeout=120, check=False)
    for line in result.stdout.splitlines():
        package, _, owned = line.partition(": ")
        owners[owned.strip()] = package.split(",")[0].split(":")[0].strip()
    packages = {}
    for binary, soname, library in libraries:
        package = owners.get(os.path.realpath(library), owners.get(library))
        if package is None:
            checker.fail("build", f"{library} belongs to no package")
            continue
        packages.setdefault(package, set()).add(f"{soname} ({binary})")
    return packages


def check_dockerfile(source, build, checker):
    """Returns what the other checks need: web dir, user id, exposed ports."""
    path = os.path.join(source, "deploy/docker/Dockerfile")
    where = "deploy/docker/Dockerfile"
    info = {"web_dir": None, "uid": None, "expose": set(), "runtime_run": ""}
    if not os.path.isfile(path):
        checker.fail(where, "missing")
        return info
    with open(path, encoding="utf-8") as f:
        instructions = dockerfile_instructions(f.read())
    stages = []
    for instruction, arguments in instructions:
        if instruction == "FROM":
            words = arguments.split()
            name = words[2] if len(words) >= 3 and \
                words[1].upper() == "AS" else None
            stages.append({"base": words[0], "name": name, "steps": []})
        elif stages:
            stages[-1]["steps"].append((instruction, arguments))
    checker.count("dockerfile stages", len(stages))
    if not checker.expect(len(stages) >= 2, where,
                          "needs a builder stage and a runtime stage"):
        return info
    for stage in stages:
        checker.expect(re.match(r"^debian:12(-slim)?$", stage["base"]) or
                       stage["base"] in {s["name"] for s in stages}, where,
                       f"FROM {stage['base']}: stages build on debian:12")
    builder, runtime = stages[0], stages[-1]
    checker.expect(builder["base"] == "debian:12", where,
                   f"the builder is FROM {builder['base']}, not debian:12")
    checker.expect(runtime["base"] == "debian:12-slim", where,
                   f"the runtime is FROM {runtime['base']}, not debian:12-slim")

    # Builder: configure without tests, build every binary.
    build_commands = " ".join(a for i, a in builder["steps"] if i == "RUN")
    checker.expect("-DTALLY_BUILD_TESTS=OFF" in build_commands, where,
                   "the builder must configure with -DTALLY_BUILD_TESTS=OFF")
    targets = set()
    for match in re.finditer(r"--target((?:\s+[\w.+-]+)+)", build_commands):
        targets.update(t for t in match.group(1).split()
                       if not t.startswith("-"))
    for binary in BINARIES:
        checker.expect(binary in targets, where,
                       f"the builder does not build --target {binary}")
    copied = set()
    for instruction, arguments in builder["steps"]:
        if instruction == "COPY":
            copied.update(os.path.normpath(w).split("/")[0]
                          for w in arguments.split()[:-1]
                          if not w.startswith("--"))
    with open(os.path.join(source, "CMakeLists.txt"), encoding="utf-8") as f:
        cmake = f.read()
    for directory in re.findall(r"add_subdirectory\((\S+)\)", cmake):
        top = directory.split("/")[0]
        if top == "tests":
            continue
        checker.expect(top in copied, where,
                       f"the builder does not COPY {top}/ (add_subdirectory"
                       f"({directory}) in CMakeLists.txt)")
    for module in re.findall(r"include\((\S+\.cmake)\)", cmake):
        top = module.split("/")[0]
        checker.expect(top in copied, where,
                       f"the builder does not COPY {top}/ (include({module}) "
                       "in CMakeLists.txt)")

    # Runtime: binaries on PATH, web files, non-root, no ENTRYPOINT.
    runtime_binaries = set()
    for instruction, arguments in runtime["steps"]:
        words = arguments.split()
        if instruction == "COPY" and any(w.startswith("--from=") for w in words):
            sources = [w for w in words[:-1] if not w.startswith("--")]
            destination = words[-1]
            checker.expect(destination.rstrip("/") in ("/usr/local/bin",
                                                       "/usr/bin"), where,
                           f"binaries copied to {destination}, not on PATH")
            runtime_binaries.update(os.path.basename(s) for s in sources)
        elif instruction == "COPY" and words[:1] == ["clients/web"]:
            info["web_dir"] = words[-1].rstrip("/")
        elif instruction == "USER":
            info["uid"] = arguments.split(":")[0]
        elif instruction == "EXPOSE":
            info["expose"].update(int(p.split("/")[0]) for p in words)
        elif instruction == "ENTRYPOINT":
            checker.fail(where, "ENTRYPOINT set: compose and Kubernetes give "
                         "the binary as the command's first word")
    for binary in BINARIES:
        checker.expect(binary in runtime_binaries, where,
                       f"the runtime stage does not copy {binary}")
    checker.count("dockerfile binaries", len(runtime_binaries))
    checker.expect(info["web_dir"] is not None, where,
                   "the runtime stage does not COPY clients/web")
    checker.expect(info["uid"] not in (None, "root", "0"), where,
                   f"the runtime runs as {info['uid'] or 'root'}: set a "
                   "non-root USER")
    checker.expect(info["uid"] is None or info["uid"].isdigit(), where,
                   f"USER {info['uid']}: numeric, so Kubernetes can verify "
                   "runAsNonRoot")

    # Packages: exist in Debian 12, and the runtime holds every library.
    builder_packages = apt_install_packages(build_commands)
    info["runtime_run"] = " ".join(a for i, a in runtime["steps"]
                                   if i == "RUN")
    runtime_packages = apt_install_packages(info["runtime_run"])
    checker.count("runtime packages", len(runtime_packages))
    checker.expect("nginx" in runtime_packages, where,
                   "the runtime stage does not install nginx: the edge "
                   "(deploy/edge) runs from this image")
    for package in ETCD_PACKAGES:
        checker.expect(package in runtime_packages, where,
                       f"the runtime stage does not install {package}: the "
                       "deployments run their etcd members (and etcdctl "
                       "health checks) from this image")
    found = debian_packages_found(builder_packages + runtime_packages)
    if found is not None:
        for package in builder_packages + runtime_packages:
            checker.count("packages found by apt-cache")
            checker.expect(package in found, where,
                           f"{package} is not a Debian package (apt-cache "
                           "show finds nothing)")
    needed = needed_packages(
        [os.path.join(build, p) for p in BINARIES.values()], checker)
    if needed is None:
        print("SKIPPED: shared libraries not mapped to packages "
              "(objdump, ldd or dpkg missing)")
    else:
        installed = installed_with(runtime_packages) or set(runtime_packages)
        for package, libraries in sorted(needed.items()):
            if package in BASE_PACKAGES or SANITIZER_PACKAGES.match(package):
                continue
            checker.count("library packages matched")
            checker.expect(package in installed, where,
                           f"the runtime stage lacks {package}, which holds "
                           f"{', '.join(sorted(libraries))}")
    return info


def context_sources(instructions):
    """Paths of the build context the Dockerfile COPYs or ADDs (not those
    --from another stage)."""
    sources = []
    for instruction, arguments in instructions:
        words = arguments.split()
        if instruction in ("COPY", "ADD") and \
                not any(w.startswith("--from") for w in words):
            sources += [w for w in words[:-1] if not w.startswith("--")]
    return sources


def dockerignore_rules(text):
    """[(negated, regex)] of a .dockerignore, in order: Docker's patterns
    (Go filepath.Match with ** for any number of directories)."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line[1:].strip() if negated else line)
        pattern = pattern.lstrip("/")
        regex, i = "", 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((negated, re.compile(regex + "$")))
    return rules


def dockerignored(rules, path):
    """Whether the context leaves path out: the last rule matching the
    path or one of its parent directories decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    ignored = False
    for negated, regex in rules:
        if any(regex.match(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def check_dockerignore(source, checker):
    where = ".dockerignore"
    checker.expect(not os.path.exists(os.path.join(
        source, "deploy/docker/Dockerfile.dockerignore")),
        "deploy/docker/Dockerfile.dockerignore", "podman 4.3 ignores it and "
        "BuildKit prefers it to /.dockerignore: keep the rules in "
        "/.dockerignore only")
    path = os.path.join(source, ".dockerignore")
    if not checker.expect(os.path.isfile(path), where, "missing: the build "
                          "context would hold the whole checkout"):
        return
    with open(path, encoding="utf-8") as f:
        rules = dockerignore_rules(f.read())
    with open(os.path.join(source, "deploy/docker/Dockerfile"),
              encoding="utf-8") as f:
        instructions = dockerfile_instructions(f.read())
    for copy in context_sources(instructions):
        files = [copy]
        if os.path.isdir(os.path.join(source, copy)):
            files = [os.path.relpath(os.path.join(d, name), source)
                     for d, _, names in os.walk(os.path.join(source, copy))
                     for name in names]
        for file in files:
            if re.search(r"\.(key|pem|p12|token)$", file):
                continue
            checker.count("context files let in")
            checker.expect(not dockerignored(rules, file), where,
                           f"leaves out {file}, which the Dockerfile COPYs")
    for decoy in DECOY_SECRETS:
        checker.count("context secrets kept out")
        checker.expect(dockerignored(rules, decoy), where,
                       f"lets {decoy} into the build context")


# ----------------------------------------------------------------- compose


def compose_duration_s(text):
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(us|ms|s|m|h)", str(text)):
        total += float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60,
                                  "h": 3600}[unit]
    return total


def compose_volume_targets(service):
    """Mount path -> named volume (bind mounts map to None)."""
    targets = {}
    for volume in service.get("volumes", []) or []:
        if isinstance(volume, dict):
            name = volume.get("source") if volume.get("type",
                                                      "volume") == "volume" \
                else None
            targets[volume.get("target")] = name
        else:
            parts = str(volume).split(":")
            if len(parts) >= 2:
                named = not parts[0].startswith((".", "/", "~"))
                targets[parts[1]] = parts[0] if named else None
    return targets


def compose_bind_mounts(service):
    """Target -> (source, read only) of the service's bind mounts."""
    binds = {}
    for volume in service.get("volumes", []) or []:
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                binds[volume.get("target")] = (str(volume.get("source")),
                                               bool(volume.get("read_only")))
        else:
            parts = str(volume).split(":")
            if len(parts) >= 2 and parts[0].startswith((".", "/", "~")):
                binds[parts[1]] = (parts[0], len(parts) > 2 and
                                   "ro" in parts[2].split(","))
    return binds


def check_compose_file(service, flag, file, expected, dev_files, compose_dir,
                       where, checker):
    """The file of a flag is a read-only bind mount of a gen-dev-certs.sh
    file in ./tls (next to compose.yaml), the one the flag needs
    (expected)."""
    checker.count("compose mounted files")
    mount, bind = under(file, compose_bind_mounts(service))
    if not checker.expect(bind is not None, where,
                          f"--{flag}={file} is not on a bind mount"):
        return
    source, read_only = bind
    checker.expect(read_only, where, f"--{flag}={file}: mount {mount} "
                   "read-only")
    host_file = os.path.normpath(os.path.join(
        compose_dir, source, os.path.relpath(file, mount)))
    checker.expect(os.path.dirname(host_file) ==
                   os.path.join(compose_dir, "tls"), where,
                   f"--{flag}={file} comes from {host_file}, not from "
                   "deploy/compose/tls (where gen-dev-certs.sh writes)")
    if dev_files is not None:
        checker.expect(os.path.basename(host_file) in dev_files, where,
                       f"--{flag}={file}: gen-dev-certs.sh makes no "
                       f"{os.path.basename(host_file)} (it makes "
                       f"{', '.join(sorted(dev_files)[:6])}, ...)")
    checker.expect(expected is None or
                   os.path.basename(host_file) == expected, where,
                   f"--{flag}={file} is ./tls/"
                   f"{os.path.relpath(host_file, compose_dir + '/tls')}, "
                   f"but the flag takes gen-dev-certs.sh's {expected}")


def under(path, mounts):
    path = os.path.normpath(path)
    for mount, name in mounts.items():
        if mount and (path == os.path.normpath(mount) or
                      path.startswith(os.path.normpath(mount) + "/")):
            return mount, name
    return None, None


def check_compose_etcd(service, flags, docker, dev_files, compose_dir,
                       named_volumes, where, checker):
    """An etcd member of the compose file. Returns (parsed flags,
    ports)."""
    command = [str(w) for w in service["command"]]
    parsed, ports = check_etcd_args(command[1:], flags, where, checker)
    for kind, port in ports.items():
        checker.expect(port in docker["expose"], where,
                       f"etcd {kind} port {port} is not EXPOSEd by the "
                       "Dockerfile")
    checker.expect(not service.get("ports"), where,
                   f"publishes {service.get('ports')}: etcd is reached "
                   "inside the compose network only")
    if "data-dir" in parsed:
        _, volume = under(parsed["data-dir"], compose_volume_targets(service))
        checker.expect(volume in named_volumes, where,
                       f"--data-dir={parsed['data-dir']} is not on a named "
                       "volume: the member's data would die with the "
                       "container")
    files = [(f, parsed[f]) for f in ETCD_FILE_FLAGS if parsed.get(f)]
    health = (service.get("healthcheck") or {}).get("test")
    if checker.expect(isinstance(health, list) and len(health) >= 2 and
                      os.path.basename(str(health[1])) == "etcdctl", where,
                      "needs a healthcheck running etcdctl (test as a "
                      "list)"):
        words = [str(w) for w in health[1:]]
        files += check_etcdctl(words, flags, ports.get("client"),
                               where + ".healthcheck", checker)
        checker.expect("endpoint health" in " ".join(words), where,
                       "the healthcheck should run `etcdctl endpoint "
                       "health`")
        checker.count("compose healthchecks")
    for flag, file in files:
        binary = "etcdctl" if flag in ETCDCTL_FILE_FLAGS else "etcd"
        check_compose_file(service, flag, file, dev_file(binary, flag, None),
                           dev_files, compose_dir, where, checker)
    return parsed, ports


# ------------------------------------------------------------------ the edge

EDGE_CONFIG_DIRECTIVES = (
    # What makes it a cache in front of the gateways (deploy/edge).
    (r"proxy_cache_path\s+\S+", "a proxy_cache_path"),
    (r"proxy_cache\s+\w+;", "proxy_cache for the JSON"),
    (r"proxy_cache_lock\s+on;", "proxy_cache_lock on"),
    (r"proxy_cache_use_stale\s[^;]*\bupdating\b", "proxy_cache_use_stale updating"),
    (r"proxy_cache_revalidate\s+on;", "proxy_cache_revalidate on"),
    (r"proxy_http_version\s+1\.1;", "HTTP/1.1 towards the gateways"),
    (r"keepalive\s+\d+;", "upstream keepalive"),
    (r"add_header\s+X-Cache-Status\s+\$upstream_cache_status", "an X-Cache-Status header"),
)


def edge_command(words, where, checker):
    """The prefix (-p) and configuration file (-c) of an nginx command line,
    which must run in the foreground."""
    options = {}
    i = 0
    while i < len(words):
        if words[i] in ("-p", "-c", "-g") and i + 1 < len(words):
            options[words[i]] = words[i + 1]
            i += 2
            continue
        checker.fail(where, f"nginx argument {words[i]}: only -p, -c and -g")
        i += 1
    checker.expect("daemon off" in options.get("-g", ""), where,
                   "nginx must run in the foreground (-g 'daemon off;')")
    for option in ("-p", "-c"):
        checker.expect(option in options, where, f"nginx needs {option}")
    return options.get("-p"), options.get("-c")


def check_edge_config(text, prefix, where, checker):
    """The edge's nginx configuration: the caching directives, /v1/watch
    unbuffered and uncached, every path under the prefix, a valid file
    (nginx -t, where nginx is installed). Returns (listen port, [(host,
    port)] of the gateways)."""
    checker.count("edge configurations")
    for pattern, what in EDGE_CONFIG_DIRECTIVES:
        checker.expect(re.search(pattern, text), where, f"no {what}")
    watch = re.search(r"location\s*=\s*/v1/watch\s*\{([^}]*)\}", text)
    if checker.expect(watch, where, "no location = /v1/watch"):
        for directive in ("proxy_buffering off;", "proxy_cache off;"):
            checker.expect(directive in watch.group(1), where,
                           f"/v1/watch without {directive}")
    for directive, path in re.findall(
            r"^\s*(pid|\w+_temp_path|proxy_cache_path)\s+(\S+?);?\s",
            text, re.M):
        checker.expect(prefix and path.startswith(prefix.rstrip("/") + "/"),
                       where, f"{directive} {path} is not under the prefix "
                       f"{prefix} (the only writable directory)")
    listen = re.findall(r"^\s*listen\s+(\S+?)[;\s]", text, re.M)
    port = None
    if checker.expect(len(listen) == 1, where, f"listen {listen}: one"):
        host, port = split_address(listen[0])
        checker.expect(host == "0.0.0.0", where,
                       f"listens on {host}, not 0.0.0.0")
    upstream = re.search(r"upstream\s+\w+\s*\{([^}]*)\}", text)
    gateways = []
    if checker.expect(upstream, where, "no upstream block"):
        gateways = [split_address(a) for a in
                    re.findall(r"^\s*server\s+(\S+)", upstream.group(1),
                               re.M)]
        checker.expect(gateways, where, "the upstream names no gateway")
    if shutil.which("nginx") and prefix:
        with tempfile.TemporaryDirectory() as directory:
            os.chmod(directory, 0o755)
            # Service names do not resolve here; the syntax is what counts.
            local = text.replace(prefix.rstrip("/"), directory)
            for host, gateway_port in gateways:
                local = local.replace(f"server {host}:{gateway_port}",
                                      f"server 127.0.0.1:{gateway_port}")
            config = os.path.join(directory, "nginx.conf")
            with open(config, "w", encoding="utf-8") as f:
                f.write(local)
            result = run(["nginx", "-t", "-p", directory, "-c", config,
                          "-g", "daemon off;"])
            checker.expect(result.returncode == 0, where,
                           f"nginx -t: {result.stdout.strip()[-300:]}")
            checker.count("edge configurations tested by nginx -t")
    return port, gateways


def check_compose_edge(name, service, compose_dir, servers, docker, checker):
    where = f"deploy/compose/compose.yaml: services.{name}"
    command = [str(w) for w in service["command"]]
    prefix, config = edge_command(command[1:], where, checker)
    config_source = None
    for mount in service.get("volumes") or []:
        if isinstance(mount, dict) and mount.get("target") == config:
            checker.expect(mount.get("read_only") is True, where,
                           f"{config} is not mounted read-only")
            config_source = os.path.join(compose_dir, str(mount.get("source")))
    if not checker.expect(config_source and os.path.isfile(config_source),
                          where, f"-c {config} is not a bind mount of a "
                          "file of deploy/compose"):
        return
    checker.expect(prefix and re.search(
        rf"install -d[^&]*\s{re.escape(prefix)}(\s|$)", docker["runtime_run"]),
        where, f"the prefix {prefix} is not a directory the image makes "
        "for its user (install -d -o ...): nginx writes there")
    with open(config_source, encoding="utf-8") as f:
        port, gateways = check_edge_config(f.read(), prefix,
                                           f"{where}: {config}", checker)
    checker.expect(port in docker["expose"], where,
                   f"port {port} is not EXPOSEd by the Dockerfile")
    published = [str(m).split(":") for m in service.get("ports", [])
                 if not isinstance(m, dict)]
    checker.expect(any(p[-1] == str(port) for p in published), where,
                   f"the edge's port {port} is not published")
    depends = service.get("depends_on") or {}
    for host, gateway_port in gateways:
        target = servers.get(host)
        if not checker.expect(target is not None and
                              target[0] == "tally-gateway", where,
                              f"upstream {host}:{gateway_port} is not a "
                              "gateway service"):
            continue
        checker.expect(target[2] == gateway_port, where,
                       f"upstream {host}:{gateway_port} but the gateway "
                       f"listens on {target[2]}")
        checker.expect(host in depends, where,
                       f"the edge does not depend on {host}")
    health = " ".join(str(w) for w in
                      (service.get("healthcheck") or {}).get("test") or [])
    checker.expect(f"/dev/tcp/127.0.0.1/{port}" in health and
                   "GET /healthz" in health, where,
                   f"healthcheck must GET /healthz on port {port}")


def check_compose(source, flags, regions, docker, checker):
    where_file = "deploy/compose/compose.yaml"
    path = os.path.join(source, where_file)
    if not os.path.isfile(path):
        checker.fail(where_file, "missing")
        return
    with open(path, encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    services = compose.get("services") or {}
    named_volumes = set((compose.get("volumes") or {}).keys())
    dev_files = dev_cert_files(source, regions, checker)
    readme_path = os.path.join(os.path.dirname(path), "README.md")
    readme = open(readme_path, encoding="utf-8").read() \
        if os.path.isfile(readme_path) else ""
    checker.expect("deploy/tls/gen-dev-certs.sh deploy/compose/tls" in readme,
                   "deploy/compose/README.md", "does not show how to make "
                   "the certificates (deploy/tls/gen-dev-certs.sh "
                   "deploy/compose/tls)")
    checker.count("compose services", len(services))
    servers = {}  # service name -> (binary, parsed, port)
    etcd_members = []  # for check_etcd_cluster
    images = set()
    built = False
    edges = []  # (name, service) running nginx
    for name, service in services.items():
        where = f"{where_file}: services.{name}"
        images.add(service.get("image"))
        if "build" in service:
            context = service["build"].get("context", ".")
            dockerfile = service["build"].get("dockerfile", "Dockerfile")
            root = os.path.normpath(os.path.join(os.path.dirname(path),
                                                 context))
            checker.expect(root == os.path.normpath(source), where,
                           f"build context {context} is not the repository "
                           "root")
            checker.expect(os.path.normpath(dockerfile) ==
                           "deploy/docker/Dockerfile", where,
                           f"dockerfile {dockerfile}, not "
                           "deploy/docker/Dockerfile")
            built = True
        command = service.get("command")
        if not checker.expect(isinstance(command, list) and command, where,
                              "command must be a list starting with the "
                              "binary (the image has no ENTRYPOINT)"):
            continue
        binary = os.path.basename(str(command[0]))
        if binary == "nginx":
            edges.append((name, service))
            continue
        if binary == "etcd":
            parsed, ports = check_compose_etcd(
                service, flags, docker, dev_files, os.path.dirname(path),
                named_volumes, where, checker)
            servers[name] = (binary, parsed, ports.get("client"))
            etcd_members.append({"name": name, "host": name,
                                 "parsed": parsed, "ports": ports})
            continue
        if not checker.expect(binary in SERVERS, where,
                              f"runs {binary}, not a tally server or etcd"):
            continue
        parsed, port, admin = check_server_args(binary, command[1:], flags,
                                                where, checker)
        servers[name] = (binary, parsed, port)
        files = check_transport(binary, parsed, where, checker,
                                allow_insecure=False)
        if binary == "tally-collector" and "tls_cert" in parsed:
            checker.expect(os.path.basename(parsed["tls_cert"]) ==
                           f"collector-{parsed.get('region')}.pem", where,
                           f"--tls_cert={parsed['tls_cert']}: a collector "
                           "presents its own region's certificate "
                           f"(collector-{parsed.get('region')}.pem)")
        checker.expect(port in docker["expose"], where,
                       f"port {port} is not EXPOSEd by the Dockerfile")
        checker.expect(admin is None or admin in docker["expose"], where,
                       f"admin port {admin} is not EXPOSEd by the Dockerfile")

        # Published ports map to the listen port; the admin port (metrics
        # without authentication) only for the aggregator, on the host's
        # loopback.
        admin_published = []
        for mapping in service.get("ports", []) or []:
            if isinstance(mapping, dict):
                host_ip = str(mapping.get("host_ip", ""))
                container = str(mapping.get("target"))
            else:
                parts = str(mapping).split(":")
                host_ip = parts[0] if len(parts) == 3 else ""
                container = parts[-1]
            container = container.split("/")[0]
            if admin is not None and container == str(admin):
                admin_published.append(host_ip)
                checker.expect(binary == "tally-aggregator", where,
                               f"publishes its admin port {admin}: only the "
                               "aggregator's is published")
                checker.expect(host_ip == "127.0.0.1", where,
                               f"publishes the admin port {admin} on "
                               f"{host_ip or 'every interface'}, not "
                               "127.0.0.1")
                continue
            checker.expect(container == str(port), where,
                           f"publishes container port {container}, but "
                           f"listens on {port}"
                           + (f" (admin {admin})" if admin else ""))
        if binary == "tally-aggregator" and admin is not None:
            checker.expect(admin_published, where,
                           f"the aggregator's admin port {admin} should be "
                           "published on 127.0.0.1")
        if binary == "tally-gateway":
            published = [str(m).split(":") for m in service.get("ports", [])
                         if not isinstance(m, dict)]
            checker.expect(any(len(p) >= 2 and p[-2] == "8080"
                               for p in published), where,
                           "the gateway must be published on host port 8080")
            checker.expect(parsed.get("web_dir") == docker["web_dir"], where,
                           f"--web_dir={parsed.get('web_dir')} but the image "
                           f"has the page in {docker['web_dir']}")

        # Persistent data.
        if "data_dir" in parsed:
            _, volume = under(parsed["data_dir"],
                                  compose_volume_targets(service))
            checker.expect(volume in named_volumes, where,
                           f"--data_dir={parsed['data_dir']} is not on a "
                           "named volume: data would die with the container")

        # Health check on the same port.
        health = (service.get("healthcheck") or {}).get("test")
        if checker.expect(isinstance(health, list) and len(health) >= 2,
                          where, "needs a healthcheck (test as a list)"):
            words = [str(w) for w in health[1:]]
            if os.path.basename(words[0]) == "tallyctl":
                _, hc_files = check_probe_client(
                    words, flags, port, where + ".healthcheck", checker,
                    allow_insecure=False)
                files += hc_files
            else:
                script = " ".join(words)
                dialled = [int(p) for p in
                           re.findall(r"/dev/tcp/[^/\s]+/(\d+)", script)]
                checker.expect(dialled and all(p in (port, admin)
                                               for p in dialled), where,
                               f"healthcheck dials port(s) {dialled}, the "
                               f"server listens on {port} (admin {admin})")
                if admin in dialled:
                    checker.expect(re.search(r"GET /healthz HTTP/1\.[01]",
                                             script) and "200" in script,
                                   where, "healthcheck on the admin port "
                                   "must GET /healthz and require 200")
            checker.count("compose healthchecks")

        # Files of the TLS flags: read-only bind mounts of ./tls files.
        for flag, file in files:
            check_compose_file(service, flag, file,
                               dev_file(binary, flag, parsed.get("region")),
                               dev_files, os.path.dirname(path), where,
                               checker)

        # Stop grace above the drain time.
        grace = shutdown_grace_ms(binary, parsed, flags)
        stop = compose_duration_s(service.get("stop_grace_period", "10s"))
        checker.expect(grace is None or stop * 1000 > grace, where,
                       f"stop_grace_period {stop}s is not longer than "
                       f"--shutdown_grace_ms={grace}")

        # Dependencies wait for health.
        for dependency, spec in (service.get("depends_on") or {}).items() \
                if isinstance(service.get("depends_on"), dict) else []:
            checker.expect(dependency in services, where,
                           f"depends_on unknown service {dependency}")
            checker.expect((spec or {}).get("condition") == "service_healthy",
                           where, f"depends_on {dependency} without condition "
                           "service_healthy")
    checker.expect(built, where_file, "no service builds the image")
    checker.expect(len(images) == 1, where_file,
                   f"services use different images: {sorted(map(str, images))}")

    # Addresses name a service, its listen port, and a health dependency;
    # a list of replicas or etcd members names all of them.
    for name, (binary, parsed, _) in servers.items():
        where = f"{where_file}: services.{name}"
        depends = services[name].get("depends_on") or {}
        for (owner, flag), targets in ADDRESS_FLAGS.items():
            if owner != binary or flag not in parsed:
                continue
            named = {}  # binary -> hosts
            for address in parsed[flag].split(","):
                checker.count("compose addresses")
                host, port = split_address(address)
                target = servers.get(host)
                if not checker.expect(target is not None, where,
                                      f"--{flag}={parsed[flag]}: no service "
                                      f"{host}"):
                    continue
                checker.expect(target[0] in targets, where,
                               f"--{flag} points at {host}, which runs "
                               f"{target[0]}")
                checker.expect(target[2] == port, where,
                               f"--{flag}: {address} but {host} listens on "
                               f"{target[2]}")
                checker.expect(host in depends, where,
                               f"--{flag} dials {host} but does not depend "
                               "on it")
                checker.expect(host not in named.get(target[0], []), where,
                               f"--{flag} names {host} twice")
                named.setdefault(target[0], []).append(host)
            for kind, hosts in named.items():
                if kind not in REPLICATED:
                    continue
                every = [n for n, (b, _, _) in servers.items() if b == kind]
                missing = sorted(set(every) - set(hosts))
                checker.expect(not missing, where,
                               f"--{flag} omits {', '.join(missing)}: a "
                               "client follows only the replicas (or etcd "
                               "members) it is given")

    checker.expect(edges, where_file, "no edge (nginx) service")
    for name, service in edges:
        check_compose_edge(name, service, os.path.dirname(path), servers,
                           docker, checker)

    check_collectors(where_file, [(name, parsed) for name, (b, parsed, _) in
                                  servers.items() if b == "tally-collector"],
                     regions, checker)
    check_etcd_cluster(where_file, etcd_members, checker)
    check_replicas(where_file, [
        {"where": f"{where_file}: services.{name}", "parsed": parsed,
         "id": parsed.get("replica_id"), "advertise": f"{name}:{port}"}
        for name, (binary, parsed, port) in servers.items()
        if binary == "tally-aggregator"],
        any(m["parsed"].get("client-cert-auth") == "true"
            for m in etcd_members), checker)
    volumes_seen = {}
    for name, (binary, parsed, _) in servers.items():
        data_dir = parsed.get("data-dir" if binary == "etcd" else "data_dir")
        if not data_dir:
            continue
        _, volume = under(data_dir, compose_volume_targets(services[name]))
        if volume:
            checker.expect(volume not in volumes_seen, where_file,
                           f"{name} and {volumes_seen.get(volume)} share the "
                           f"volume {volume}")
            volumes_seen[volume] = name
    checker.expect(any(b == "tally-aggregator" for b, _, _ in servers.values())
                   and any(b == "tally-relay" for b, _, _ in servers.values())
                   and any(b == "tally-gateway"
                           for b, _, _ in servers.values()), where_file,
                   "needs an aggregator, a relay and a gateway")


def check_collectors(where, collectors, regions, checker):
    """Exactly one collector per region of the definition, nothing else."""
    per_region = {}
    for name, parsed in collectors:
        per_region.setdefault(parsed.get("region"), []).append(name)
    for region in regions:
        found = per_region.get(region, [])
        checker.expect(len(found) == 1, where,
                       f"region {region}: {len(found)} collectors "
                       f"({', '.join(found) or 'none'}), expected exactly 1")
    for region, names in per_region.items():
        checker.expect(region in regions, where,
                       f"{', '.join(names)}: region {region} is not in the "
                       "definition")
    checker.count(f"{where.split('/')[1]} collectors", len(collectors))


# -------------------------------------------------------------- kubernetes


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v
                                  for k, v in selector.items())


def check_kubernetes(source, flags, regions, docker, checker):
    directory = os.path.join(source, "deploy/kubernetes")
    where_dir = "deploy/kubernetes"
    kustomization_path = os.path.join(directory, "kustomization.yaml")
    if not os.path.isfile(kustomization_path):
        checker.fail(where_dir, "kustomization.yaml missing")
        return
    with open(kustomization_path, encoding="utf-8") as f:
        kustomization = yaml.safe_load(f)
    listed = list(kustomization.get("resources") or [])
    files = sorted(f for f in os.listdir(directory)
                   if f.endswith((".yaml", ".yml")) and
                   f != "kustomization.yaml")
    for name in files:
        checker.expect(name in listed, where_dir,
                       f"{name} is not listed in kustomization.yaml")
    objects = []
    for name in listed:
        path = os.path.join(directory, name)
        if not checker.expect(os.path.isfile(path), where_dir,
                              f"kustomization.yaml lists missing {name}"):
            continue
        with open(path, encoding="utf-8") as f:
            for document in yaml.safe_load_all(f):
                if document:
                    objects.append((name, document))
    checker.count("kubernetes objects", len(objects))

    namespaces = [o for _, o in objects if o.get("kind") == "Namespace"]
    checker.expect(any(n["metadata"]["name"] == kustomization.get("namespace")
                       for n in namespaces), where_dir,
                   f"kustomization namespace {kustomization.get('namespace')}"
                   " is not created by a Namespace manifest")

    # Workloads: one entry per tally container; etcd members apart.
    workloads = []  # dicts: file, object, container, binary, parsed, port
    etcd_workloads = []
    edge_workloads = []  # nginx containers
    for file, obj in objects:
        kind = obj.get("kind")
        if kind not in ("Deployment", "StatefulSet", "DaemonSet"):
            continue
        pod = obj["spec"]["template"]["spec"]
        name = obj["metadata"]["name"]
        for container in pod.get("containers", []):
            where = f"{where_dir}/{file}: {kind} {name}"
            command = container.get("command") or []
            if not checker.expect(command, where,
                                  f"container {container.get('name')} has no "
                                  "command (the image has no ENTRYPOINT)"):
                continue
            binary = os.path.basename(str(command[0]))
            args = [str(a) for a in command[1:]] + \
                [str(a) for a in container.get("args", [])]
            if binary == "nginx":
                edge_workloads.append({
                    "file": file, "obj": obj, "pod": pod,
                    "container": container, "binary": binary,
                    "args": args, "where": where, "port": None,
                    "admin": None, "served": (),
                    "labels": obj["spec"]["template"]["metadata"]
                    .get("labels", {})})
                continue
            if binary == "etcd":
                parsed, ports = check_etcd_args(args, flags, where, checker)
                etcd_workloads.append({
                    "file": file, "obj": obj, "pod": pod,
                    "container": container, "binary": binary,
                    "parsed": parsed, "port": ports.get("client"),
                    "ports": ports, "where": where,
                    "served": tuple(ports.values()),
                    "labels": obj["spec"]["template"]["metadata"]
                    .get("labels", {})})
                continue
            if not checker.expect(binary in SERVERS, where,
                                  f"runs {binary}, not a tally server or "
                                  "etcd"):
                continue
            parsed, port, admin = check_server_args(binary, args, flags,
                                                    where, checker)
            files = check_transport(binary, parsed, where, checker,
                                    allow_insecure=False)
            workloads.append({"file": file, "obj": obj, "pod": pod,
                              "container": container, "binary": binary,
                              "parsed": parsed, "port": port, "admin": admin,
                              "where": where, "files": files,
                              "labels": obj["spec"]["template"]["metadata"]
                              .get("labels", {})})
    checker.count("kubernetes tally containers", len(workloads))

    secrets = readme_secrets(os.path.join(directory, "README.md"),
                             dev_cert_files(source, regions, checker),
                             regions, checker)
    for w in workloads:
        check_workload(w, flags, docker, objects, checker)
        for flag, file in w["files"]:
            check_secret_file(w, flag, file, secrets, docker, checker)
    for w in etcd_workloads:
        check_etcd_workload(w, flags, docker, objects, secrets, checker)

    services = [(f, o) for f, o in objects if o.get("kind") == "Service"]
    by_name = {o["metadata"]["name"]: o for _, o in services}
    config_maps = {o["metadata"]["name"]: o for _, o in objects
                   if o.get("kind") == "ConfigMap"}
    checker.expect(edge_workloads, where_dir, "no edge (nginx) workload")
    for w in edge_workloads:
        check_k8s_edge(w, config_maps, by_name, workloads, docker, checker)
    for file, service in services:
        check_service(f"{where_dir}/{file}: Service "
                      f"{service['metadata']['name']}", service,
                      workloads + etcd_workloads + edge_workloads, checker)
    for file, obj in objects:
        if obj.get("kind") != "Ingress":
            continue
        for rule in obj["spec"].get("rules") or []:
            for path_spec in (rule.get("http") or {}).get("paths") or []:
                backend = path_spec["backend"]["service"]["name"]
                checker.expect(any(matches(by_name.get(backend, {})
                                           .get("spec", {}).get("selector"),
                                           w["labels"])
                                   for w in edge_workloads),
                               f"{where_dir}/{file}",
                               f"the Ingress sends {path_spec.get('path')} "
                               f"to {backend}, not to the edge")

    # Addresses: a Service with that port in front of the right binary, or
    # a StatefulSet pod under its headless Service (POD.SERVICE); a list of
    # replicas or etcd members names every pod.
    for w in workloads:
        for (owner, flag), targets in ADDRESS_FLAGS.items():
            if owner != w["binary"] or flag not in w["parsed"]:
                continue
            named = {}  # binary -> pod names
            for address in w["parsed"][flag].split(","):
                checker.count("kubernetes addresses")
                host, port = split_address(address)
                for x, pod_name in k8s_address(
                        host, port, f"--{flag}: {address}", by_name,
                        workloads + etcd_workloads, w["where"], checker):
                    checker.expect(x["binary"] in targets, w["where"],
                                   f"--{flag}: {address} reaches "
                                   f"{x['binary']}, not "
                                   f"{' or '.join(targets)}")
                    if pod_name:
                        checker.expect(pod_name not in
                                       named.get(x["binary"], []), w["where"],
                                       f"--{flag} names {pod_name} twice")
                        named.setdefault(x["binary"], []).append(pod_name)
            for kind, pods in named.items():
                if kind not in REPLICATED:
                    continue
                every = [pod for x in workloads + etcd_workloads
                         if x["binary"] == kind for pod in pod_names(x)]
                missing = sorted(set(every) - set(pods))
                checker.expect(not missing, w["where"],
                               f"--{flag} omits {', '.join(missing)}: a "
                               "client follows only the replicas (or etcd "
                               "members) it is given")

    # The etcd cluster and the aggregator replicas on it.
    members = []
    for x in etcd_workloads:
        for pod in pod_names(x):
            members.append({
                "name": pod,
                "host": f"{pod}.{x['obj']['spec'].get('serviceName')}",
                "parsed": expand_pod_name(x, pod), "ports": x["ports"]})
    check_etcd_cluster(f"{where_dir}/etcd", members, checker)
    replicas = []
    for x in workloads:
        if x["binary"] != "tally-aggregator":
            continue
        for pod in pod_names(x):
            replicas.append({
                "where": x["where"], "parsed": expand_pod_name(x, pod),
                "id": expand_pod_name(x, pod).get("replica_id"),
                "advertise": f"{pod}.{x['obj']['spec'].get('serviceName')}:"
                             f"{x['port']}"})
    check_replicas(f"{where_dir}/aggregator", replicas,
                   any(m["parsed"].get("client-cert-auth") == "true"
                       for m in members), checker)
    for x in workloads:
        for init in x["pod"].get("initContainers") or []:
            check_init_container(x, init, flags, secrets, docker, checker)

    # Persistent data, one collector per region, relay autoscaling.
    collectors = []
    for w in workloads:
        if w["binary"] == "tally-collector":
            replicas = w["obj"]["spec"].get("replicas", 1)
            collectors.extend([(w["obj"]["metadata"]["name"], w["parsed"])] *
                              replicas)
    check_collectors(f"{where_dir}/collectors", collectors, regions, checker)
    kinds = {w["binary"] for w in workloads}
    for binary in SERVERS:
        checker.expect(binary in kinds, where_dir, f"no workload runs {binary}")
    for w in workloads:
        if w["binary"] == "tally-relay":
            check_relay_scaling(w, objects, checker)


def check_k8s_edge(w, config_maps, services, workloads, docker, checker):
    """An nginx container: its configuration from a ConfigMap mounted
    read-only, its prefix on an emptyDir, its port the container port of
    the probes, its upstreams the gateway Service."""
    where = w["where"]
    container = w["container"]
    prefix, config = edge_command(w["args"], where, checker)
    mounts = {m.get("mountPath"): m for m in
              container.get("volumeMounts") or []}
    volumes = {v.get("name"): v for v in w["pod"].get("volumes") or []}
    config_dir, config_name = os.path.split(config or "")
    mount = mounts.get(config_dir)
    if not checker.expect(mount is not None, where,
                          f"-c {config}: {config_dir} is not mounted"):
        return
    checker.expect(mount.get("readOnly") is True, where,
                   f"{config_dir} is not mounted read-only")
    config_map = (volumes.get(mount.get("name")) or {}).get("configMap")
    if not checker.expect(config_map and config_map.get("name") in
                          config_maps, where, f"{config_dir} is not a "
                          "ConfigMap of the manifests"):
        return
    text = (config_maps[config_map["name"]].get("data") or {}).get(
        config_name)
    if not checker.expect(text, where, f"ConfigMap {config_map['name']} "
                          f"has no {config_name}"):
        return
    cache = mounts.get(prefix)
    checker.expect(cache is not None and "emptyDir" in
                   (volumes.get(cache.get("name")) or {}), where,
                   f"the prefix {prefix} is not an emptyDir (the root file "
                   "system is read-only and nginx writes there)")
    port, gateways = check_edge_config(
        text, prefix, f"{where}: ConfigMap {config_map['name']}", checker)
    w["port"] = port
    w["served"] = (port,)
    checker.expect(port in docker["expose"], where,
                   f"port {port} is not EXPOSEd by the Dockerfile")
    ports = {p.get("name"): p.get("containerPort")
             for p in container.get("ports") or []}
    checker.expect(port in ports.values(), where,
                   f"nginx listens on {port}, no container port says so")
    for probe_name in ("readinessProbe", "livenessProbe"):
        probe = container.get(probe_name) or {}
        probe_port = (probe.get("httpGet") or probe.get("tcpSocket")
                      or {}).get("port")
        checker.expect(ports.get(probe_port, probe_port) == port, where,
                       f"{probe_name} on {probe_port}, nginx listens on "
                       f"{port}")
    security = container.get("securityContext") or {}
    checker.expect(security.get("readOnlyRootFilesystem") is True and
                   security.get("allowPrivilegeEscalation") is False, where,
                   "the edge runs with a read-only root file system and no "
                   "privilege escalation")
    checker.expect((w["pod"].get("securityContext") or {}).get("runAsNonRoot")
                   is True, where, "the edge must run as non-root")
    for host, gateway_port in gateways:
        checker.count("kubernetes addresses")
        for x, _ in k8s_address(host, gateway_port,
                                f"upstream {host}:{gateway_port}", services,
                                workloads, where, checker):
            checker.expect(x["binary"] == "tally-gateway", where,
                           f"upstream {host}:{gateway_port} reaches "
                           f"{x['binary']}, not tally-gateway")


def pod_names(w):
    """The pods of a workload: NAME-0 ... of a StatefulSet, else none by
    name."""
    obj = w["obj"]
    if obj["kind"] != "StatefulSet":
        return []
    return [f"{obj['metadata']['name']}-{i}"
            for i in range(obj["spec"].get("replicas", 1))]


def pod_name_variables(w):
    """Environment variables of the container set to the pod's name
    (the downward API's metadata.name)."""
    return {e["name"] for e in w["container"].get("env") or []
            if ((e.get("valueFrom") or {}).get("fieldRef") or {})
            .get("fieldPath") == "metadata.name"}


def expand_pod_name(w, pod):
    """The workload's parsed flags as pod `pod` sees them: $(VAR) of a
    variable holding the pod's name replaced by it."""
    variables = pod_name_variables(w)
    expanded = {}
    for flag, value in w["parsed"].items():
        for variable in variables:
            value = value.replace(f"$({variable})", pod)
        expanded[flag] = value
    return expanded


def k8s_address(host, port, what, services, workloads, where, checker):
    """What HOST:PORT reaches: [(workload, pod name or None)]. HOST is a
    Service (optionally NAMESPACE[.svc[.cluster.local]]-qualified) or
    POD.SERVICE, a StatefulSet pod under its governing headless
    Service."""
    pod_form = re.fullmatch(
        r"([a-z0-9-]+)-(\d+)\.([a-z0-9-]+)"
        r"(?:\.[a-z0-9-]+(?:\.svc(?:\.cluster\.local)?)?)?", host)
    if pod_form and pod_form.group(3) in services:
        service = services[pod_form.group(3)]
        owners = [w for w in workloads
                  if w["obj"]["kind"] == "StatefulSet" and
                  w["obj"]["metadata"]["name"] == pod_form.group(1)]
        if not checker.expect(owners, where, f"{what}: no StatefulSet "
                              f"{pod_form.group(1)} for pod {host}"):
            return []
        w = owners[0]
        spec = w["obj"]["spec"]
        pod = f"{pod_form.group(1)}-{pod_form.group(2)}"
        checker.expect(spec.get("serviceName") == pod_form.group(3), where,
                       f"{what}: StatefulSet {pod_form.group(1)} is governed "
                       f"by {spec.get('serviceName')}, not "
                       f"{pod_form.group(3)}: {host} does not resolve")
        checker.expect(service["spec"].get("clusterIP") == "None", where,
                       f"{what}: Service {pod_form.group(3)} is not headless: "
                       "its pods have no DNS names")
        checker.expect(pod in pod_names(w), where,
                       f"{what}: StatefulSet {pod_form.group(1)} has "
                       f"{spec.get('replicas', 1)} pods, no {pod}")
        checker.expect(port == w["port"], where,
                       f"{what}: {w['binary']} listens on {w['port']}")
        return [(w, pod)]
    name = re.sub(r"\.[a-z0-9-]+(\.svc(\.cluster\.local)?)?$", "", host)
    service = services.get(name)
    if not checker.expect(service is not None, where,
                          f"{what}: no Service {name}"):
        return []
    behind = [x for x in workloads
              if matches(service["spec"].get("selector"), x["labels"])]
    checker.expect(behind, where, f"{what}: Service {name} selects nothing")
    for spec in service["spec"].get("ports", []):
        if spec.get("port") != port:
            continue
        for x in behind:
            checker.expect(target_port(spec, x["container"]) == x["port"],
                           where, f"{what}: Service {name} port {port} does "
                           f"not reach {x['binary']}'s listen port "
                           f"{x['port']}")
        break
    else:
        checker.fail(where, f"{what}: Service {name} has no port {port}")
    return [(x, None) for x in behind]


def disruption_budgets(w, objects):
    return [o for _, o in objects if o.get("kind") == "PodDisruptionBudget"
            and matches(o["spec"]["selector"].get("matchLabels"),
                        w["labels"])]


def check_one_at_a_time(w, objects, checker):
    """A replicated StatefulSet: a PodDisruptionBudget lets one pod go at
    a time, and the pods' names are stable DNS names under a headless
    Service that publishes them before they are ready (peers find each
    other through it while starting)."""
    where, spec = w["where"], w["obj"]["spec"]
    replicas = spec.get("replicas", 1)
    pdbs = disruption_budgets(w, objects)
    if checker.expect(pdbs, where, "needs a PodDisruptionBudget"):
        budget = pdbs[0]["spec"]
        checker.expect(budget.get("maxUnavailable") == 1 or
                       budget.get("minAvailable") == replicas - 1, where,
                       f"PodDisruptionBudget {budget}: one pod at a time "
                       f"(maxUnavailable 1 or minAvailable {replicas - 1})")
    governing = [o for _, o in objects if o.get("kind") == "Service" and
                 o["metadata"]["name"] == spec.get("serviceName")]
    if checker.expect(governing, where, f"serviceName "
                      f"{spec.get('serviceName')}: no such Service"):
        service = governing[0]["spec"]
        checker.expect(service.get("clusterIP") == "None" and
                       service.get("publishNotReadyAddresses") is True and
                       matches(service.get("selector"), w["labels"]), where,
                       f"Service {spec.get('serviceName')} must be headless, "
                       "select these pods and publish them before they are "
                       "ready")
    checker.expect(spec.get("podManagementPolicy") == "Parallel", where,
                   "podManagementPolicy Parallel: the pods start together "
                   "(a member or replica waits for its peers)")


def check_etcd_workload(w, flags, docker, objects, secrets, checker):
    """An etcd member StatefulSet: REPLICAS pods, each member named after
    its pod with URLs under the headless Service, plain-HTTP /health
    probes on the metrics port, its data on a volume claim, TLS files from
    Secrets."""
    where, obj, parsed, container, pod = (w["where"], w["obj"], w["parsed"],
                                          w["container"], w["pod"])
    if not checker.expect(obj["kind"] == "StatefulSet", where,
                          "etcd members keep data and a stable name: a "
                          "StatefulSet"):
        return
    checker.expect(obj["spec"].get("replicas", 1) == REPLICAS, where,
                   f"{obj['spec'].get('replicas', 1)} members, expected "
                   f"{REPLICAS}")
    check_one_at_a_time(w, objects, checker)
    uses = set(re.findall(r"\$\((\w+)\)", " ".join(parsed.values())))
    for variable in uses:
        checker.expect(variable in pod_name_variables(w), where,
                       f"$({variable}) is not the pod's name (env "
                       "valueFrom fieldRef metadata.name)")
    ports = {p.get("name"): p.get("containerPort")
             for p in container.get("ports", [])}
    for kind, port in w["ports"].items():
        checker.expect(ports.get(kind) == port, where,
                       f"etcd {kind} port {port}: needs the containerPort "
                       f"named {kind}")
        checker.expect(port in docker["expose"], where,
                       f"etcd {kind} port {port} is not EXPOSEd by the "
                       "Dockerfile")
    annotations = obj["spec"]["template"]["metadata"].get(
        "annotations") or {}
    for key, value in SCRAPE_ANNOTATIONS.items():
        value = value.format(port=w["ports"].get("metrics"))
        checker.expect(annotations.get(key) == value, where,
                       f"pod template annotation {key}: "
                       f"{annotations.get(key)!r}, expected {value!r}")
    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(probe_name)
        if not checker.expect(probe is not None, where,
                              f"needs a {probe_name}"):
            continue
        checker.count("kubernetes probes")
        http = probe.get("httpGet") or {}
        probe_port = http.get("port")
        if not isinstance(probe_port, int):
            probe_port = target_port({"targetPort": probe_port}, container)
        checker.expect(http.get("path") == "/health" and
                       probe_port == w["ports"].get("metrics") and
                       http.get("scheme", "HTTP") == "HTTP", where,
                       f"{probe_name} must be httpGet /health on the metrics "
                       f"port {w['ports'].get('metrics')} (the client port "
                       "asks for a certificate the kubelet cannot present)")
    security = pod.get("securityContext", {})
    if docker["uid"]:
        checker.expect(str(security.get("runAsUser")) == docker["uid"] and
                       str(security.get("fsGroup")) == docker["uid"], where,
                       f"runAsUser and fsGroup must be the image's user "
                       f"{docker['uid']} (the volume and Secrets readable)")
    claims = {c["metadata"]["name"] for c in
              obj["spec"].get("volumeClaimTemplates", [])}
    mounts = {m["mountPath"]: m["name"]
              for m in container.get("volumeMounts", [])}
    _, volume = under(parsed.get("data-dir", ""), mounts)
    checker.expect(volume in claims, where,
                   f"--data-dir={parsed.get('data-dir')} is not on a "
                   "volumeClaimTemplate: the member's data would die with "
                   "the pod")
    for flag in ETCD_FILE_FLAGS:
        if parsed.get(flag):
            check_secret_file(w, flag, parsed[flag], secrets, docker, checker)


def check_init_container(w, init, flags, secrets, docker, checker):
    """An init container of a tally pod: the image's etcdctl waiting for
    the etcd quorum the aggregator's --etcd_endpoints name."""
    where = f"{w['where']} initContainer {init.get('name')}"
    words = [str(x) for x in (init.get("command") or []) +
             (init.get("args") or [])]
    if words[:2] == ["bash", "-c"] or words[:2] == ["sh", "-c"]:
        words = shlex.split(" ".join(words[2:]))
    checker.count("kubernetes init containers")
    if not checker.expect("etcdctl" in words, where,
                          f"runs {words[:3]}: only etcdctl waits are known"):
        return
    checker.expect(init.get("image") == w["container"].get("image"), where,
                   f"image {init.get('image')}: the tally image has etcdctl")
    endpoints = w["parsed"].get("etcd_endpoints", "")
    checker.expect(endpoints, where, "waits for etcd, but the container has "
                   "no --etcd_endpoints")
    files = check_etcdctl(words[words.index("etcdctl"):], flags, None, where,
                          checker, endpoints=endpoints.split(","))
    init_w = dict(w, container=init, binary="etcdctl", where=where)
    for flag, file in files:
        check_secret_file(init_w, flag, file, secrets, docker, checker)


def target_port(port_spec, container):
    """The container port a Service port reaches (named or numeric)."""
    target = port_spec.get("targetPort", port_spec.get("port"))
    if isinstance(target, int):
        return target
    for port in container.get("ports", []):
        if port.get("name") == target:
            return port.get("containerPort")
    return None


def check_workload(w, flags, docker, objects, checker):
    where, binary, parsed, port = w["where"], w["binary"], w["parsed"], \
        w["port"]
    container, pod, obj = w["container"], w["pod"], w["obj"]
    container_ports = [p.get("containerPort") for p in container.get("ports",
                                                                     [])]
    checker.expect(port in container_ports, where,
                   f"--listen port {port} is not a containerPort "
                   f"({container_ports})")
    checker.expect(port in docker["expose"], where,
                   f"port {port} is not EXPOSEd by the Dockerfile")

    # The admin server: its own named container port, EXPOSEd, scraped.
    admin = w["admin"]
    named = {p.get("name"): p.get("containerPort")
             for p in container.get("ports", [])}
    checker.expect(admin is not None and named.get("admin") == admin, where,
                   f"--admin_listen port {admin}: needs the containerPort "
                   f"named admin with that port (admin: {named.get('admin')})")
    checker.expect(admin is None or admin in docker["expose"], where,
                   f"admin port {admin} is not EXPOSEd by the Dockerfile")
    annotations = obj["spec"]["template"]["metadata"].get(
        "annotations") or {}
    for key, value in SCRAPE_ANNOTATIONS.items():
        value = value.format(port=admin)
        checker.count("scrape annotations")
        got = annotations.get(key)
        checker.expect(isinstance(got, str) and got == value, where,
                       f"pod template annotation {key}: {got!r}, expected "
                       f"{value!r} (a string) for the admin port's /metrics")

    # Probes. Readiness and liveness are GET /healthz on the admin port
    # (plain HTTP: 200 while serving, 503 while starting or draining). A
    # startup probe may also be a TCP connect or tallyctl over TLS; the
    # kubelet's grpc: probe speaks plain text and fails against TLS. The
    # aggregator's startup probe is a real read, so readiness (which runs
    # only after startup passed) never lets traffic in before one worked.
    tls = parsed.get("insecure", "false") != "true"
    for probe_name in ("readinessProbe", "livenessProbe", "startupProbe"):
        probe = container.get(probe_name)
        if probe is None:
            checker.expect(probe_name == "startupProbe", where,
                           f"needs a {probe_name}")
            continue
        checker.count("kubernetes probes")
        http = probe.get("httpGet")
        if http is not None or probe_name != "startupProbe":
            if not checker.expect(http is not None, where,
                                  f"{probe_name} must be httpGet /healthz on "
                                  f"the admin port ({admin})"):
                continue
            probe_port = http.get("port")
            if not isinstance(probe_port, int):
                probe_port = target_port({"targetPort": probe_port},
                                         container)
            checker.expect(probe_port == admin, where,
                           f"{probe_name} httpGet port {http.get('port')} "
                           f"({probe_port}), the admin port is {admin}")
            checker.expect(http.get("path") == "/healthz", where,
                           f"{probe_name} httpGet path {http.get('path')}, "
                           "not the admin server's /healthz")
            checker.expect(http.get("scheme", "HTTP") == "HTTP", where,
                           f"{probe_name} scheme {http.get('scheme')}: the "
                           "admin port is plain HTTP")
            continue
        # A startup probe other than httpGet.
        grpc, tcp, exec_ = (probe.get("grpc"), probe.get("tcpSocket"),
                            probe.get("exec"))
        if not checker.expect(binary in GRPC_SERVERS, where,
                              f"{probe_name} of the gateway must be httpGet"):
            continue
        if grpc is not None:
            checker.expect(not tls, where,
                           f"{probe_name} is a grpc: probe, which the "
                           "kubelet sends in plain text: it always fails "
                           "against TLS (use httpGet on the admin port, exec "
                           "tallyctl or tcpSocket)")
            checker.expect(grpc.get("port") == port, where,
                           f"{probe_name} grpc port {grpc.get('port')}, "
                           f"the server listens on {port}")
            checker.expect(grpc.get("service", "") == "", where,
                           f"{probe_name} asks for service "
                           f"{grpc.get('service')!r}; the servers "
                           "report the overall status (\"\")")
        elif tcp is not None:
            tcp_port = tcp.get("port")
            if not isinstance(tcp_port, int):
                tcp_port = target_port({"targetPort": tcp_port}, container)
            checker.expect(tcp_port == port, where,
                           f"{probe_name} tcpSocket port {tcp.get('port')}, "
                           f"the server listens on {port}")
        elif checker.expect(exec_ is not None, where,
                            f"{probe_name} of a gRPC server must be httpGet "
                            "(admin), exec (tallyctl), tcpSocket or, without "
                            "TLS, grpc:"):
            words = [str(x) for x in exec_.get("command") or []]
            if checker.expect(words and os.path.basename(words[0]) ==
                              "tallyctl", where,
                              f"{probe_name} runs {words[:1]}, not "
                              "tallyctl (the image's only gRPC client)"):
                probe_parsed, probe_files = check_probe_client(
                    words, flags, port, f"{where} {probe_name}", checker,
                    allow_insecure=not tls)
                w["files"] = w["files"] + probe_files
                sub = f"tallyctl {words[1]}" if len(words) > 1 else ""
                timeout_ms = probe_parsed.get("timeout_ms") or (
                    flags[sub].defaults.get("timeout_ms")
                    if sub in flags else None)
                seconds = probe.get("timeoutSeconds", 1)
                checker.expect(timeout_ms is None or
                               seconds * 1000 > int(timeout_ms), where,
                               f"{probe_name} timeoutSeconds {seconds} is "
                               f"not longer than --timeout_ms={timeout_ms}"
                               ": the kubelet would kill tallyctl first")
    if binary == "tally-aggregator":
        startup = (container.get("startupProbe") or {}).get("exec") or {}
        words = [str(x) for x in startup.get("command") or []]
        checker.expect(words[:1] and os.path.basename(words[0]) ==
                       "tallyctl" and words[1:2] == ["results"], where,
                       "the aggregator's startupProbe must be a real read "
                       "(exec tallyctl results over TLS): /healthz alone "
                       "does not show the store answers over TLS")

    # Grace period above the drain time.
    grace = shutdown_grace_ms(binary, parsed, flags)
    period = pod.get("terminationGracePeriodSeconds", 30)
    checker.expect(grace is None or period * 1000 > grace, where,
                   f"terminationGracePeriodSeconds {period} is not longer "
                   f"than --shutdown_grace_ms={grace}")

    # Non-root as the image's user.
    security = pod.get("securityContext", {})
    if docker["uid"] and "runAsUser" in security:
        checker.expect(str(security["runAsUser"]) == docker["uid"], where,
                       f"runAsUser {security['runAsUser']}, the image's "
                       f"user is {docker['uid']}")

    if binary == "tally-gateway":
        checker.expect(parsed.get("web_dir") == docker["web_dir"], where,
                       f"--web_dir={parsed.get('web_dir')} but the image has "
                       f"the page in {docker['web_dir']}")

    # Durable data: a StatefulSet volume claim per pod; one pod, or the
    # replicas of a replicated aggregator, each named after its pod.
    if "data_dir" in parsed:
        checker.expect(obj["kind"] == "StatefulSet", where,
                       f"{binary} keeps a RocksDB store: run it as a "
                       "StatefulSet")
        if binary == "tally-aggregator" and parsed.get("etcd_endpoints"):
            checker.expect(obj["spec"].get("replicas", 1) == REPLICAS, where,
                           f"{obj['spec'].get('replicas', 1)} replicas, "
                           f"expected {REPLICAS}")
            variables = pod_name_variables(w)
            checker.expect(any(parsed.get("replica_id") == f"$({v})"
                               for v in variables), where,
                           f"--replica_id={parsed.get('replica_id')}: the "
                           "pod's name ($(POD_NAME), env valueFrom fieldRef "
                           "metadata.name), stable across restarts")
            if obj["kind"] == "StatefulSet":
                check_one_at_a_time(w, objects, checker)
        else:
            checker.expect(obj["spec"].get("replicas", 1) == 1, where,
                           "one pod per store")
        claims = {c["metadata"]["name"] for c in
                  obj["spec"].get("volumeClaimTemplates", [])}
        mounts = {m["mountPath"]: m["name"]
                  for m in container.get("volumeMounts", [])}
        _, volume = under(parsed["data_dir"], mounts)
        checker.expect(volume in claims, where,
                       f"--data_dir={parsed['data_dir']} is not on a "
                       "volumeClaimTemplate: data would die with the pod")
        if volume in claims and docker["uid"]:
            checker.expect(str(pod.get("securityContext", {})
                               .get("fsGroup")) == docker["uid"], where,
                           "fsGroup must be the image's group so the volume "
                           "is writable")


def readme_secrets(path, dev_files, regions, checker):
    """Secrets of the `kubectl create secret` commands of the README:
    [(name regex, {key: file name})]. ${region} in a name or file stands
    for any region."""
    where = "deploy/kubernetes/README.md"
    if not checker.expect(os.path.isfile(path), where, "missing"):
        return []
    with open(path, encoding="utf-8") as f:
        text = f.read().replace("\\\n", " ")
    checker.expect("deploy/tls/gen-dev-certs.sh" in text, where,
                   "does not show how to make the certificates "
                   "(deploy/tls/gen-dev-certs.sh)")
    secrets = []
    for line in text.splitlines():
        match = re.search(r"kubectl .*?create secret (generic|tls) (.*)",
                          line)
        if not match:
            continue
        try:
            words = shlex.split(match.group(2).split(";")[0])
        except ValueError:
            checker.fail(where, f"cannot parse: {line.strip()}")
            continue
        name, keys = words[0], {}
        for word in words[1:]:
            flag, _, value = word.partition("=")
            if flag == "--from-file":
                key, _, file = value.rpartition("=")
                keys[key or os.path.basename(file)] = file
            elif flag in ("--cert", "--key") and match.group(1) == "tls":
                keys["tls.crt" if flag == "--cert" else "tls.key"] = value
        pattern = re.escape(name).replace(re.escape("${region}"),
                                          "[a-z0-9-]+")
        secrets.append((re.compile(f"^{pattern}$"), keys))
        checker.count("readme secrets")
        for key, file in keys.items():
            base = os.path.basename(file)
            if "${region}" in base or "${region}" in name:
                checker.expect("${region}" in base and "${region}" in name,
                               where, f"secret {name} key {key} from {file}: "
                               "a per-region Secret holds that region's file")
                base = base.replace("${region}",
                                    regions[0] if regions else "")
            checker.expect(dev_files is None or base in dev_files, where,
                           f"secret {name} key {key} from {file}: "
                           "gen-dev-certs.sh makes no such file")
    return secrets


def check_secret_file(w, flag, file, secrets, docker, checker):
    """The file of a flag is on a read-only Secret volume whose Secret the
    README creates with that key."""
    where, container, pod = w["where"], w["container"], w["pod"]
    checker.count("kubernetes mounted files")
    volumes = {v.get("name"): v for v in pod.get("volumes", [])}
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    mount_path, mount = under(file, mounts)
    if not checker.expect(mount is not None, where,
                          f"--{flag}={file} is on no volume mount"):
        return
    secret = volumes.get(mount["name"], {}).get("secret")
    if not checker.expect(secret is not None, where,
                          f"--{flag}={file}: volume {mount['name']} is not a "
                          "Secret"):
        return
    checker.expect(mount.get("readOnly") is True, where,
                   f"--{flag}={file}: mount {mount_path} with readOnly: true")
    relative = os.path.relpath(file, mount_path)
    if mount.get("subPath"):
        relative = os.path.join(mount["subPath"], relative) \
            if relative != "." else mount["subPath"]
    items = secret.get("items")
    key = relative
    if items is not None:
        by_path = {i.get("path"): i.get("key") for i in items}
        if not checker.expect(relative in by_path, where,
                              f"--{flag}={file}: Secret volume "
                              f"{mount['name']} projects no {relative}"):
            return
        key = by_path[relative]
    name = str(secret.get("secretName"))
    created = [keys for pattern, keys in secrets if pattern.match(name)]
    if checker.expect(created, where,
                      f"--{flag}={file}: Secret {name} is not created in "
                      "deploy/kubernetes/README.md"):
        sources = [keys[key] for keys in created if key in keys]
        if checker.expect(sources, where,
                          f"--{flag}={file}: Secret {name} as created in the "
                          f"README has no key {key}"):
            region = w["parsed"].get("region")
            expected = dev_file(w["binary"], flag, region)
            bases = [os.path.basename(f).replace("${region}", str(region))
                     for f in sources]
            checker.expect(expected is None or expected in bases, where,
                           f"--{flag}={file}: key {key} of Secret {name} "
                           f"comes from {', '.join(sources)} in the README, "
                           f"but the flag takes gen-dev-certs.sh's "
                           f"{expected}")
    if w["binary"] == "tally-collector" and flag == "tls_cert":
        region = w["parsed"].get("region")
        checker.expect(name == f"collector-{region}-tls", where,
                       f"--tls_cert from Secret {name}: a collector presents "
                       f"its own region's certificate "
                       f"(collector-{region}-tls)")
    # Secret files belong to root: without read for others, fsGroup must
    # be the image's group.
    mode = secret.get("defaultMode", 0o644)
    if not mode & 0o004 and docker["uid"]:
        checker.expect(str(pod.get("securityContext", {}).get("fsGroup")) ==
                       docker["uid"] and mode & 0o040, where,
                       f"--{flag}={file}: Secret mode {oct(mode)} without "
                       "read for others needs group read and fsGroup "
                       f"{docker['uid']}")


def check_service(where, service, workloads, checker):
    selector = service["spec"].get("selector")
    behind = [w for w in workloads if matches(selector, w["labels"])]
    if not checker.expect(behind, where, f"selector {selector} matches no "
                          "tally or etcd pod"):
        return
    for spec in service["spec"].get("ports", []):
        for w in behind:
            served = w.get("served") or (w["port"], w["admin"])
            checker.expect(target_port(spec, w["container"]) in served,
                           where, f"port {spec.get('port')} targets "
                           f"{spec.get('targetPort')}, but {w['binary']} "
                           f"listens on {', '.join(map(str, served))}")


def check_relay_scaling(w, objects, checker):
    where, obj = w["where"], w["obj"]
    checker.expect(obj["kind"] == "Deployment", where,
                   "the relay is stateless: a Deployment")
    hpas = [o for _, o in objects if o.get("kind") ==
            "HorizontalPodAutoscaler" and
            o["spec"]["scaleTargetRef"].get("name") == obj["metadata"]["name"]
            and o["spec"]["scaleTargetRef"].get("kind") == obj["kind"]]
    if checker.expect(len(hpas) == 1, where,
                      f"needs exactly one HorizontalPodAutoscaler, has "
                      f"{len(hpas)}"):
        hpa = hpas[0]
        checker.expect(hpa["apiVersion"] == "autoscaling/v2", where,
                       f"HPA apiVersion {hpa['apiVersion']}, not "
                       "autoscaling/v2")
        checker.expect(any(m.get("type") == "Resource" and
                           m["resource"].get("name") == "cpu"
                           for m in hpa["spec"].get("metrics", [])), where,
                       "the HPA must scale on CPU")
        checker.expect(hpa["spec"].get("minReplicas", 1) >= 2, where,
                       "HPA minReplicas below 2 leaves a single relay")
        checker.expect(w["container"].get("resources", {}).get(
            "requests", {}).get("cpu"), where,
            "CPU utilisation needs a CPU request on the relay container")
    pdbs = [o for _, o in objects if o.get("kind") == "PodDisruptionBudget"
            and matches(o["spec"]["selector"].get("matchLabels"),
                        w["labels"])]
    checker.expect(pdbs, where, "needs a PodDisruptionBudget")


# --------------------------------------------------------------- generated


# Generator -> the files it writes next to itself.
GENERATED = {
    "deploy/compose/generate.sh": ("compose.yaml", "collectors.txt",
                                   "edge.conf"),
    "deploy/kubernetes/generate.sh": ("collectors.yaml", "edge-config.yaml"),
}


def check_generated(source, build, checker):
    """Each generated file is what its generator writes now: run a copy of
    the generator in a scratch directory and compare."""
    tallyctl = os.path.join(build, BINARIES["tallyctl"])
    for script, outputs in GENERATED.items():
        path = os.path.join(source, script)
        if not checker.expect(os.path.isfile(path), script, "missing"):
            continue
        with tempfile.TemporaryDirectory() as directory:
            copy = os.path.join(directory, os.path.basename(path))
            shutil.copy(path, copy)
            # The copy renders the edge's configuration with this
            # repository's deploy/edge/render.sh.
            result = run(["env", f"TALLY_SOURCE={source}", "bash", copy,
                          "--tallyctl", tallyctl])
            if not checker.expect(result.returncode == 0, script,
                                  f"failed: {result.stdout}"):
                continue
            for output in outputs:
                checker.count("generated files")
                committed = os.path.join(os.path.dirname(path), output)
                where = os.path.relpath(committed, source)
                if not checker.expect(os.path.isfile(committed), where,
                                      f"missing: run {script}"):
                    continue
                with open(committed, encoding="utf-8") as f:
                    old = f.read()
                with open(os.path.join(directory, output),
                          encoding="utf-8") as f:
                    new = f.read()
                if old != new:
                    diff = [line for line in difflib.unified_diff(
                        old.splitlines(), new.splitlines(), lineterm="",
                        n=0) if line[:1] in "+-"][2:8]
                    checker.fail(where, f"differs from what {script} writes "
                                 "(edit the script and rerun it): "
                                 + " | ".join(diff))


# -------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, help="repository root")
    parser.add_argument("--build", required=True, help="build directory")
    options = parser.parse_args()
    source = os.path.abspath(options.source)
    build = os.path.abspath(options.build)

    checker = Checker()
    flags = load_flags(build, checker)
    if flags is None:
        report(checker)
        return 1
    regions = list_regions(build, checker)
    docker = check_dockerfile(source, build, checker)
    check_dockerignore(source, checker)
    check_generated(source, build, checker)
    check_compose(source, flags, regions, docker, checker)
    check_kubernetes(source, flags, regions, docker, checker)
    checker.count("regions", len(regions))
    return report(checker)


def report(checker):
    for what, n in sorted(checker.counts.items()):
        print(f"  {what}: {n}")
    if checker.problems:
        print(f"FAILED: {len(checker.problems)} problem(s):")
        for problem in checker.problems:
            print(f"  {problem}")
        return 1
    print("OK: deploy/docker, deploy/compose and deploy/kubernetes match the "
          "binaries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
