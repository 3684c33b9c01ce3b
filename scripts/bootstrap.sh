#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine that has only Python and root:
#   - Debian packages for the real Samba AD DC the lab and the tests start on loopback;
#   - a project virtualenv in .venv with hybridsync installed editable plus test extras.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PKGS=(samba samba-ad-dc samba-ad-provision ldap-utils winbind krb5-user python3-samba zstd libnss-wrapper libresolv-wrapper postgresql nodejs)

missing=()
for pkg in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The packages may start system daemons that would hold the ports a lab DC needs (and a PostgreSQL
# cluster on 5432 nobody uses); hybridsync
# runs its own private DCs from temp dirs and never uses the system's.
for svc in samba-ad-dc smbd nmbd winbind postgresql; do
  (command -v systemctl >/dev/null && systemctl stop "$svc" 2>/dev/null) || true
done

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.hybridsync-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing hybridsync (editable) and its test extras into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test,metrics,postgres]'
  touch "$stamp"
fi
# Other real SCIM servers the suite runs the conformance kit and the end-to-end scenario against
# (engine/lab/scimmy.py): SCIMMY from npm, pinned by engine/lab/node/package-lock.json.
# node comes with nodejs (APT_PKGS); Debian's own nodejs ships npm separately.
if ! command -v npm >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "bootstrap: installing Debian package: npm"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
if [ ! -d engine/lab/node/node_modules/scimmy ] || [ engine/lab/node/package-lock.json -nt engine/lab/node/node_modules ]; then
  echo "bootstrap: installing the SCIMMY lab server (npm ci in engine/lab/node)"
  (cd engine/lab/node && npm ci --no-audit --no-fund --silent)
  touch engine/lab/node/node_modules
fi
# django-scim2 (PyPI) in a tiny Django project (engine/lab/djangoscim.py): measured, see connectors/README.md.
if ! .venv/bin/python -c "import django_scim" 2>/dev/null; then
  echo "bootstrap: installing the django-scim2 lab server into .venv"
  .venv/bin/python -m pip install -q "django-scim2==0.23.0"
fi
echo "bootstrap: ready"
