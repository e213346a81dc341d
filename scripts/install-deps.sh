#!/usr/bin/env bash
# Installs the Debian 12 packages dealerline needs to build, test and run.
# Idempotent: when everything is already installed it only asks dpkg and exits.
# Works without a terminal (CI): no prompts, no stdin.
set -euo pipefail

packages=(
  libboost1.81-all-dev libboost-json1.81-dev librocksdb-dev libnats-dev nats-server libpqxx-dev postgresql
  libspdlog-dev libcli11-dev libjwt-dev prometheus-cpp-dev libexpected-dev
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev
  pkg-config ccache ninja-build cmake g++ git procps iproute2 curl openssl
  clang libclang-rt-14-dev
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ $status == "install ok installed" ]] || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "deps: installing ${#missing[@]} missing package(s): ${missing[*]}"

# apt needs root; use sudo only when we are not root, and never let it prompt.
sudo=()
if ((EUID != 0)); then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    echo "deps: not root and sudo is not available; install as root: ${missing[*]}" >&2
    exit 1
  fi
fi

# env(1) so DEBIAN_FRONTEND survives sudo's environment reset.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
echo "deps: done"
