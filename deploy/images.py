#!/usr/bin/env python3
"""Build the studio's container images with Docker or podman (`make images`).

    python3 deploy/images.py                 # single + app (+ the dev stand-ins when needed)
    python3 deploy/images.py worker          # the GPU worker (torch from PyPI, ~8 GB)
    python3 deploy/images.py --list          # what would be built, with which engine and base

- **Engine**: $STUDIO_CONTAINER_ENGINE (docker or podman), else Docker when its daemon
  answers, else podman. podman builds with `--format docker`: its default OCI format has no
  HEALTHCHECK, and podman would drop every one of them silently.
- **Base**: the Dockerfiles' pinned `python:3.11.14-slim-bookworm` when a registry serves it;
  where none answers (an offline or mirrored network), a local Debian bookworm base with
  Python 3.11 in a venv on PATH, made with debootstrap from Debian's mirror (root needed),
  with the host's extra CA certificates copied in for networks behind a TLS proxy. Every
  other layer comes from Debian's packages, PyPI and this repository.
- **Stand-ins** for the dev stack's service images (PostgreSQL, Redis, SeaweedFS) are built
  from that base when their upstream images cannot be pulled (deploy/dev/standins/).

Prints one line per image with its size and build time. Standard library only: it runs
before any venv exists.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON_IMAGE = "python:3.11.14-slim-bookworm"  # the Dockerfiles' default base
LOCAL_BASE = "localhost/ai-film-studio-base:bookworm-py3.11"
SUITE = "bookworm"
MIRROR = os.environ.get("STUDIO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get(
    "STUDIO_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security"
)
HOST_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PODMAN_CONF = ROOT / "build" / "containers.conf"
APT_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""


@dataclass(frozen=True)
class Image:
    name: str
    dockerfile: Path
    tag: str
    context: Path = ROOT


IMAGES = {
    "single": Image("single", ROOT / "deploy/Dockerfile.single", "ai-film-studio:dev"),
    "app": Image("app", ROOT / "deploy/Dockerfile.app", "ai-film-studio-app:dev"),
    "worker": Image("worker", ROOT / "deploy/Dockerfile.worker", "ai-film-studio-worker:dev"),
}
# Upstream image (as deploy/compose.yaml names it) → the stand-in built when it can't be pulled.
STANDINS = {
    "postgres": ("postgres:16.4-bookworm", "localhost/ai-film-studio-standin-postgres:16"),
    "redis": ("redis:7.4.1-bookworm", "localhost/ai-film-studio-standin-redis:7"),
    "seaweedfs": ("chrislusf/seaweedfs:4.48", "localhost/ai-film-studio-standin-seaweedfs:4.48"),
}
# The environment variables deploy/compose.yaml reads its service images from.
STANDIN_ENV = {"postgres": "STUDIO_POSTGRES_IMAGE", "redis": "STUDIO_REDIS_IMAGE"}
STANDIN_ENV["seaweedfs"] = "STUDIO_SEAWEEDFS_IMAGE"


class ImageError(RuntimeError):
    """A build could not start or failed; the message says what to do."""


@dataclass
class Engine:
    """A container engine's command line (docker or podman) and the environment it runs in."""

    name: str
    program: str
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def run(
        self, *args: str, capture: bool = False, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.program, *args],
            env=self.env,
            text=True,
            capture_output=capture,
            check=check,
            timeout=timeout,
        )

    def has_image(self, tag: str) -> bool:
        return self.run("image", "inspect", tag, capture=True, check=False).returncode == 0

    def pull(self, tag: str) -> bool:
        """True when a registry served the image (a failed pull costs seconds, not minutes)."""
        try:
            done = self.run("pull", "-q", tag, capture=True, check=False, timeout=300)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def size(self, tag: str) -> int:
        out = self.run("image", "inspect", "--format", "{{.Size}}", tag, capture=True).stdout
        return int(out.strip())

    def build(self, image: Image, base: str, *, quiet: bool = False) -> float:
        """Build `image` on `base`; the seconds it took."""
        args = ["build", "-f", str(image.dockerfile), "-t", image.tag]
        args += ["--build-arg", f"PYTHON_IMAGE={base}"]
        if self.name == "podman":
            # BuildKit finds <Dockerfile>.dockerignore by itself; buildah needs it named.
            ignore = image.dockerfile.with_name(image.dockerfile.name + ".dockerignore")
            args += ["--format", "docker"]
            if ignore.exists():
                args += ["--ignorefile", str(ignore)]
        if quiet:
            args.append("-q")
        started = time.monotonic()
        env = dict(self.env, DOCKER_BUILDKIT="1")
        done = subprocess.run(
            [self.program, *args, str(image.context)], env=env, text=True, capture_output=quiet
        )
        if done.returncode != 0:
            detail = f"\n{done.stdout[-3000:]}{done.stderr[-3000:]}" if quiet else ""
            raise ImageError(f"{self.name} build of {image.tag} failed{detail}")
        return time.monotonic() - started


