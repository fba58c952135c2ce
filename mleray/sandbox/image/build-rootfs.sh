#!/bin/sh
# Build the mleray base root filesystem as a tar stream on stdout's file.
# Usage: build-rootfs.sh OUT.tar MIRROR SUITE PACKAGE...
# Needs root and debootstrap. Its text is hashed into the base image tag.
set -eu
out=$1; mirror=$2; suite=$3; shift 3
include=$(echo "$@" | tr ' ' ',')
root=$(mktemp -d /tmp/mleray-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >&2
# The non-root user every agent runs as (uid/gid 1000), and the agent's home layout.
echo 'agent:x:1000:1000:mleray agent:/home/agent:/bin/bash' >> "$root/etc/passwd"
echo 'agent:x:1000:' >> "$root/etc/group"
echo 'agent:*:19000:0:99999:7:::' >> "$root/etc/shadow"
mkdir -p "$root/home/agent" "$root/home/data" "$root/home/submission" "$root/home/logs" \
         "$root/home/code" "$root/opt/agent" "$root/opt/mleray/bin"
chown 1000:1000 "$root/home/agent" "$root/home/submission" "$root/home/logs" "$root/home/code"
# Smaller image: package caches and docs are not needed at run time.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
       "$root"/usr/share/doc/* "$root"/usr/share/man/*
tar --numeric-owner -C "$root" -cf "$out" .
