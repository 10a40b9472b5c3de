#!/usr/bin/env bash
# Idempotent setup for a fresh Debian machine: Python deps (uv), PostgreSQL, Chromium, and
# what the local cluster's real node and `make images` need (containerd, runc, CNI plugins,
# iptables, conntrack, debootstrap), and promtool (Debian's prometheus) for make chart-check.
set -euo pipefail
step() { printf '\n==> %s\n' "$*"; }

if ! command -v uv >/dev/null 2>&1 && [ ! -x "$HOME/.local/bin/uv" ]; then
  step "installing uv (from PyPI)"
  python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv
fi
UV=$(command -v uv || echo "$HOME/.local/bin/uv")

step "Python environment (.venv) from uv.lock"
"$UV" sync --frozen

need=()
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v containerd >/dev/null 2>&1 || need+=(containerd)
command -v runc >/dev/null 2>&1 || need+=(runc)
[ -x /usr/lib/cni/bridge ] || [ -x /opt/cni/bin/bridge ] || need+=(containernetworking-plugins)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)  # promtool: make chart-check
command -v node >/dev/null 2>&1 || need+=(nodejs)  # the node-opcua test PEA (second stack)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    step "apt-get install ${need[*]} (Debian packages)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" \
      | grep -E '^(Setting up|Unpacking)' || true
  else
    echo "missing Debian packages: ${need[*]} — run: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
fi
step "node-opcua test PEA (holon_testing/pea_node) from its package-lock.json"
npm ci --prefix holon_testing/pea_node --no-audit --no-fund --loglevel=error

# The local Kubernetes cluster (make cluster, e2e tests) is built from Go modules and needs
# Go >= 1.26 (Debian's golang is older; the machine image provides it).
if ! command -v go >/dev/null 2>&1; then
  echo "warning: Go >= 1.26 is not on PATH; 'make cluster' and the e2e tests need it" >&2
else
  # SeaweedFS (Apache-2.0): the S3-compatible store of the backup tests (built once, cached).
  step "SeaweedFS object store (python3 -m hack.cluster.seaweedfs, cached in ~/.cache/holon/bin)"
  python3 -m hack.cluster.seaweedfs build >/dev/null
  # Dex (Apache-2.0): the OpenID Connect provider of the sign-in tests (built once, cached).
  step "Dex OpenID provider (python3 -m hack.cluster.dex, cached in ~/.cache/holon/bin)"
  python3 -m hack.cluster.dex build >/dev/null
fi
step "setup complete"
