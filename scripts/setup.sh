#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine for elfprefetch: the system packages the tools and tests
# use, the npm dependencies, and the build. Run as root (or with sudo) from the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

# binutils, elfutils: the independent readers and strippers the tests compare against.
# gcc-*-linux-gnu, libc6-dev-*-cross, qemu-user, golang-go: the cross-built sample fixtures
# and running them. libc6-i386 runs the i386 fixtures natively. attr, libcap2-bin: keeping
# extended attributes (file capabilities) when a file is replaced. strace: the shim's tests watch
# its readahead calls; util-linux has setpriv (run as nobody). musl-tools: elfprefetch-exec is
# linked statically with musl where musl-gcc is there (a static glibc's start-up is most of its
# warm cost; docs/SHIM.md, "The exec wrapper's second exec").
# e2fsprogs, mount (and util-linux's losetup): `record --method exact` copies the recorded
# program to an ext4 file system on a loop device.
# cmake, meson, ninja-build: the sample projects of docs/BUILD-SYSTEMS.md. dpkg-dev, debhelper,
# fakeroot, rpm: the packaging hooks are tested by building real packages; lintian checks the
# runtime package (packaging/debian-runtime).
# clang, libclang-rt-14-dev: libFuzzer with AddressSanitizer for the shim's note parser.
# gdb (with elfutils' eu-stack and eu-unstrip): a stamp must leave debug files and core dumps
# working (spec/invisible.spec.ts); librsvg2-bin renders `show --svg` to check the picture.
# lld, g++ (gold is binutils' ld.gold): `elfprefetch order` files are linked by lld, gold and GNU
# ld, a C++ program among them (spec/order.spec.ts, spec/order-cmake.spec.ts,
# spec/order-make-meson.spec.ts).
PACKAGES=(
  gcc make binutils elfutils file attr libcap2-bin gdb librsvg2-bin lld g++
  qemu-user golang-go libc6-i386
  strace util-linux musl-tools
  e2fsprogs mount
  cmake meson ninja-build dpkg-dev debhelper fakeroot rpm cpio lintian
  clang libclang-rt-14-dev
  gcc-i686-linux-gnu libc6-dev-i386-cross
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
  gcc-powerpc64-linux-gnu libc6-dev-ppc64-cross
  gcc-s390x-linux-gnu libc6-dev-s390x-cross
  gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
npm run build
