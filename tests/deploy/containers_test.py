#!/usr/bin/python3
"""deploy/docker/Dockerfile and deploy/compose/compose.yaml, really run.

  containers_test.py --source SOURCE_DIR --build BUILD_DIR --tallyctl TALLYCTL
                     [--state_dir DIR] [--keep]

With Debian's podman, podman-compose and runc, and no container registry:

1. Base images. The Dockerfile's FROM debian:12 and debian:12-slim are one
   minbase Debian 12 made by mmdebstrap from the machine's apt sources and
   imported as localhost/debian:12-slim and localhost/debian:12. They stay
   in the test's podman storage, so only the first run makes them. Docker
   Hub is blocked in the test's registries.conf: nothing is ever pulled.
2. Image. `podman-compose build`: podman builds the unmodified Dockerfile
   with the repository as context, as the compose file says; a build of the
   first stage alone (all cached) tags the builder for the checks below
   and keeps its layers as the next run's cache.
3. Private keys. The build context: a probe context made of the
   repository's .dockerignore, what the Dockerfile COPYs and decoy keys,
   tokens and certificates where a checkout has them (deploy/compose/tls,
   build trees under any name, stray files in the copied directories) is
   copied whole into a probe image, which must hold none of them; without
   the .dockerignore the same probe must hold them all, which proves the
   scan sees them. The images: every layer of the runtime image and of the
   builder stage (`podman image save`) is scanned for *.key and *.token
   files and text files holding a PEM private key.
4. Up. The whole compose file under a project name of its own (with this
   PID), with certificates from deploy/tls/gen-dev-certs.sh for its
   regions, made in the run directory. The copy that runs differs from
   deploy/compose/compose.yaml in three ways only: podman picks the host
   side of published ports (so runs never collide; while a killed replica
   is down its ports stay held, see PortHold), the build context is
   an absolute path, and ./tls is the run's certificates.
5. Health. podman-compose 1.0.3 does not run health checks, so each
   service's `healthcheck.test` runs with `podman exec`, retried until it
   passes within a generous deadline. Every service must be running and
   every health check pass (etcd members, aggregator replicas, collectors,
   relay, gateway).
6. A night with a failover. `tallyctl replicas` over the replicas'
   published ports shows one LEADER and the others FOLLOWER. `tallyctl
   simulate` plays the reference night (5% corrections, 5% duplicates) at
   240x against the collectors' published ports, over TLS with the station
   token. Once half the party list's stations are counted, the leading
   replica's container is killed (`podman kill`: SIGKILL); another replica
   must lead, and the rest of the night complete through the collectors,
   which follow the new leader. Once every station is counted: every
   contest is final; the party list's votes are the official 2023 figures
   (deploy/elections/kz-2023.result.json) and its seats the official ones;
   `tallyctl verify` finds no difference on each running replica and their
   results are identical. The killed replica is started again: it catches
   up as a follower to the same results, with a clean verify. A watch
   through the relay ends complete; the gateway's JSON counts every
   station. The health checks pass again.
7. Down. `podman-compose stop`: every container exits 0 on SIGTERM. Then
   `down -v` and the project's network removed: nothing of it is left.

Services, health commands, regions, replicas and ports come from the
compose file, so services added to it need no change here.

Podman's storage, configuration and state live in STATE_DIR (default
BUILD_DIR/tests/containers): base images and build cache are kept between
runs, older unused images pruned. Cleanup runs in every case, SIGTERM,
SIGINT and SIGHUP included; what a run killed outright leaves behind, the
next run removes. The run directory (logs) is kept on failure.

Exit 77 with one "SKIP: reason" line where podman cannot run here: not
root, packages missing (scripts/install-deps.sh), namespaces refused.
"""

import argparse
import concurrent.futures
import copy
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from manifests_test import (  # noqa: E402
    DECOY_SECRETS, compose_duration_s, context_sources,
    dockerfile_instructions)

SKIP = 77
PROJECT_PREFIX = "tally-ct-"
PROJECT_LABEL = "io.podman.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# The 2023 Mazhilis party-list seats announced by the Central Election
# Commission (deploy/elections/README.md).
OFFICIAL_LIST_SEATS = {"amanat": 40, "auyl": 8, "respublica": 6,
                       "aq-jol": 6, "qhp": 5, "jsdp": 4, "baytaq": 0}
# A PEM private key: its header line, then (after the headers of an
# encrypted key, if any) base64. Searched in text files: a key file that
# leaked in is text, while libraries such as libgnutls embed the known
# keys of their self-tests.
PRIVATE_KEY_PEM = re.compile(
    rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----\r?\n"
    rb"(?:[A-Za-z-]+: [^\n]*\r?\n)*\r?\n?[A-Za-z0-9+/=]{16,}\r?\n")
SECRET_NAMES = re.compile(r"\.(key|token)$")


class Failure(Exception):
    pass


class Interrupted(Failure):
    pass


def say(text):
    print(f"containers_test: {text}", flush=True)


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


def on_signal(number, _frame):
    raise Interrupted(f"interrupted by signal {number}")


# ------------------------------------------------------------------ podman


