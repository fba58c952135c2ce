"""Image building: content-hashed tags, the apt mirror, the CA bundle option, and (with
Docker) building, skipping and failing builds of agent images FROM the base image."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest

from mleray.agents import load_agent
from mleray.errors import SandboxUnavailableError, SpecError
from mleray.sandbox import images


def test_base_tag_hashes_package_list_and_script(tmp_path, monkeypatch):
    tag = images.base_image_tag()
    assert tag.startswith("mleray-base:") and tag == images.base_image_tag()
    packages = tmp_path / "packages.txt"
    shutil.copy(images.PACKAGES_FILE, packages)
    monkeypatch.setattr(images, "PACKAGES_FILE", packages)
    assert images.base_image_tag() == tag
    packages.write_text(packages.read_text() + "python3-scipy\n")
    assert images.base_image_tag() != tag
    assert images.base_packages()[-1] == "python3-scipy"
    script = tmp_path / "build-rootfs.sh"
    script.write_text(images.ROOTFS_SCRIPT.read_text() + "\n# changed\n")
    before = images.base_image_tag()
    monkeypatch.setattr(images, "ROOTFS_SCRIPT", script)
    assert images.base_image_tag() != before


def test_base_packages_are_the_required_ones():
    assert {"python3", "python3-numpy", "python3-pandas", "python3-sklearn"} <= set(
        images.base_packages()
    )


def test_apt_mirror_from_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    assert images.apt_mirror(tmp_path) == images.DEFAULT_MIRROR
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n"
    )
    assert images.apt_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.example/debian\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://deb.example/debian-security\nSuites: bookworm-security\n"
    )
    assert images.apt_mirror(tmp_path) == "http://deb.example/debian"


def test_ca_bundle_option(tmp_path, monkeypatch):
    for name in ("MLERAY_CA_BUNDLE", *images.HOST_CA_ENV):
        monkeypatch.delenv(name, raising=False)
    assert images.ca_bundle_path() is None
    with pytest.raises(SpecError, match="CA bundle .*missing.pem.* is not a file"):
        images.ca_bundle_path(tmp_path / "missing.pem")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    # the host's own trust, where no bundle is named (a variable naming no file is passed over)
    monkeypatch.setenv("PIP_CERT", str(tmp_path / "gone.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    assert images.ca_bundle_path() == bundle
    other = tmp_path / "other.pem"
    other.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("MLERAY_CA_BUNDLE", str(other))
    assert images.ca_bundle_path() == other


# ------------------------------------------------------------------------- with Docker


def _agent(tmp_path: Path, dockerfile: str) -> Path:
    folder = tmp_path / "agent"
    folder.mkdir()
    name = f"h3-test-img-{uuid.uuid4().hex[:8]}"
    (folder / "config.yaml").write_text(
        f"name: {name}\nbuild: Dockerfile\ncommand: [python3, '{{agent_dir}}/run.py']\n"
    )
    (folder / "Dockerfile").write_text(dockerfile)
    (folder / "run.py").write_text("print('hello')\n")
    return folder


@pytest.fixture
def client():
    import docker

    return docker.from_env()


@pytest.mark.docker
def test_base_image_has_the_agent_user_and_python_stack(client):
    tag = images.build_base_image(client).tag  # minutes only when missing
    assert images.build_base_image(client).built is False  # an existing tag is kept
    output = client.containers.run(
        tag,
        [
            "python3",
            "-c",
            "import os, sklearn, pandas, numpy; print(os.getuid(), os.environ['HOME'])",
        ],
        remove=True,
        network_mode="none",
    )
    assert output.decode().split() == ["1000", "/home/agent"]


@pytest.mark.docker
def test_agent_image_builds_from_base_once_and_is_tagged(tmp_path, client, monkeypatch):
    monkeypatch.delenv("MLERAY_CA_BUNDLE", raising=False)
    agent = load_agent(
        _agent(tmp_path, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nARG CA_BUNDLE=\nCOPY . /opt/agent\n")
    )
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not really a certificate\n")
    try:
        first = images.build_agent_image(agent, client, ca_bundle=bundle)
        assert first.built and first.tag.startswith(f"mleray-agent-{agent.name}:")
        files = client.containers.run(
            first.tag, ["ls", "/opt/agent"], remove=True, network_mode="none"
        ).decode()
        assert set(files.split()) == {"Dockerfile", "config.yaml", "run.py", images.CA_BUNDLE_NAME}
        assert images.build_agent_image(agent, client).built is False
        assert images.build_agent_image(agent, client, force=True).built is True
        assert client.images.get(first.tag).labels["mleray.agent"] == agent.name
    finally:
        client.images.remove(first.tag, force=True)


@pytest.mark.docker
def test_failed_build_is_one_clear_line(tmp_path):
    agent = load_agent(
        _agent(tmp_path, "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo broken-step && false\n")
    )
    with pytest.raises(
        images.ImageBuildError,
        match=rf"building mleray-agent-{agent.name}:\w+ from .*Dockerfile failed",
    ) as info:
        images.build_agent_image(agent)
    assert "\n" not in str(info.value)


@pytest.mark.docker
def test_missing_prebuilt_image_says_pull_not_build(tmp_path, client):
    """`build` cannot make a prebuilt image: it must not answer "exists" for one that is
    missing, and the sandbox must not send the user to `build`."""
    from mleray.sandbox.docker import DockerSandbox

    folder = _agent(tmp_path, "")
    tag = f"h3-test-absent-{uuid.uuid4().hex[:8]}:1"
    (folder / "config.yaml").write_text(f"name: prebuilt\nimage: {tag}\ncommand: [x]\n")
    agent = load_agent(folder)
    with pytest.raises(images.ImageBuildError, match=rf"prebuilt image {tag} .* docker pull {tag}"):
        images.build_agent_image(agent, client)
    with pytest.raises(SandboxUnavailableError, match=rf"prebuilt image {tag} .* docker pull"):
        DockerSandbox(client=client).check_ready(agent)
    assert (
        images.build_agent_image(
            load_agent(_prebuilt(tmp_path, images.base_image_tag())), client
        ).built
        is False
    )


def _prebuilt(tmp_path: Path, tag: str) -> Path:
    folder = tmp_path / "present"
    folder.mkdir()
    (folder / "config.yaml").write_text(f"name: present\nimage: {tag}\ncommand: [x]\n")
    return folder


def test_build_all_skips_aideml_unless_asked(monkeypatch):
    built = []
    monkeypatch.setattr(images, "docker_client", lambda: object())
    monkeypatch.setattr(
        images, "build_base_image", lambda client, force=False: images.BuildOutcome("base", False)
    )
    monkeypatch.setattr(
        images,
        "build_agent_image",
        lambda agent, client, force=False, ca_bundle=None: (
            built.append(agent.name) or images.BuildOutcome(agent.name, True)
        ),
    )
    images.build_all()
    assert "aideml" not in built and {"noop", "sleep", "baseline"} <= set(built)
    built.clear()
    images.build_all(include_optional=True)
    assert "aideml" in built
