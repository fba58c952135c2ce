"""Docker images without a registry: the mleray base image and agent images built FROM it.

The base image is a Debian bookworm root filesystem made by `debootstrap --variant=minbase`
(python3, numpy, pandas, scikit-learn) and `docker import`ed, because no image registry is
reachable here. Its tag is `mleray-base:<hash>` of its inputs (package list + build script),
so editing either builds a new image and an existing tag is never rebuilt. Agent images
(`mleray-agent-<name>:<hash>`) are built FROM it with the classic builder; their hash covers
the agent folder and the base tag (`image_tag`).

CA bundle option: pip inside a container reaches PyPI only through a TLS proxy whose CA the
host trusts. With `ca_bundle` (or env MLERAY_CA_BUNDLE; else the host's PIP_CERT,
REQUESTS_CA_BUNDLE or SSL_CERT_FILE, when one names a file) set, that bundle is copied into the
agent's build context as `mleray-ca.crt` and passed as build arg `CA_BUNDLE=mleray-ca.crt`;
Dockerfiles that need pip (aideml) use it. It never changes the image tag.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mleray.agents import AgentConfig, list_agents
from mleray.errors import MlerayError, SandboxUnavailableError, SpecError
from mleray.sandbox import mlebench_images

IMAGE_DIR = Path(__file__).parent / "image"
PACKAGES_FILE = IMAGE_DIR / "packages.txt"
ROOTFS_SCRIPT = IMAGE_DIR / "build-rootfs.sh"
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_REPOSITORY = "mleray-base"
CA_BUNDLE_NAME = "mleray-ca.crt"
HOST_CA_ENV = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")  # where no bundle is named
OPTIONAL_AGENTS = frozenset({"aideml"})  # need the network at build time: built only on request
_HASH_SKIP = {"__pycache__", ".git", ".pytest_cache"}  # never part of an agent image tag

# Applied at `docker import`: the image's defaults when run without mleray's settings.
_IMPORT_CHANGES = [
    "ENV PATH=/opt/mleray/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LANG=C.UTF-8",
    "ENV PYTHONUNBUFFERED=1",
    "WORKDIR /home/agent",
    "USER agent",
    'CMD ["/bin/bash"]',
]


class ImageBuildError(MlerayError):
    """Building an image failed; the message names the image and the failing step."""


class ImageMissingError(MlerayError):
    """An agent's image is not on this engine and mleray cannot build it (a prebuilt
    `image:`, or building was turned off)."""


Progress = Callable[[str], None]  # one line of build output at a time


def stderr_progress(line: str) -> None:
    print(f"mleray: {line}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class BuildOutcome:
    tag: str
    built: bool  # False: the tag existed and was kept


def base_packages() -> list[str]:
    lines = PACKAGES_FILE.read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def base_image_tag() -> str:
    digest = hashlib.sha256()
    digest.update(SUITE.encode())
    digest.update(PACKAGES_FILE.read_bytes())
    digest.update(ROOTFS_SCRIPT.read_bytes())
    digest.update("\n".join(_IMPORT_CHANGES).encode())
    return f"{BASE_REPOSITORY}:{digest.hexdigest()[:12]}"


def folder_digest(folder: Path) -> str:
    """sha256 over the relative paths and bytes of a folder's files (caches skipped)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if (
            any(part in _HASH_SKIP for part in rel.parts)
            or path.suffix == ".pyc"
            or not path.is_file()
        ):
            continue
        digest.update(str(rel.as_posix()).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def image_tag(agent: AgentConfig, base_tag: str | None = None) -> str:
    """The agent's image: its prebuilt `image`, or `mleray-agent-<name>:<hash>` of the agent
    folder's contents and the base image tag it is built FROM."""
    if agent.image and not agent.dockerfile:
        return agent.image
    if agent.mlebench is not None:  # MLE-bench's recipe: FROM mlebench-env or in its place
        return mlebench_images.tag_for(agent, _mlebench_builder())
    if base_tag is None:
        base_tag = base_image_tag()
    digest = hashlib.sha256((folder_digest(agent.dir) + base_tag).encode()).hexdigest()[:12]
    return f"mleray-agent-{agent.name}:{digest}"


def apt_mirror(sources_dir: Path = Path("/etc/apt")) -> str:
    """The Debian mirror from this machine's apt sources (deb822 or one-line format)."""
    candidates = sorted((sources_dir / "sources.list.d").glob("*.sources"))
    for path in candidates:
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    for path in [
        sources_dir / "sources.list",
        *sorted((sources_dir / "sources.list.d").glob("*.list")),
    ]:
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "deb" and "security" not in line:
                return next(p for p in parts[1:] if "://" in p)
    return DEFAULT_MIRROR


def docker_client():
    import docker

    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        raise SandboxUnavailableError(
            f"no Docker engine answers ({type(exc).__name__}): run scripts/setup-docker.sh"
        ) from exc
    return client


def image_exists(client, tag: str) -> bool:
    import docker

    try:
        client.images.get(tag)
        return True
    except docker.errors.ImageNotFound:
        return False


def build_base_image(
    client=None, force: bool = False, mirror: str | None = None, progress: Progress | None = None
) -> BuildOutcome:
    """Debootstrap the base root filesystem and import it, unless its tag exists."""
    client = client or docker_client()
    tag = base_image_tag()
    if not force and image_exists(client, tag):
        return BuildOutcome(tag, built=False)
    if progress:
        progress(f"building the base image {tag} (debootstrap: a few minutes, once per node)")
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(
            f"cannot build {tag}: debootstrap is missing (run scripts/setup-docker.sh)"
        )
    if os.geteuid() != 0:
        raise ImageBuildError(f"cannot build {tag}: debootstrap needs root")
    with tempfile.TemporaryDirectory(prefix="mleray-base-") as tmp:
        tar_path = Path(tmp) / "rootfs.tar"
        cmd = [
            "sh",
            str(ROOTFS_SCRIPT),
            str(tar_path),
            mirror or apt_mirror(),
            SUITE,
            *base_packages(),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ImageBuildError(f"building {tag} failed in {ROOTFS_SCRIPT.name}: {tail[0]}")
        repository, version = tag.split(":")
        client.api.import_image_from_file(
            str(tar_path), repository=repository, tag=version, changes=_IMPORT_CHANGES
        )
    if not image_exists(client, tag):
        raise ImageBuildError(f"docker import did not produce {tag}")
    return BuildOutcome(tag, built=True)


def ca_bundle_path(ca_bundle: str | os.PathLike | None = None) -> Path | None:
    """The bundle builds trust: the one given, else MLERAY_CA_BUNDLE, else the host's own
    (the first of PIP_CERT, REQUESTS_CA_BUNDLE, SSL_CERT_FILE naming a file), so a machine
    whose TLS passes a proxy builds pip-installing images without options."""
    value = ca_bundle or os.environ.get("MLERAY_CA_BUNDLE")
    if not value:
        host = (os.environ.get(name) for name in HOST_CA_ENV)
        return next((Path(v) for v in host if v and Path(v).is_file()), None)
    path = Path(value)
    if not path.is_file():
        raise SpecError(f"CA bundle {path} (MLERAY_CA_BUNDLE) is not a file")
    return path


def missing_image_message(tag: str, agent: AgentConfig) -> str:
    if agent.image and not agent.dockerfile:  # nothing mleray could build
        return (
            f"agent {agent.name} uses the prebuilt image {tag} (field 'image'), which is not "
            f"on this node: docker pull {tag} (or docker load)"
        )
    return (
        f"image {tag} for agent {agent.name} is not built: run `mleray agents build {agent.name}`"
    )


def ensure_agent_image(
    agent: AgentConfig, client, build: bool = True, progress: Progress | None = None
) -> str:
    """The agent's image tag, built on this node when it is missing (and its base image):
    under a per-node lock per tag, so concurrent runs build each content hash once and the
    others wait for it. `ImageMissingError` for a prebuilt image that is not here (or with
    `build` off), `ImageBuildError` when the build fails."""
    tag = image_tag(agent)
    if image_exists(client, tag):
        return tag
    if not build or (agent.image and not agent.dockerfile):
        raise ImageMissingError(missing_image_message(tag, agent))
    with _build_lock(base_image_tag()):
        build_base_image(client, progress=progress)
    with _build_lock(tag):
        build_agent_image(agent, client, progress=progress)
    return tag


@contextlib.contextmanager
def _build_lock(tag: str) -> Iterator[None]:
    """An exclusive lock on this node (its temporary folder) for building `tag`."""
    folder = Path(tempfile.gettempdir()) / "mleray-image-locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("".join(c if c.isalnum() or c in "_.-" else "-" for c in tag) + ".lock")
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def build_agent_image(
    agent: AgentConfig,
    client=None,
    force: bool = False,
    ca_bundle: str | os.PathLike | None = None,
    progress: Progress | None = None,
) -> BuildOutcome:
    """Build `agent`'s image FROM the base image (building that first if needed)."""
    client = client or docker_client()
    if agent.mlebench is not None:
        return mlebench_images.build(agent, client, force, progress, _mlebench_builder())
    if agent.image and not agent.dockerfile:  # a prebuilt image: nothing to build, only to check
        if not image_exists(client, agent.image):
            raise ImageBuildError(missing_image_message(agent.image, agent))
        return BuildOutcome(agent.image, built=False)
    base = build_base_image(client, progress=progress).tag
    tag = image_tag(agent)
    if not force and image_exists(client, tag):
        return BuildOutcome(tag, built=False)
    if progress:
        progress(f"building image {tag} for agent {agent.name} from {agent.dir}")
    bundle = ca_bundle_path(ca_bundle)
    with tempfile.TemporaryDirectory(prefix=f"mleray-build-{agent.name}-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(
            agent.dir,
            context,
            symlinks=False,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
        buildargs = {"BASE_IMAGE": base}
        if bundle is not None:
            shutil.copyfile(bundle, context / CA_BUNDLE_NAME)
            buildargs["CA_BUNDLE"] = CA_BUNDLE_NAME
        _classic_build(client, context, agent, tag, buildargs, progress)
    if progress:
        progress(f"built image {tag}")
    return BuildOutcome(tag, built=True)


def _classic_build(
    client, context: Path, agent: AgentConfig, tag: str, buildargs: dict, progress: Progress | None
) -> None:
    """The classic builder's output streamed, line by line, to `progress`."""
    import docker

    last = ""
    try:
        for chunk in client.api.build(
            path=str(context),
            dockerfile=agent.dockerfile,
            tag=tag,
            buildargs=buildargs,
            rm=True,
            forcerm=True,
            labels={"mleray.agent": agent.name},
            decode=True,
        ):
            if "error" in chunk:
                detail = str(chunk["error"]).strip() or last
                raise ImageBuildError(
                    f"building {tag} from {agent.dir / agent.dockerfile} failed: {detail}"
                )
            for line in str(chunk.get("stream", "")).splitlines():
                if line.strip():
                    last = line.strip()
                    if progress:
                        progress(last)
    except docker.errors.APIError as exc:
        raise ImageBuildError(
            f"building {tag} for agent {agent.name}: {exc.explanation or exc}"
        ) from exc
    if not image_exists(client, tag):
        raise ImageBuildError(f"building {tag} from {agent.dir / agent.dockerfile} failed: {last}")


def _mlebench_builder() -> mlebench_images.Builder:
    """What the MLE-bench recipe builds with (it cannot import this module)."""
    blocks = (base_image_tag, build_base_image, folder_digest, _classic_build, BuildOutcome)
    return mlebench_images.Builder(*blocks, error=ImageBuildError)


def build_all(
    force: bool = False, include_optional: bool = False, ca_bundle: str | os.PathLike | None = None
) -> list[BuildOutcome]:
    """Build the base image and every built-in agent image (aideml only when asked)."""
    client = docker_client()
    outcomes = [build_base_image(client, force=force)]
    for agent in list_agents():
        if agent.mlebench is not None:  # MLE-bench's agents: built when asked for or run
            continue
        if agent.name in OPTIONAL_AGENTS and not include_optional:
            continue
        outcomes.append(build_agent_image(agent, client, force=force, ca_bundle=ca_bundle))
    return outcomes


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m mleray.sandbox.images", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--base-only", action="store_true", help="build only the base image")
    parser.add_argument("--force", action="store_true", help="rebuild even when the tag exists")
    parser.add_argument(
        "--with-optional", action="store_true", help="also build aideml (needs network + CA bundle)"
    )
    parser.add_argument(
        "--ca-bundle", default=None, help="CA bundle to trust inside builds (or MLERAY_CA_BUNDLE)"
    )
    args = parser.parse_args(argv)
    try:
        if args.base_only:
            outcomes = [build_base_image(force=args.force)]
        else:
            outcomes = build_all(args.force, args.with_optional, args.ca_bundle)
    except MlerayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for outcome in outcomes:
        print(f"{'built' if outcome.built else 'exists'} {outcome.tag}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