class Podman:
    """podman and podman-compose on the test's own storage and settings."""

    def __init__(self, state_dir, run_dir):
        self.state_dir = state_dir
        self.run_dir = run_dir
        config = os.path.join(state_dir, "config")
        os.makedirs(config, exist_ok=True)
        files = {
            # Rootful overlay storage in the state directory, not
            # /var/lib/containers: the runs own everything in it.
            "storage.conf": "\n".join([
                "[storage]",
                'driver = "overlay"',
                f'graphroot = "{state_dir}/storage"',
                f'runroot = "{state_dir}/runroot"', ""]),
            # runc: crun refuses this machine's hybrid cgroups. Root may not
            # raise its limits here, so the containers' defaults stay under
            # them.
            "containers.conf": "\n".join([
                "[containers]",
                'default_ulimits = ["nofile=20000:20000", '
                '"nproc=32768:32768"]',
                "[engine]",
                'runtime = "runc"',
                f'tmp_dir = "{state_dir}/tmp"',
                # netavark with aardvark-dns: services reach each other
                # by name.
                "[network]",
                'network_backend = "netavark"',
                f'network_config_dir = "{state_dir}/networks"', ""]),
            # No registry: short names resolve to local images only and
            # Docker Hub is blocked, so a missing image fails loudly.
            "registries.conf": "\n".join([
                "unqualified-search-registries = []",
                "[[registry]]",
                'location = "docker.io"',
                "blocked = true", ""]),
        }
        for name, text in files.items():
            path = os.path.join(config, name)
            temporary = f"{path}.{os.getpid()}"
            with open(temporary, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temporary, path)
        self.env = dict(os.environ,
                        CONTAINERS_STORAGE_CONF=f"{config}/storage.conf",
                        CONTAINERS_CONF=f"{config}/containers.conf",
                        CONTAINERS_REGISTRIES_CONF=f"{config}/registries.conf")
        self.commands = open(os.path.join(run_dir, "commands.log"), "a",
                             encoding="utf-8")

    def run(self, argv, timeout, check=True, log=None, cwd=None):
        """Runs argv; output captured, or appended to run_dir/log. Raises
        Failure on a non-zero exit (with check) or on the timeout."""
        self.commands.write(shlex.join(argv) + "\n")
        self.commands.flush()
        log_path = os.path.join(self.run_dir, log) if log else None
        try:
            if log_path:
                with open(log_path, "a", encoding="utf-8") as out:
                    out.write(f"$ {shlex.join(argv)}\n")
                    out.flush()
                    done = subprocess.run(argv, stdout=out,
                                          stderr=subprocess.STDOUT,
                                          env=self.env, cwd=cwd,
                                          timeout=timeout, check=False)
            else:
                done = subprocess.run(argv, capture_output=True, text=True,
                                      env=self.env, cwd=cwd, timeout=timeout,
                                      check=False)
        except subprocess.TimeoutExpired as e:
            raise Failure(f"{shlex.join(argv[:4])} ...: no answer within "
                          f"{timeout} s") from e
        if check and done.returncode != 0:
            if log_path:
                detail = tail(log_path, 25)
            else:
                detail = (done.stderr or done.stdout or "").strip()[-3000:]
            raise Failure(f"{shlex.join(argv[:6])} exited "
                          f"{done.returncode}:\n{detail}")
        return done

    def output(self, argv, timeout=120):
        return self.run(argv, timeout).stdout

    def project_containers(self, project):
        """[{name, service, state, exit_code, ports}] of a compose project."""
        text = self.output(["podman", "ps", "-a", "--format", "json",
                            "--filter", f"label={PROJECT_LABEL}={project}"])
        containers = []
        for entry in json.loads(text or "[]"):
            labels = entry.get("Labels") or {}
            containers.append({
                "name": entry["Names"][0],
                "service": labels.get(SERVICE_LABEL),
                "state": entry.get("State"),
                "exit_code": entry.get("ExitCode"),
                "ports": entry.get("Ports") or [],
            })
        return containers

    def remove_project(self, project):
        """Forced removal of everything labelled with the project; returns
        what was removed."""
        removed = []
        label = f"label={PROJECT_LABEL}={project}"
        for kind, listing, removal in (
                ("container", ["podman", "ps", "-a", "--format",
                               "{{.Names}}", "--filter", label],
                 ["podman", "rm", "-f", "-t", "0"]),
                ("volume", ["podman", "volume", "ls", "--format",
                            "{{.Name}}", "--filter", label],
                 ["podman", "volume", "rm", "-f"]),
                ("network", ["podman", "network", "ls", "--format",
                             "{{.Name}}", "--filter", label],
                 ["podman", "network", "rm", "-f"])):
            names = self.run(listing, 120, check=False).stdout.split()
            if names:
                self.run(removal + names, 300, check=False)
                removed += [f"{kind} {name}" for name in names]
        return removed


def tail(path, lines):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


# -------------------------------------------------------- the compose file


def command_words(service):
    command = service.get("command") or []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(word) for word in command]


def flag_values(words):
    values = {}
    for word in words[1:]:
        if word.startswith("--") and "=" in word:
            name, value = word[2:].split("=", 1)
            values[name] = value
    return values


def listen_port(service):
    listen = flag_values(command_words(service)).get("listen", "")
    port = listen.rpartition(":")[2]
    return int(port) if port.isdigit() else None


def services_running(services, binary):
    return [name for name, service in services.items()
            if command_words(service)[:1] == [binary]]


class PortHold:
    """Keeps a stopped container's host ports from other processes.

    podman picks the host side of published ports from the ephemeral
    range, and conmon holds them (LISTEN) while the container runs. A
    killed container frees them; `podman start` later publishes the same
    ports again, DNAT rules included. Meanwhile bind(0) in a test running
    alongside could be handed one of them, and that test's clients would
    then be sent to the container. While held, each port is bound by a
    plain socket (no SO_REUSEADDR, not listening): bind(0) skips it and a
    connection to it is refused at once.
    """

    def __init__(self):
        self.sockets = []

    def hold(self, container, deadline_s=60):
        """Binds every host port of `container` once its conmon let go;
        returns the ports held."""
        held = []
        for entry in container["ports"]:
            host = entry.get("host_ip") or "0.0.0.0"
            port = int(entry["host_port"])
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            deadline = time.monotonic() + deadline_s
            while True:
                try:
                    probe.bind((host, port))
                    break
                except OSError as error:
                    if time.monotonic() > deadline:
                        probe.close()
                        raise Failure(
                            f"{container['name']}: host port {host}:{port} "
                            f"still taken {deadline_s} s after the kill: "
                            f"{error}")
                    time.sleep(0.1)
            self.sockets.append(probe)
            held.append(port)
        return held

    def release(self):
        for probe in self.sockets:
            probe.close()
        self.sockets = []


