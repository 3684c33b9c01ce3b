#!/usr/bin/env bash
# The one command that runs hybridsync's tests (README.md): set up, then the whole suite,
# including the integration tests against a real Samba AD DC and a real scim2-server.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
