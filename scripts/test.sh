#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine with Rust, then runs
# every test: format, lints, unit/property/in-process tests, and (as root) the
# namespace tests with real kernels, taps and clients. Exits non-zero if
# anything failed, after printing the logs of what failed.
set -euo pipefail
cd "$(dirname "$0")/.."

# Packages the namespace tests drive. Installing needs root; without root the
# namespace tests are skipped (they need root anyway) and say so.
PACKAGES=(iproute2 iputils-ping iperf3 tcpdump arping procps psmisc python3 curl busybox isc-dhcp-client dhcpcd-base chromium dnsmasq-base ethtool bind9-dnsutils)
# The browser test's driver (playwright-core) runs on Node.js. Machines of
# this kind ship Node.js with npm (NodeSource's package, which conflicts
# with Debian's `npm`), so Debian's are installed only where none is.
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)

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
  # playwright-core for t_browser*, from the committed lockfile; it drives
  # Debian's chromium (no browser is downloaded: --ignore-scripts).
  npm ci --ignore-scripts --no-audit --no-fund --prefix scripts/netns-tests/browser
  scripts/netns-tests/run.sh
else
  step "namespace tests skipped: they need root (run: sudo scripts/test.sh)"
fi