def any_host_port(port):
    """A compose port entry with the host port left to podman."""
    if isinstance(port, dict):
        chosen = {key: value for key, value in port.items()
                  if key != "published"}
        return chosen
    text = str(port)
    protocol = "tcp"
    if "/" in text:
        text, protocol = text.split("/", 1)
    parts = text.split(":")
    if "-" in parts[-1]:
        raise Failure(f"port range {port} is not supported by this test")
    chosen = {"target": int(parts[-1]), "protocol": protocol}
    if len(parts) == 3 and parts[0]:
        chosen["host_ip"] = parts[0]
    return chosen


def derived_compose(compose, compose_dir, run_dir, project):
    """The compose file as it runs here (see the module comment)."""
    derived = copy.deepcopy(compose)
    derived["name"] = project
    tls_dir = os.path.join(compose_dir, "tls")

    def host_path(source):
        path = os.path.normpath(os.path.join(compose_dir, source))
        if path == tls_dir or path.startswith(tls_dir + os.sep):
            return os.path.join(run_dir, "tls", os.path.relpath(path, tls_dir))
        return path

    for service in derived["services"].values():
        build = service.get("build")
        if build is not None:
            if isinstance(build, str):
                build = {"context": build}
            build["context"] = os.path.normpath(
                os.path.join(compose_dir, build.get("context", ".")))
            service["build"] = build
        if service.get("ports"):
            service["ports"] = [any_host_port(p) for p in service["ports"]]
        volumes = []
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("type") == "bind":
                volume = dict(volume, source=host_path(volume["source"]))
            elif isinstance(volume, str) and \
                    volume.startswith((".", "/", "~")):
                source, _, rest = volume.partition(":")
                volume = f"{host_path(os.path.expanduser(source))}:{rest}"
            volumes.append(volume)
        if volumes:
            service["volumes"] = volumes
    return derived


def health_checks(services):
    """service -> (argv to exec, deadline in s, timeout of one check in s)."""
    checks = {}
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        test = check.get("test")
        if check.get("disable") or not test:
            continue
        if isinstance(test, str):
            argv = ["/bin/sh", "-c", test]
        elif test[0] == "NONE":
            continue
        elif test[0] == "CMD":
            argv = [str(word) for word in test[1:]]
        elif test[0] == "CMD-SHELL":
            argv = ["/bin/sh", "-c", str(test[1])]
        else:
            raise Failure(f"service {name}: health check test {test[0]} "
                          "is neither CMD, CMD-SHELL nor NONE")
        start = compose_duration_s(check.get("start_period", "0s"))
        interval = compose_duration_s(check.get("interval", "30s"))
        timeout = compose_duration_s(check.get("timeout", "30s"))
        retries = int(check.get("retries", 3))
        # Generous: three times what Docker would wait before calling the
        # service unhealthy, and never under three minutes (the machine is
        # shared and busy).
        deadline = max(180.0, 3 * (start + interval * retries))
        checks[name] = (argv, deadline, timeout)
    return checks


# ---------------------------------------------------------------- the steps


def preconditions():
    if os.geteuid() != 0:
        skip(f"podman runs rootful here and needs root (running as uid "
             f"{os.geteuid()})")
    missing = [tool for tool in ("podman", "podman-compose", "runc",
                                 "mmdebstrap", "conmon")
               if shutil.which(tool) is None]
    missing += [os.path.basename(path) for path in
                ("/usr/lib/podman/netavark", "/usr/lib/podman/aardvark-dns")
                if not os.path.exists(path)]
    if missing:
        skip(f"{', '.join(missing)} not installed (scripts/install-deps.sh "
             "installs them)")
    probe = subprocess.run(["unshare", "--mount", "--uts", "--ipc", "--net",
                            "--pid", "--fork", "true"], capture_output=True,
                           text=True, check=False)
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["refused"])[-1]
        skip(f"cannot create the namespaces a container needs: {reason}")


def remove_stale_projects(podman):
    """Projects of earlier runs whose process is gone (killed outright)."""
    text = podman.output(["podman", "ps", "-a", "--format",
                          f'{{{{index .Labels "{PROJECT_LABEL}"}}}}'])
    text += podman.output(["podman", "network", "ls", "--format",
                           "{{.Name}}"])
    stale = set()
    for word in text.split():
        match = re.match(re.escape(PROJECT_PREFIX) + r"(\d+)", word)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            stale.add(match.group(0))
    for project in sorted(stale):
        removed = podman.remove_project(project)
        say(f"removed what a killed run left: {len(removed)} objects of "
            f"{project}")
    for image in podman.output(["podman", "images", "--format",
                                "{{.Repository}}"]).split():
        match = re.match(r"localhost/" + re.escape(PROJECT_PREFIX) +
                         r"(\d+)-", image)
        if match and not os.path.exists(f"/proc/{match.group(1)}"):
            podman.run(["podman", "rmi", "-f", image], 120, check=False)