def find_engine(name: str | None = None) -> Engine:
    """The engine to build with: `name`, $STUDIO_CONTAINER_ENGINE, a Docker daemon that
    answers, else podman."""
    wanted = name or os.environ.get("STUDIO_CONTAINER_ENGINE") or ""
    if wanted not in ("", "docker", "podman"):
        raise ImageError(f"Unknown container engine {wanted!r}: use docker or podman")
    if wanted in ("", "docker") and shutil.which("docker"):
        answers = subprocess.run(["docker", "info"], capture_output=True, check=False)
        if answers.returncode == 0:
            return Engine("docker", "docker")
        if wanted == "docker":
            raise ImageError("docker is installed but its daemon does not answer (docker info)")
    if wanted in ("", "podman") and shutil.which("podman"):
        return Engine("podman", "podman", podman_env())
    raise ImageError(
        "No container engine: install podman (Debian: apt-get install podman) or Docker"
    )


def podman_env() -> dict[str, str]:
    """The environment for podman, with a containers.conf for hosts it does not fit as is:
    inside a VM or container without CAP_SYS_RESOURCE, podman's default limits for root
    (1048576 open files and processes) cannot be set, and crun refuses cgroup v1 hierarchies
    mounted beside a systemd one, which runc handles."""
    env = dict(os.environ)
    if "CONTAINERS_CONF" in env:
        return env  # the operator's own
    lines: list[str] = []
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    procs = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    if os.geteuid() == 0 and 0 < files < 1048576:
        # Measured here: an nproc of 65536 under a hard limit of 96367 was refused, 32768 not.
        nproc = min(procs if procs > 0 else 32768, 32768)
        lines += [
            "[containers]",
            f'default_ulimits = ["nofile={files}:{files}", "nproc={nproc}:{nproc}"]',
        ]
    if not cgroup_v2_only() and shutil.which("runc"):
        lines += ["[engine]", 'runtime = "runc"']
    if lines:
        PODMAN_CONF.parent.mkdir(parents=True, exist_ok=True)
        PODMAN_CONF.write_text(
            "# Written by deploy/images.py for this host.\n" + "\n".join(lines) + "\n"
        )
        env["CONTAINERS_CONF"] = str(PODMAN_CONF)
    return env


def cgroup_v2_only() -> bool:
    mounts = Path("/proc/self/mounts").read_text() if Path("/proc/self/mounts").exists() else ""
    return any(line.split()[1:3] == ["/sys/fs/cgroup", "cgroup2"] for line in mounts.splitlines())


# ---------------------------------------------------------------------------- the base


def choose_base(engine: Engine, refresh: bool = False) -> str:
    """The Dockerfiles' pinned base when a registry serves it, else the local Debian base."""
    if engine.has_image(PYTHON_IMAGE) or engine.pull(PYTHON_IMAGE):
        return PYTHON_IMAGE
    if refresh or not engine.has_image(LOCAL_BASE):
        print(f"No registry serves {PYTHON_IMAGE}: making {LOCAL_BASE} with debootstrap")
        make_local_base(engine)
    return LOCAL_BASE


def pem_blocks(text: str) -> list[str]:
    pattern = r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----"
    return re.findall(pattern, text, flags=re.S)


def extra_certificates(host_bundle: str, base_bundle: str) -> list[str]:
    """The host's CA certificates that Debian's ca-certificates does not carry (a proxy's
    own CA, a company's): without them pip and apt in a build fail on every TLS handshake."""
    known = {"".join(block.split()) for block in pem_blocks(base_bundle)}
    return [block for block in pem_blocks(host_bundle) if "".join(block.split()) not in known]


