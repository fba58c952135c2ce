#!/usr/bin/env bash
# Build the mleray base image (debootstrap + docker import) and the built-in agent images
# FROM it; existing tags are kept (their names hash their inputs). llm-loop pip-installs the
# openai client from PyPI: behind a TLS proxy the CA bundle is found by itself (MLERAY_CA_BUNDLE,
# else PIP_CERT, REQUESTS_CA_BUNDLE or SSL_CERT_FILE). Options pass through:
#   --force           rebuild even when a tag exists
#   --base-only       only the base image
#   --with-optional   also aideml (needs network; behind a TLS proxy add --ca-bundle FILE
#                     or set MLERAY_CA_BUNDLE)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m mleray.sandbox.images "$@"