def base_images(podman, dockerfile, run_dir):
    """Makes the Dockerfile's debian:12 bases unless the storage has them."""
    with open(dockerfile, encoding="utf-8") as f:
        instructions = dockerfile_instructions(f.read())
    stages, bases = set(), []
    for instruction, arguments in instructions:
        if instruction != "FROM":
            continue
        words = arguments.split()
        if words[0] not in stages and words[0] not in bases:
            bases.append(words[0])
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2])
    for base in bases:
        if not re.fullmatch(r"debian:12(-slim)?", base):
            raise Failure(f"FROM {base}: only debian:12 and debian:12-slim "
                          "are made here (there is no registry)")
    local = [f"localhost/{base}" for base in bases]
    absent = [name for name in local if podman.run(
        ["podman", "image", "exists", name], 60, check=False).returncode]
    if not absent:
        say(f"base images {', '.join(local)}: cached")
        return
    started = time.monotonic()
    tarball = os.path.join(run_dir, "debian-12-minbase.tar")
    # The machine's own Debian sources when they are bookworm's (mirror or
    # proxy as configured here); mmdebstrap's default mirror otherwise.
    sources = []
    for path in ("/etc/apt/sources.list.d/debian.sources",
                 "/etc/apt/sources.list"):
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                if "bookworm" in f.read():
                    sources = [path]
                    break
    podman.run(["mmdebstrap", "--variant=minbase", "--format=tar", "bookworm",
                tarball] + sources, 1200, log="base-image.log")
    podman.run(["podman", "import", "--change", 'CMD ["bash"]', tarball,
                absent[0]], 600, log="base-image.log")
    for name in absent[1:]:
        podman.run(["podman", "tag", absent[0], name], 60)
    os.remove(tarball)
    say(f"base images {', '.join(absent)}: made by mmdebstrap "
        f"--variant=minbase bookworm in {time.monotonic() - started:.0f} s")


def decoy_secrets():
    """Context path -> content of manifests_test.DECOY_SECRETS."""
    key = (b"-----BEGIN PRIVATE KEY-----\n"
           b"ZGVjb3kgb2YgY29udGFpbmVyc190ZXN0LnB5LCBub3QgYSBrZXk=\n"
           b"-----END PRIVATE KEY-----\n")
    token = b"decoy-station-token-of-containers_test.py\n"
    return {path: token if path.endswith(".token") else key
            for path in DECOY_SECRETS}


def scan_image(podman, image):
    """(layers, [finding]): every *.key or *.token file and every text file
    holding a PEM private key, in every layer of the image."""
    process = subprocess.Popen(
        ["podman", "image", "save", "--format", "docker-archive", image],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=podman.env)
    layers, findings = 0, []
    try:
        with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
            for member in archive:
                if not member.isfile() or not member.name.endswith(".tar"):
                    continue
                layers += 1
                with tarfile.open(fileobj=archive.extractfile(member),
                                  mode="r|") as layer:
                    for entry in layer:
                        name = entry.name
                        path = "/" + (name[2:] if name.startswith("./")
                                      else name.lstrip("/"))
                        if SECRET_NAMES.search(path):
                            findings.append(path)
                        elif entry.isfile():
                            content = layer.extractfile(entry).read()
                            if b"\0" not in content and \
                                    PRIVATE_KEY_PEM.search(content):
                                findings.append(path + " (PEM private key)")
    finally:
        process.stdout.close()
        stderr = process.stderr.read().decode(errors="replace")
        if process.wait(timeout=600) != 0:
            raise Failure(f"podman image save {image}: {stderr.strip()}")
    if layers == 0:
        raise Failure(f"podman image save {image}: no layer found")
    return layers, sorted(set(findings))


