#!/usr/bin/env bash
# Make a Docker engine available: install Debian's docker.io (and debootstrap, which
# builds the mleray base image) when missing, start dockerd in the background when
# `docker info` fails, and wait until it answers. Idempotent; exits non-zero with one
# clear line when it cannot.
set -euo pipefail

fail() { echo "setup-docker: $*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else fail "need root to run: $*"; fi; }

missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get to install them"
    echo "setup-docker: installing ${missing[*]}"
    as_root apt-get update -qq >/dev/null || fail "apt-get update failed"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || fail "apt-get install ${missing[*]} failed"
fi

# builds with RUN steps need the default bridge; an engine that lost docker0 is restarted
if command -v ip >/dev/null && docker info >/dev/null 2>&1 && ! ip link show docker0 >/dev/null 2>&1 && pgrep -x dockerd >/dev/null; then
    echo "setup-docker: docker0 is missing; restarting dockerd"
    as_root pkill -x dockerd || true
    for _ in $(seq 1 30); do pgrep -x dockerd >/dev/null || break; sleep 1; done
fi

if docker info >/dev/null 2>&1; then
    echo "setup-docker: engine answers ($(docker info --format '{{.ServerVersion}}'))"
    exit 0
fi

log=${MLERAY_DOCKERD_LOG:-/tmp/dockerd.log}
if ! pgrep -x dockerd >/dev/null 2>&1; then
    echo "setup-docker: starting dockerd (log: $log)"
    as_root sh -c "nohup dockerd > '$log' 2>&1 &"
fi
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        echo "setup-docker: engine answers ($(docker info --format '{{.ServerVersion}}'))"
        exit 0
    fi
    sleep 1
done
fail "dockerd did not answer within 60 s; see $log"
