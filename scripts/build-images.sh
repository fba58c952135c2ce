#!/usr/bin/env bash
# Build the mleray base image (debootstrap + docker import) and the built-in agent images
# FROM it; existing tags are kept (their names hash their inputs). Options pass through:
#   --force           rebuild even when a tag exists
#   --base-only       only the base image
#   --with-optional   also aideml (needs network; behind a TLS proxy add --ca-bundle FILE
#                     or set MLERAY_CA_BUNDLE)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m mleray.sandbox.images "$@"
