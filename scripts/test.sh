#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with Rust, then runs
# every test: format, lints, unit/property/in-process tests, and (as root) the
# namespace tests with real kernels, taps and clients. Exits non-zero if
# anything failed, after printing the logs of what failed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Packages the namespace tests drive. Installing needs root; without root the
# namespace tests are skipped (they need root anyway) and say so.
PACKAGES=(iproute2 iputils-ping iperf3 tcpdump arping procps psmisc python3 curl)

step() { printf '\n=== %s\n' "$*"; }

if [ "$(id -u)" = 0 ]; then
  step "apt-get install ${PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test"
cargo test --workspace

if [ "$(id -u)" = 0 ]; then
  step "namespace tests"
  cargo build --release -p atenet -p tok
  scripts/netns-tests/run.sh
else
  step "namespace tests skipped: they need root (run: sudo scripts/test.sh)"
fi
