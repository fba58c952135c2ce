"""The recipe for images of MLE-bench agents (`mleray.sandbox.images` builds them).

An MLE-bench agent's Dockerfile starts `FROM mlebench-env`, the image MLE-bench builds from
its `environment/Dockerfile` (conda, an `agent` env, a root entrypoint that starts its
grading server). The image used in its place:
  1. env MLERAY_MLEBENCH_BASE, when set: an image the user names (it must exist);
  2. `mlebench-env`, where the user has built it;
  3. else mleray's own base image (Debian, python3 with numpy/pandas/scikit-learn, no
     conda): it works for agents whose Dockerfile and start script need no conda.

The Dockerfile is built as MLE-bench builds it (the agent's folder as the context, build
args SUBMISSION_DIR, LOGS_DIR, CODE_DIR, AGENT_DIR), from a copy in which:
  - each `FROM mlebench-env` names the chosen base, followed by `USER root`, `WORKDIR /home`
    and the removal of empty /home/logs, /home/code and /home/agent folders (mlebench-env
    builds as root in /home and has none of them yet, so Dockerfiles `mkdir` them without
    -p);
  - at the end, what MLE-bench's entrypoint does at container start is done at build time
    (mleray starts no root process): /home and all in it made readable and writable by
    all (MLE-bench's `chmod a+rw`, /home/data left out), HOME (/home/nonroot) owned by uid
    1000; and the entrypoint is cleared (mlebench-env's would start its grading server).
The tag `mleray-mlebench-<folder>:<hash>` hashes the folder, the recipe, and the base (its
name, and its image id when it is not mleray's own hash-tagged base): ids of one folder
share one image, as in MLE-bench, and a rebuilt mlebench-env builds anew.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from mleray.agent_config import AgentConfig
from mleray.sandbox.mlebench_contract import CONTAINER_PATHS, HOME

MLEBENCH_IMAGE = "mlebench-env"
BASE_ENV = "MLERAY_MLEBENCH_BASE"
DOCKERFILE_NAME = ".mleray-mlebench.Dockerfile"  # the rewritten copy, in the build context
BUILD_ARGS = {
    "SUBMISSION_DIR": CONTAINER_PATHS.submission,
    "LOGS_DIR": CONTAINER_PATHS.logs,
    "CODE_DIR": CONTAINER_PATHS.code,
    "AGENT_DIR": CONTAINER_PATHS.agent_dir,
}
_FROM = re.compile(
    r"^(?P<head>[ \t]*FROM[ \t]+(?:--\S+[ \t]+)*)"  # FROM [--platform=...]
    r"(?P<image>mlebench-env(?::latest)?)(?P<tail>[ \t].*)?$",  # [AS name]
    re.IGNORECASE | re.MULTILINE,
)
AFTER_FROM = (
    "USER root",
    "WORKDIR /home",  # mlebench-env's; a base's own (mleray's: /home/agent) would come back
    "RUN rmdir /home/logs /home/code /home/agent 2>/dev/null; true",
)
AT_END = (
    "USER root",
    f"RUN mkdir -p {HOME} && chown 1000:1000 {HOME} && "
    "find /home -path /home/data -prune -o -exec chmod a+rwX {} +",
    "ENTRYPOINT []",
)


@dataclass(frozen=True)
class Builder:
    """The building blocks `mleray.sandbox.images` lends this recipe (it dispatches MLE-bench
    agents here, so this module cannot import it)."""

    base_tag: Callable[[], str]  # mleray's base image tag
    build_base: Callable[..., object]  # build_base_image(client, progress=...)
    digest: Callable[[Path], str]  # folder_digest(folder)
    build: Callable[..., None]  # _classic_build(client, context, agent, tag, buildargs, progress)
    outcome: Callable[[str, bool], object]  # BuildOutcome(tag, built)
    error: type[Exception]  # ImageBuildError


def tag_for(agent: AgentConfig, builder: Builder, client=None) -> str:
    """The agent's image tag (asking the engine which base is there)."""
    client = client if client is not None else _engine_or_none()
    return image_tag(agent, builder.digest(agent.dir), base_for(client, builder.base_tag()))


