"""The image recipe of MLE-bench-format agents, without Docker: their Dockerfile built FROM
mlebench-env where it exists, else a base the user names or mleray's own, as mlebench-env
would build it; tags that hash the folder, the recipe and the base."""

from __future__ import annotations

from pathlib import Path

import pytest

from mleray.agents import get_agent
from mleray.sandbox import mlebench_images

FORMAT_DIR = Path(__file__).resolve().parent / "agents" / "mlebench-format"


DOCKERFILE = """\
# syntax=docker/dockerfile:1
FROM mlebench-env
ARG AGENT_DIR
RUN mkdir ${AGENT_DIR}
FROM --platform=linux/amd64 mlebench-env:latest AS second
FROM python:3.11-slim
COPY . ${AGENT_DIR}
"""


def test_the_dockerfile_builds_from_the_chosen_base_as_mlebench_env_would():
    text = mlebench_images.rewrite_dockerfile(DOCKERFILE, "mleray-base:abc")
    lines = text.splitlines()
    assert lines[:6] == [
        "# syntax=docker/dockerfile:1",
        "FROM mleray-base:abc",
        "USER root",
        "WORKDIR /home",
        "RUN rmdir /home/logs /home/code /home/agent 2>/dev/null; true",
        "ARG AGENT_DIR",
    ]
    assert "FROM --platform=linux/amd64 mleray-base:abc AS second" in lines
    assert "FROM python:3.11-slim" in lines  # another base is the author's choice
    assert lines[-3:] == list(mlebench_images.AT_END)
    assert "ENTRYPOINT []" in lines and "chmod a+rwX" in lines[-2]


class _Image:
    def __init__(self, image_id):
        self.id = image_id


class _Images:
    def __init__(self, present: dict[str, str]):
        self.present = present

    def get(self, tag):
        import docker

        if tag not in self.present:
            raise docker.errors.ImageNotFound(tag)
        return _Image(self.present[tag])


class _Engine:
    def __init__(self, **present):
        self.images = _Images({k.replace("_", "-"): v for k, v in present.items()})


def test_the_base_is_the_users_then_mlebench_env_then_mlerays(monkeypatch):
    monkeypatch.delenv(mlebench_images.BASE_ENV, raising=False)
    assert mlebench_images.base_for(_Engine(), "mleray-base:1") == ("mleray-base:1", "")
    assert mlebench_images.base_for(None, "mleray-base:1") == ("mleray-base:1", "")
    assert mlebench_images.base_for(_Engine(mlebench_env="sha256:e"), "b") == (
        "mlebench-env",
        "sha256:e",
    )
    monkeypatch.setenv(mlebench_images.BASE_ENV, "my-base")
    assert mlebench_images.base_for(_Engine(mlebench_env="sha256:e"), "b") == ("my-base", "")


def test_image_tags_hash_the_folder_the_recipe_and_the_base(tmp_path):
    dev, secret, argtoy = (
        get_agent(f"{FORMAT_DIR}:{i}") for i in ("toy/dev", "toy/secret", "argtoy")
    )
    tag = mlebench_images.image_tag(dev, "digest", ("mlebench-env", "sha256:1"))
    assert tag.startswith("mleray-mlebench-toy:")
    assert tag == mlebench_images.image_tag(secret, "digest", ("mlebench-env", "sha256:1"))
    assert tag != mlebench_images.image_tag(dev, "digest", ("mlebench-env", "sha256:2"))
    assert tag != mlebench_images.image_tag(dev, "other", ("mlebench-env", "sha256:1"))
    assert mlebench_images.image_tag(argtoy, "digest", ("b", "")).startswith(
        "mleray-mlebench-argtoy:"
    )


def test_the_context_keeps_the_agent_folder_as_it_is(tmp_path):
    import shutil

    context = tmp_path / "context"
    shutil.copytree(FORMAT_DIR / "toy", context)
    name = mlebench_images.prepare_context(get_agent(f"{FORMAT_DIR}:toy"), context, "base:1")
    assert (context / name).read_text().startswith("FROM base:1\nUSER root\nWORKDIR /home\n")
    assert (context / "Dockerfile").read_text() == (FORMAT_DIR / "toy" / "Dockerfile").read_text()
    assert (context / ".dockerignore").read_text().split() == [name, ".dockerignore"]


@pytest.mark.parametrize("present", [True, False])
def test_a_named_base_must_exist(monkeypatch, present):
    from mleray.sandbox.images import ImageBuildError, build_agent_image

    monkeypatch.setenv(mlebench_images.BASE_ENV, "my-base")
    agent = get_agent(f"{FORMAT_DIR}:toy")
    engine = _Engine(my_base="sha256:m") if present else _Engine()
    tag = mlebench_images.image_tag(agent, "x", ("my-base", "sha256:m"))
    if present:  # the image is there already: nothing is built
        engine.images.present[mlebench_images.tag_for(agent, _builder(), engine)] = "sha256:t"
        assert build_agent_image(agent, engine).built is False
        assert tag.startswith("mleray-mlebench-toy:")
    else:
        with pytest.raises(ImageBuildError, match="builds FROM my-base .* not on this engine"):
            build_agent_image(agent, engine)


def _builder():
    from mleray.sandbox.images import _mlebench_builder

    return _mlebench_builder()
