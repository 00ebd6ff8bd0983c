#!/usr/bin/env bash
# Stage 1 of the order benchmark (docs/BENCHMARKS.md, "Ordered link"): CPython 3.11 from the Debian
# source package, compiled once with -ffunction-sections -fdata-sections so that a linker can order
# its functions and data. Root only (it adds a deb-src entry). bench/order-cpython.sh runs the rest.
#
#   bash bench/order-cpython-build.sh [WORKDIR]     (default /tmp/elfprefetch-order-cpython)
#
# Leaves WORKDIR/build with the objects, libpython3.11.a and a stock `python`, and
# WORKDIR/link.sh: the interpreter's own link command with the output and the linker as arguments.
set -euo pipefail
WORK=${1:-/tmp/elfprefetch-order-cpython}
JOBS=${JOBS:-2}
mkdir -p "$WORK"
cd "$WORK"
if ! ls -d python3.11-*/ >/dev/null 2>&1; then
  src=/etc/apt/sources.list.d/elfprefetch-deb-src.sources
  if ! grep -rqs '^Types: deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' >"$src"
    apt-get update -qq
  fi
  apt-get source -q python3.11
fi
SRC=$(cd python3.11-*/ && pwd)
mkdir -p build
cd build
# One object set for both links: no LTO or PGO (they would re-layout code themselves), Debian's -O2 -g.
if [ ! -f Makefile ]; then
  "$SRC/configure" -q --without-ensurepip \
    CFLAGS="-O2 -g -ffunction-sections -fdata-sections" >configure.log
fi
make -s -j"$JOBS" >make.log 2>&1 || { tail -30 make.log >&2; exit 1; }
# The link command of `python`, as make runs it, with -o and the linker made arguments.
rm -f python
cmd=$(make -n python | grep -E '(^| )-o python( |$)' | tail -1)
[ -n "$cmd" ] || { echo "order-cpython-build: no link command for python in 'make -n python'" >&2; exit 1; }
make -s python >/dev/null
{
  echo '#!/usr/bin/env bash'
  echo '# link.sh OUT LINKER [EXTRA LDFLAGS...]: links CPython as its Makefile does, with LINKER (-fuse-ld=).'
  echo 'set -euo pipefail'
  echo "cd $(pwd)"
  echo 'out=$1; ld=$2; shift 2'
  echo "${cmd/ -o python / -o \"\$out\" -fuse-ld=\"\$ld\" \"\$@\" }"
} >../link.sh
chmod +x ../link.sh
echo "order-cpython-build: $(pwd)/python built; link with $WORK/link.sh OUT lld|gold [LDFLAGS]" >&2