def check_build_context(podman, source, dockerfile, run_dir, base):
    """The repository's .dockerignore keeps every decoy secret out."""
    probe = os.path.join(run_dir, "probe-context")
    with open(dockerfile, encoding="utf-8") as f:
        copied = context_sources(dockerfile_instructions(f.read()))
    for path in copied:
        origin = os.path.join(source, path)
        target = os.path.join(probe, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(origin):
            shutil.copytree(origin, target, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, target)
    for path in (".git/HEAD", "tests/CMakeLists.txt", "docs/README.md"):
        os.makedirs(os.path.dirname(os.path.join(probe, path)), exist_ok=True)
        with open(os.path.join(probe, path), "w", encoding="utf-8") as f:
            f.write("not for the image\n")
    decoys = decoy_secrets()
    for path, content in decoys.items():
        os.makedirs(os.path.dirname(os.path.join(probe, path)), exist_ok=True)
        with open(os.path.join(probe, path), "wb") as f:
            f.write(content)
    shutil.copy2(os.path.join(source, ".dockerignore"),
                 os.path.join(probe, ".dockerignore"))
    containerfile = os.path.join(run_dir, "probe.Containerfile")
    with open(containerfile, "w", encoding="utf-8") as f:
        f.write(f"FROM {base}\nCOPY . /context\n")
    seen = {}
    for label in ("ignored", "control"):
        if label == "control":
            # The same context without ignore rules: every decoy must be
            # found, or the scan proves nothing.
            os.remove(os.path.join(probe, ".dockerignore"))
        image = f"localhost/{PROJECT_PREFIX}{os.getpid()}-probe-{label}"
        podman.run(["podman", "build", "--layers=false", "--pull=never",
                    "-t", image, "-f", containerfile, probe], 600,
                   log="probe-build.log")
        try:
            _, findings = scan_image(podman, image)
        finally:
            podman.run(["podman", "rmi", "-f", image], 120, check=False)
        seen[label] = {f.split(" ")[0][len("/context/"):] for f in findings
                       if f.startswith("/context/")}
    expected = set(decoys)
    if seen["control"] != expected:
        missed = sorted(expected - seen["control"])
        raise Failure("the scan does not see the decoys of a context without "
                      f"ignore rules: missed {missed}")
    if seen["ignored"]:
        raise Failure(".dockerignore lets secrets into the build context: "
                      f"{sorted(seen['ignored'])}")
    return len(expected)


def wait_running(podman, project, services, deadline_s):
    started = time.monotonic()
    while True:
        containers = podman.project_containers(project)
        by_service = {c["service"]: c for c in containers}
        missing = [s for s in services if s not in by_service]
        stopped = [s for s in services if s in by_service and
                   by_service[s]["state"] != "running"]
        if not missing and not stopped:
            return by_service
        if time.monotonic() - started > deadline_s:
            raise Failure(f"after {deadline_s:.0f} s: no container for "
                          f"{missing}, not running: {stopped}")
        time.sleep(2)


def exec_check(podman, container, argv, timeout):
    try:
        done = podman.run(["podman", "exec", container] + argv,
                          timeout + 60, check=False)
    except Failure as e:
        return False, str(e)
    return done.returncode == 0, (done.stdout + done.stderr).strip()[-300:]


def wait_healthy(podman, project, services, checks):
    """Every health command passes by podman exec; returns (passed, secs)."""
    started = time.monotonic()
    pending = dict(checks)
    last = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        while pending:
            containers = {c["service"]: c
                          for c in podman.project_containers(project)}
            down = [s for s in services if
                    containers.get(s, {}).get("state") != "running"]
            if down:
                raise Failure(f"not running any more: {down}")
            futures = {name: pool.submit(exec_check, podman,
                                         containers[name]["name"], argv,
                                         timeout)
                       for name, (argv, _, timeout) in pending.items()}
            for name, future in futures.items():
                healthy, detail = future.result()
                last[name] = detail
                if healthy:
                    del pending[name]
            elapsed = time.monotonic() - started
            late = [name for name in pending if elapsed > checks[name][1]]
            if late:
                raise Failure("unhealthy: " + "; ".join(
                    f"{name}: {shlex.join(checks[name][0])[:80]}... -> "
                    f"{last[name] or 'failed'}" for name in late))
            if pending:
                time.sleep(3)
    return len(checks), time.monotonic() - started


def published(container, port):
    """HOST:PORT podman bound for the container's port."""
    for entry in container["ports"]:
        if int(entry.get("container_port", 0)) == port:
            host = entry.get("host_ip") or "127.0.0.1"
            if host in ("0.0.0.0", "::"):
                host = "127.0.0.1"
            return f"{host}:{entry['host_port']}"
    raise Failure(f"{container['name']}: port {port} is not published")


def tallyctl(options, podman, args, timeout=120, log=None, check=True):
    argv = [options.tallyctl] + args
    return podman.run(argv, timeout, check=check, log=log)


def json_int(value):
    return int(value or 0)


def replica_roles(options, podman, addresses, ca):
    """`tallyctl replicas --json` over the replica list: (exit code,
    {replica id: status}, ["address: error" of each unreachable one])."""
    done = tallyctl(options, podman, ["replicas", "--aggregator",
                                      ",".join(addresses), "--json",
                                      "--timeout_ms", "3000"] + ca,
                    check=False)
    roles, unreachable = {}, []
    for line in done.stdout.splitlines():
        try:
            status = json.loads(line)
        except ValueError:
            continue
        if "error" in status:
            unreachable.append(f"{status.get('address')}: "
                               f"{status.get('error')}")
        else:
            roles[status.get("replica_id")] = status
    return done.returncode, roles, unreachable


def wait_one_leader(options, podman, addresses, ca, deadline_s, unlike=None,
                    followers=0):
    """Waits until `tallyctl replicas` exits 0 (exactly one LEADER among
    the addresses), the leader is not `unlike` and at least `followers`
    replicas are FOLLOWER; returns (leader id, roles, seconds)."""
    started = time.monotonic()
    while True:
        code, roles, unreachable = replica_roles(options, podman, addresses,
                                                 ca)
        leaders = [r for r, s in roles.items() if s.get("role") == "LEADER"]
        following = [r for r, s in roles.items()
                     if s.get("role") == "FOLLOWER"]
        if code == 0 and len(leaders) == 1 and leaders[0] != unlike and \
                len(following) >= followers:
            return leaders[0], roles, time.monotonic() - started
        if time.monotonic() - started > deadline_s:
            raise Failure(
                f"no single leader after {deadline_s:.0f} s (exit {code}): " +
                ", ".join(f"{r} {s.get('role')}" for r, s in roles.items()) +
                (f"; unreachable {unreachable}" if unreachable else ""))
        time.sleep(1)


def counted(options, podman, aggregator, ca, contest=None):
    """(entries of `tallyctl results --json`, the contests not yet final);
    ([], None) when no replica answers."""
    args = ["results", "--aggregator", aggregator, "--json"] + ca
    if contest:
        args += ["--contest", contest]
    done = tallyctl(options, podman, args, check=False)
    if done.returncode != 0:
        return [], None
    entries = json.loads(done.stdout).get("results") or []
    unfinished = [e["totals"]["contest_id"] for e in entries
                  if json_int(e["totals"].get("stations_reported")) !=
                  json_int(e["totals"].get("stations_expected")) or
                  (e.get("allocation") or {}).get("provisional")]
    return entries, unfinished


def same_results(options, podman, addresses, ca, deadline_s):
    """Waits until every replica of `addresses` answers `tallyctl results
    --json` with the same text (they apply the same log, so once caught up
    they hold the same revision and totals); returns that text."""
    started = time.monotonic()
    while True:
        answers = {}
        for address in addresses:
            done = tallyctl(options, podman, ["results", "--aggregator",
                                              address, "--json"] + ca,
                            check=False)
            answers[address] = done.stdout if done.returncode == 0 else None
        texts = set(answers.values())
        if len(texts) == 1 and None not in texts:
            return texts.pop()
        if time.monotonic() - started > deadline_s:
            raise Failure(f"replicas differ after {deadline_s:.0f} s: " +
                          ", ".join(f"{a}: {len(t) if t else 'no answer'} "
                                    "bytes" for a, t in answers.items()))
        time.sleep(2)


def verify_clean(options, podman, address, ca):
    done = tallyctl(options, podman, ["verify", "--aggregator", address,
                                      "--json"] + ca, timeout=600,
                    check=False)
    if done.returncode != 0:
        raise Failure(f"verify on {address} exited {done.returncode}: "
                      f"{(done.stdout + done.stderr)[-2000:]}")
    verify = json.loads(done.stdout)
    differences = verify.get("differences") or []
    if differences:
        raise Failure(f"verify on {address}: {len(differences)} differences")
    return verify


def check_night(options, podman, source, project, containers, services,
                checks, tls):
    """The night through the collectors with the leading replica killed
    halfway, then the results on every replica (see the module
    comment)."""
    port_hold = PortHold()
    try:
        return night_with_failover(options, podman, source, project,
                                   containers, services, checks, tls,
                                   port_hold)
    finally:
        port_hold.release()


def night_with_failover(options, podman, source, project, containers,
                        services, checks, tls, port_hold):
    """check_night's body; `port_hold` keeps the killed replica's host
    ports while it is down."""
    ca = ["--tls_ca", os.path.join(tls, "ca.pem")]
    # replica id -> (service, published address)
    replicas = {}
    for name in services_running(services, "tally-aggregator"):
        replica_id = flag_values(command_words(services[name])).get(
            "replica_id", name)
        replicas[replica_id] = (name, published(containers[name],
                                                listen_port(services[name])))
    addresses = [address for _, address in replicas.values()]
    collectors = services_running(services, "tally-collector")
    lines = []
    for name in collectors:
        region = flag_values(command_words(services[name]))["region"]
        address = published(containers[name], listen_port(services[name]))
        lines.append(f"{region}={address}")
    collectors_file = os.path.join(podman.run_dir, "collectors.txt")
    with open(collectors_file, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(source, "deploy/elections/kz-2023.result.json"),
              encoding="utf-8") as f:
        official = json.load(f)

    leader, roles, _ = wait_one_leader(options, podman, addresses, ca, 180,
                                       followers=len(replicas) - 1)
    say(f"replicas: {leader} leads, " + ", ".join(
        f"{r} {s.get('role')}" for r, s in sorted(roles.items())
        if r != leader))

    # The night at 240x (about a minute and a half of protocols; the
    # machine may take longer), so that the leader dies while collectors
    # are still sending.
    started = time.monotonic()
    simulate_log = os.path.join(podman.run_dir, "simulate.log")
    argv = [options.tallyctl, "simulate", "--collectors_file",
            collectors_file, "--speed", "240", "--corrections_percent", "5",
            "--duplicates_percent", "5", "--token_file",
            os.path.join(tls, "station-client.token")] + ca
    podman.commands.write(shlex.join(argv) + "\n")
    with open(simulate_log, "w", encoding="utf-8") as log:
        simulator = subprocess.Popen(argv, stdout=log,
                                     stderr=subprocess.STDOUT)
    try:
        # Half of the list's stations counted (or the night sent whole).
        half_deadline = time.monotonic() + 1200
        reported = expected = 0
        while simulator.poll() is None:
            entries, _ = counted(options, podman, ",".join(addresses), ca,
                                 official["contest_id"])
            if entries:
                totals = entries[0]["totals"]
                reported = json_int(totals.get("stations_reported"))
                expected = json_int(totals.get("stations_expected"))
                if expected and 2 * reported >= expected:
                    break
            if time.monotonic() > half_deadline:
                raise Failure("half the night not counted after 1200 s")
            time.sleep(1)
        if expected and reported >= expected:
            raise Failure("every list station was counted before the "
                          "leader could be killed: no failover mid-night")
        old, roles, _ = wait_one_leader(options, podman, addresses, ca, 120)
        old_revision = json_int(roles[old].get("applied_revision"))
        killed_service = replicas[old][0]
        killed_at = time.monotonic()
        podman.run(["podman", "kill", containers[killed_service]["name"]],
                   120, log="failover.log")
        held = port_hold.hold(containers[killed_service])
        podman.commands.write(f"# host ports {held} held while "
                              f"{killed_service} is down\n")
        sending = "while collectors still send" if simulator.poll() is None \
            else "after the last protocol was sent"
        say(f"killed the leader {old} ({killed_service}, SIGKILL) at "
            f"{reported} of {expected} list stations, revision "
            f"{old_revision}, {sending}")
        others = [a for r, (_, a) in replicas.items() if r != old]
        new, _, seconds = wait_one_leader(options, podman, others, ca, 180,
                                          unlike=old)
        say(f"failover: {new} leads {seconds:.1f} s after the kill (the "
            "others' view)")
        simulator.wait(timeout=max(60.0, 1500 - (time.monotonic() -
                                                 started)))
    except subprocess.TimeoutExpired as e:
        raise Failure("simulate did not finish within 1500 s") from e
    finally:
        if simulator.poll() is None:
            simulator.kill()
            simulator.wait()
    if simulator.returncode != 0:
        raise Failure(f"simulate exited {simulator.returncode}:\n"
                      f"{tail(simulate_log, 25)}")
    summary = [line for line in tail(simulate_log, 40).splitlines()
               if "rejected" in line]
    if not summary or not re.search(r"\b0 rejected", summary[-1]):
        raise Failure("simulate: protocols rejected: " +
                      (summary[-1] if summary else "no summary line"))
    say(f"night: {len(collectors)} collectors, {summary[-1].strip()} "
        f"in {time.monotonic() - started:.0f} s")

    # The collectors forward asynchronously: wait until all is counted.
    survivors = ",".join(others)
    deadline = time.monotonic() + 600
    while True:
        entries, unfinished = counted(options, podman, survivors, ca)
        if entries and not unfinished:
            break
        if time.monotonic() > deadline:
            raise Failure("not every station counted after 600 s: "
                          f"{(unfinished or [])[:5]}")
        time.sleep(2)
    say(f"the rest of the night counted {time.monotonic() - killed_at:.0f} "
        f"s after the kill, on {new}")

    stations = 0
    for entry in entries:
        totals, allocation = entry["totals"], entry.get("allocation") or {}
        contest = totals["contest_id"]
        if allocation.get("status") != "ALLOCATION_STATUS_ALLOCATED":
            raise Failure(f"{contest}: allocation {allocation.get('status')}")
        for choice in allocation.get("choices") or []:
            seats = json_int(choice.get("seats"))
            if json_int(choice.get("min_seats")) != seats or \
                    json_int(choice.get("max_seats")) != seats:
                raise Failure(f"{contest}: {choice.get('choice_id')} seat "
                              "bounds not collapsed on the final result")
        if contest != official["contest_id"]:
            continue
        stations = json_int(totals.get("stations_reported"))
        votes = {c["choice_id"]: json_int(c.get("votes"))
                 for c in totals.get("choices") or []}
        if votes != official["votes"]:
            raise Failure(f"{contest}: votes {votes}, officially "
                          f"{official['votes']}")
        for field in ("against_all", "invalid"):
            if json_int(totals.get(field)) != official[field]:
                raise Failure(f"{contest}: {field} {totals.get(field)}, "
                              f"officially {official[field]}")
        seats = {c["choice_id"]: json_int(c.get("seats"))
                 for c in allocation.get("choices") or []}
        if any(seats.get(k, 0) != OFFICIAL_LIST_SEATS.get(k, 0)
               for k in set(seats) | set(OFFICIAL_LIST_SEATS)):
            raise Failure(f"{contest}: seats {seats}, officially "
                          f"{OFFICIAL_LIST_SEATS}")
    if not stations:
        raise Failure(f"no result for {official['contest_id']}")
    say(f"results: {len(entries)} contests final, {stations} of {stations} "
        f"stations; {official['contest_id']} votes are the official 2023 "
        "figures, seats " + ", ".join(f"{k} {v}" for k, v in
                                      OFFICIAL_LIST_SEATS.items() if v))

    # Every running replica: a clean recount and the same results.
    for address in others:
        verify = verify_clean(options, podman, address, ca)
    final = same_results(options, podman, others, ca, 300)
    say(f"verify: 0 differences on each of the {len(others)} running "
        f"replicas ({json_int(verify.get('protocols_counted'))} protocols "
        f"recounted, {json_int(verify.get('totals_compared'))} totals "
        "compared); their results are identical")

    # The killed replica, started again, catches up as a follower.
    state = {c["service"]: c["state"]
             for c in podman.project_containers(project)}
    if state.get(killed_service) != "running":
        port_hold.release()
        podman.run(["podman", "start", containers[killed_service]["name"]],
                   120, log="failover.log")
    started = time.monotonic()
    wait_healthy(podman, project, [killed_service],
                 {killed_service: checks[killed_service]})
    if same_results(options, podman, addresses, ca, 600) != final:
        raise Failure("the results changed while the killed replica "
                      "caught up")
    leader, roles, _ = wait_one_leader(options, podman, addresses, ca, 180,
                                       followers=len(replicas) - 1)
    verify_clean(options, podman, replicas[old][1], ca)
    say(f"{old} started again: a follower of {leader} with the same results "
        f"and a clean verify {time.monotonic() - started:.0f} s later")

    for relay in services_running(services, "tally-relay"):
        address = published(containers[relay], listen_port(services[relay]))
        done = tallyctl(options, podman, [
            "watch", "--aggregator", address, "--until_complete", "--json"] +
            ca, timeout=300, check=False)
        if done.returncode != 0 or "snapshot_complete" not in done.stdout:
            raise Failure(f"watch through {relay} did not complete: "
                          f"{(done.stderr or done.stdout)[-1000:]}")
    for gateway in services_running(services, "tally-gateway"):
        address = published(containers[gateway],
                            listen_port(services[gateway]))
        url = (f"http://{address}/v1/results?contest="
               f"{official['contest_id']}&scope=national")
        with urllib.request.urlopen(url, timeout=60) as response:
            body = json.load(response)
        reported = json_int(body["results"][0]["totals"]["stations_reported"])
        if reported != stations:
            raise Failure(f"{gateway}: {reported} stations, not {stations}")
    say("relay and gateway: the watch ends complete, the gateway's JSON "
        f"counts {stations} stations")


def stop_and_down(podman, compose_args, project, services):
    started = time.monotonic()
    grace = max([compose_duration_s(s.get("stop_grace_period", "10s"))
                 for s in services.values()] + [10])
    podman.run(["podman-compose"] + compose_args +
               ["stop", "-t", str(int(grace))], 60 + grace * len(services),
               log="down.log")
    containers = podman.project_containers(project)
    unclean = [f"{c['service']} ({c['state']}, exit {c['exit_code']})"
               for c in containers
               if c["state"] != "exited" or c["exit_code"] != 0]
    if unclean:
        raise Failure(f"stop: not a clean exit on SIGTERM: {unclean}")
    podman.run(["podman-compose"] + compose_args +
               ["down", "-v", "-t", str(int(grace))], 600, log="down.log")
    # podman-compose 1.0.3 leaves the network it made.
    left = podman.remove_project(project)
    leftover = [item for item in left if not item.startswith("network ")]
    if leftover:
        raise Failure(f"down left {leftover}")
    say(f"stop and down: {len(containers)} containers exited 0 on SIGTERM; "
        "no container, volume or network of the project left "
        f"({time.monotonic() - started:.0f} s)")


def clean_up(podman, project, run_dir, passed, keep):
    """Removes what the run made (keeping its logs after a failure) and
    images no run uses any more; returns whether the run still passes."""
    try:
        if not passed:
            os.makedirs(os.path.join(run_dir, "logs"), exist_ok=True)
            for c in podman.project_containers(project):
                podman.run(["podman", "logs", c["name"]], 120, check=False,
                           log=f"logs/{c['service']}.log")
        removed = podman.remove_project(project)
        if removed and passed:
            print(f"FAILED: left after the run: {removed}", flush=True)
            passed = False
        # Earlier builds' images, once an hour old: never the layers of a
        # build running at the same time.
        podman.run(["podman", "image", "prune", "-f", "--filter",
                    "until=1h"], 600, check=False)
    except Failure as e:
        print(f"FAILED: cleanup: {e}", flush=True)
        passed = False
    if passed and not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    elif not passed:
        print(f"logs kept in {run_dir}", flush=True)
    return passed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--source", required=True, help="repository root")
    parser.add_argument("--build", required=True, help="build directory")
    parser.add_argument("--tallyctl", required=True, help="host tallyctl")
    parser.add_argument("--state_dir", help="podman storage and settings "
                        "(default BUILD/tests/containers)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the run directory after a pass")
    options = parser.parse_args()
    source = os.path.abspath(options.source)
    build = os.path.abspath(options.build)
    options.tallyctl = os.path.abspath(options.tallyctl)
    state_dir = os.path.abspath(options.state_dir or
                                os.path.join(build, "tests", "containers"))

    preconditions()
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(number, on_signal)
    # Heavy steps (mmdebstrap, the image build, 28 servers) share the
    # machine with others' builds: everything runs at a lower priority.
    os.nice(10)

    project = f"{PROJECT_PREFIX}{os.getpid()}"
    run_dir = os.path.join(state_dir, "runs", project)
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(run_dir)
    podman = Podman(state_dir, run_dir)
    compose_path = os.path.join(source, "deploy/compose/compose.yaml")
    dockerfile = os.path.join(source, "deploy/docker/Dockerfile")
    derived_path = os.path.join(run_dir, "compose.yaml")
    compose_args = ["-p", project, "-f", derived_path]
    started = time.monotonic()
    passed = False
    try:
        if not os.access(options.tallyctl, os.X_OK):
            raise Failure(f"no tallyctl at {options.tallyctl}")
        remove_stale_projects(podman)
        base_images(podman, dockerfile, run_dir)

        with open(compose_path, encoding="utf-8") as f:
            compose = yaml.safe_load(f)
        services = compose["services"]
        derived = derived_compose(compose, os.path.dirname(compose_path),
                                  run_dir, project)
        with open(derived_path, "w", encoding="utf-8") as f:
            yaml.safe_dump(derived, f, sort_keys=False)

        built = [name for name, s in services.items() if s.get("build")]
        step = time.monotonic()
        podman.run(["podman-compose"] + compose_args + ["build"] + built,
                   3600, log="build.log")
        images = sorted({services[name]["image"] for name in built})
        first_stage = [a.split()[2] for i, a in
                       dockerfile_instructions(open(dockerfile).read())
                       if i == "FROM" and len(a.split()) >= 3][0]
        builder = f"localhost/{PROJECT_PREFIX}builder:latest"
        podman.run(["podman", "build", "--pull=never", "--target",
                    first_stage, "-t", builder, "-f", dockerfile, source],
                   3600, log="build.log")
        say(f"image {', '.join(images)}: podman-compose build in "
            f"{time.monotonic() - step:.0f} s")

        step = time.monotonic()
        decoys = check_build_context(podman, source, dockerfile, run_dir,
                                     "localhost/debian:12-slim")
        scanned = []
        for image in images + [builder]:
            layers, findings = scan_image(podman, image)
            if findings:
                raise Failure(f"{image}: secrets in its layers: {findings}")
            scanned.append(f"{layers} of {image}")
        say(f"private keys: none of {decoys} decoy secrets enters the build "
            f"context (all do without .dockerignore); no key, token or PEM "
            f"private key in the layers ({', '.join(scanned)}) "
            f"({time.monotonic() - step:.0f} s)")

        tls = os.path.join(run_dir, "tls")
        regions = [flag_values(command_words(services[name]))["region"]
                   for name in services_running(services, "tally-collector")]
        podman.run([os.path.join(source, "deploy/tls/gen-dev-certs.sh"), tls]
                   + regions, 300, log="certificates.log")
        uid = [a.split(":")[0] for i, a in
               dockerfile_instructions(open(dockerfile).read())
               if i == "USER"][-1]
        for name in os.listdir(tls):
            if name.endswith(".key"):
                os.chown(os.path.join(tls, name), int(uid), -1)

        step = time.monotonic()
        podman.run(["podman-compose"] + compose_args + ["up", "-d"], 1200,
                   log="up.log")
        containers = wait_running(podman, project, list(services), 300)
        say(f"up: {len(containers)} of {len(services)} services running in "
            f"{time.monotonic() - step:.0f} s (project {project})")

        checks = health_checks(services)
        count, seconds = wait_healthy(podman, project, list(services), checks)
        unchecked = len(services) - count
        say(f"health: {count} of {count} compose health commands pass by "
            f"podman exec in {seconds:.0f} s" +
            (f" ({unchecked} services have none)" if unchecked else ""))

        check_night(options, podman, source, project, containers, services,
                    checks, tls)
        count, seconds = wait_healthy(podman, project, list(services), checks)
        say(f"health after the night: {count} of {count} pass")

        stop_and_down(podman, compose_args, project, services)
        passed = True
    except Failure as e:
        print(f"FAILED: {e}", flush=True)
    finally:
        for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(number, signal.SIG_IGN)
        passed = clean_up(podman, project, run_dir, passed, options.keep)
    if passed:
        say(f"passed in {time.monotonic() - started:.0f} s")
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main())
