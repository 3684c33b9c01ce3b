#!/usr/bin/env bash
# The one command that sets up and runs hybridsync's main job (README.md): install what is
# missing, then `hybridsync lab` (Samba AD DC + SCIM server on loopback, seeded, synced, live
# changes shown with their latency). Extra arguments go to `hybridsync lab` (e.g. --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/bootstrap.sh
exec .venv/bin/hybridsync lab "$@"