def make_local_base(engine: Engine) -> None:
    if os.geteuid() != 0 or not shutil.which("debootstrap"):
        raise ImageError(
            f"No registry serves {PYTHON_IMAGE} and the local base needs debootstrap as root "
            "(Debian: apt-get install debootstrap); or pull or load that image yourself"
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="studio-base-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        include = "python3,python3-venv,ca-certificates"
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={include}",
                SUITE,
                str(rootfs),
                MIRROR,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (rootfs / "etc/apt/sources.list").write_text(
            f"deb {MIRROR} {SUITE} main\n"
            f"deb {MIRROR} {SUITE}-updates main\n"
            f"deb {SECURITY_MIRROR} {SUITE}-security main\n"
        )
        # As in Debian's official images: apt keeps no package caches (about 90 MB per
        # `apt-get update` layer otherwise, in every image built on this base).
        (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
        bundle = rootfs / "etc/ssl/certs/ca-certificates.crt"
        extras = []
        if HOST_BUNDLE.exists() and bundle.exists():
            extras = extra_certificates(HOST_BUNDLE.read_text(), bundle.read_text())
        for number, block in enumerate(extras):
            (rootfs / f"usr/local/share/ca-certificates/host-{number}.crt").write_text(block + "\n")
        chroot = ["chroot", str(rootfs)]
        if extras:
            subprocess.run(
                [*chroot, "update-ca-certificates"], check=True, stdout=subprocess.DEVNULL
            )
        subprocess.run([*chroot, "python3", "-m", "venv", "/opt/venv"], check=True)
        for junk in ("var/lib/apt/lists", "var/cache/apt/archives", "var/cache/apt"):
            for path in (rootfs / junk).glob("*"):
                if path.is_file():
                    path.unlink()
        changes = [
            "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            # pip's own certificate bundle would not hold the host's extra CAs.
            "ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt",
            "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
            'CMD ["python"]',
        ]
        args = ["import"] + [f"--change={change}" for change in changes] + ["-", LOCAL_BASE]
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            [engine.program, *args],
            stdin=tar.stdout,
            env=engine.env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if tar.wait() != 0:
            raise ImageError("tar of the debootstrap tree failed")
    took = time.monotonic() - started
    print(
        f"base {LOCAL_BASE}: {megabytes(engine.size(LOCAL_BASE))} MB in {took:.0f} s "
        f"({len(extras)} extra CA certificate(s) from this host)"
    )


# ---------------------------------------------------------------------------- stand-ins


def standin_images(engine: Engine, base: str) -> dict[str, str]:
    """For each dev-stack service, the image to run: upstream when it can be pulled, else a
    stand-in built from `base` (environment variable → image, for `compose`)."""
    chosen: dict[str, str] = {}
    for service, (upstream, standin) in STANDINS.items():
        if engine.has_image(upstream) or engine.pull(upstream):
            chosen[STANDIN_ENV[service]] = upstream
            continue
        containerfile = ROOT / "deploy/dev/standins" / f"Containerfile.{service}"
        image = Image(f"stand-in {service}", containerfile, standin, containerfile.parent)
        took = engine.build(image, base, quiet=True)
        print(
            f"built {standin} (stand-in for {upstream}): "
            f"{megabytes(engine.size(standin))} MB in {took:.0f} s"
        )
        chosen[STANDIN_ENV[service]] = standin
    return chosen


# ---------------------------------------------------------------------------- main


def megabytes(size: int) -> int:
    return round(size / 1e6)


def build_images(engine: Engine, names: list[str], base: str) -> None:
    for name in names:
        image = IMAGES[name]
        took = engine.build(image, base)
        print(
            f"built {image.tag} with {engine.name} on {base}: "
            f"{megabytes(engine.size(image.tag))} MB in {took:.0f} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "images", nargs="*", help="single, app, worker, standins (default: single app)"
    )
    parser.add_argument("--engine", choices=["docker", "podman"], help="default: auto")
    parser.add_argument(
        "--refresh-base", action="store_true", help="remake the local Debian base even if it exists"
    )
    parser.add_argument(
        "--list", action="store_true", help="say what would be built, build nothing"
    )
    args = parser.parse_args(argv)
    names = args.images or ["single", "app"]
    unknown = sorted(set(names) - {*IMAGES, "standins"})
    if unknown:
        parser.error(
            f"unknown image(s) {', '.join(unknown)}: choose from {', '.join(IMAGES)}, standins"
        )
    try:
        engine = find_engine(args.engine)
        if args.list:
            print(f"engine: {engine.name}; images: {', '.join(names)}")
            return 0
        base = choose_base(engine, args.refresh_base)
        build_images(engine, [n for n in names if n in IMAGES], base)
        if "standins" in names:
            for variable, image in standin_images(engine, base).items():
                print(f"{variable}={image}")
    except (ImageError, subprocess.CalledProcessError) as error:
        print(f"images: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