def build(agent: AgentConfig, client, force: bool, progress, builder: Builder):
    """Build the agent's Dockerfile as MLE-bench builds it, FROM the chosen base."""
    base, base_id = base_for(client, builder.base_tag())
    if base == builder.base_tag():
        builder.build_base(client, progress=progress)
    elif not base_id:
        raise builder.error(
            f"agent {agent.name} builds FROM {base} (env {BASE_ENV}), which is not on this "
            "engine: build or pull it first"
        )
    tag = image_tag(agent, builder.digest(agent.dir), (base, base_id))
    if not force and image_exists_id(client, tag):
        return builder.outcome(tag, False)
    if progress:
        progress(f"building image {tag} for MLE-bench agent {agent.name} FROM {base}")
    with tempfile.TemporaryDirectory(prefix="mleray-build-mlebench-") as tmp:
        context = Path(tmp) / "context"
        skip = shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(agent.dir, context, symlinks=False, ignore=skip)
        rewritten = replace(agent, dockerfile=prepare_context(agent, context, base))
        builder.build(client, context, rewritten, tag, dict(BUILD_ARGS), progress)
    return builder.outcome(tag, True)


def _engine_or_none():
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except Exception:  # any failure to reach the engine: tagged as if mlebench-env were absent
        return None


def image_exists_id(client, tag: str) -> str:
    """The image id of `tag` on the engine, or "" (absent, or no engine)."""
    if client is None:
        return ""
    import docker

    try:
        return client.images.get(tag).id
    except docker.errors.ImageNotFound:
        return ""


def base_for(client, default_base: str) -> tuple[str, str]:
    """(the image to build FROM in place of mlebench-env, its image id or "")."""
    named = os.environ.get(BASE_ENV, "").strip()
    if named:
        return named, image_exists_id(client, named)
    found = image_exists_id(client, MLEBENCH_IMAGE)
    if found:
        return MLEBENCH_IMAGE, found
    return default_base, ""


def image_tag(agent: AgentConfig, folder_digest: str, base: tuple[str, str]) -> str:
    """`mleray-mlebench-<folder>:<hash>`; `base` is what `base_for` chose."""
    recipe = json.dumps([AFTER_FROM, AT_END, BUILD_ARGS, DOCKERFILE_NAME], sort_keys=True)
    digest = hashlib.sha256()
    for part in (folder_digest, agent.dockerfile or "", base[0], base[1], recipe):
        digest.update(part.encode() + b"\0")
    slug = re.sub(r"[^a-z0-9_.-]+", "-", agent.dir.name.lower()).strip("-.") or "agent"
    return f"mleray-mlebench-{slug[:40]}:{digest.hexdigest()[:12]}"


def rewrite_dockerfile(text: str, base: str) -> str:
    """The Dockerfile with `FROM mlebench-env` building FROM `base`, and the steps above."""

    def from_base(match: re.Match) -> str:
        line = f"{match['head']}{base}{match['tail'] or ''}"
        return "\n".join((line, *AFTER_FROM))

    rewritten = _FROM.sub(from_base, text)
    return (
        rewritten.rstrip("\n")
        + "\n\n# added by mleray (mleray.sandbox.mlebench_images)\n"
        + ("\n".join(AT_END) + "\n")
    )


def prepare_context(agent: AgentConfig, context: Path, base: str) -> str:
    """Write the rewritten Dockerfile into the build context (a copy of the agent's folder);
    its name there. It is listed in .dockerignore (the engine still reads it, then drops it
    from the context), so `COPY . $AGENT_DIR` copies the agent's folder as it is."""
    original = (context / (agent.dockerfile or "Dockerfile")).read_text()
    (context / DOCKERFILE_NAME).write_text(rewrite_dockerfile(original, base))
    ignore = context / ".dockerignore"
    if ignore.is_file():
        ignore.write_text(ignore.read_text().rstrip("\n") + f"\n{DOCKERFILE_NAME}\n")
    else:  # a new .dockerignore names itself too, so no file appears that is not the agent's
        ignore.write_text(f"{DOCKERFILE_NAME}\n.dockerignore\n")
    return DOCKERFILE_NAME
