#!/bin/sh
# Builds the Debian runtime package elfprefetch-runtime from this tree:
#   packaging/debian-runtime/build-deb.sh [OUTDIR]       (default OUTDIR: build/deb)
# The sources it needs (shim/, docs/man/) and debian/ are copied into a temporary source tree,
# built there with dpkg-buildpackage (debhelper), and the .deb is moved to OUTDIR; its path is
# the last line printed. The daemon (shim/daemon/) goes in when the tree has it, and the build
# says so plainly when it does not.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/build/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(sed -n 's/^  "version": "\([^"]*\)",$/\1/p' "$root/package.json")
[ -n "$version" ] || { echo "build-deb: no version in $root/package.json" >&2; exit 1; }
arch=$(dpkg --print-architecture)

if [ -d "$root/shim/daemon" ]; then
  for f in shim/daemon/elfprefetchd.service shim/daemon/elfprefetchd.conf docs/man/elfprefetchd.8; do
    [ -f "$root/$f" ] || { echo "build-deb: shim/daemon/ is there but $f is missing" >&2; exit 1; }
  done
  # The unit must start the daemon where the package puts it.
  if ! grep -q '^ExecStart=/usr/sbin/elfprefetchd\( \|$\)' "$root/shim/daemon/elfprefetchd.service"; then
    echo "build-deb: shim/daemon/elfprefetchd.service must start /usr/sbin/elfprefetchd (ExecStart=/usr/sbin/elfprefetchd ...), where the package installs it" >&2
    exit 1
  fi
  echo "build-deb: with the daemon: /usr/sbin/elfprefetchd, its unit and /etc/elfprefetch/elfprefetchd.conf"
else
  echo "build-deb: NOTE: the daemon is MISSING from this tree (no shim/daemon/): elfprefetch-runtime is built WITHOUT elfprefetchd, its unit, its configuration and its man page"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/elfprefetch-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
src=$work/elfprefetch-runtime-$version
mkdir -p "$src/shim" "$src/docs"
cp -p "$root"/shim/Makefile "$root"/shim/core.mk "$root"/shim/*.c "$root"/shim/*.h "$src/shim/"
if [ -d "$root/shim/daemon" ]; then cp -pR "$root/shim/daemon" "$src/shim/"; fi
cp -pR "$root/docs/man" "$src/docs/"
cp -pR "$here/debian" "$src/"
# The changelog names the version (that of package.json) and the date of the newest source.
date=$(date -R -d "@$(find "$src/shim" "$src/docs" -type f -printf '%T@\n' | sort -n | tail -1 | cut -d. -f1)")
cat >"$src/debian/changelog" <<EOF
elfprefetch-runtime ($version) unstable; urgency=medium

  * Built from the elfprefetch tree (packaging/debian-runtime).

 -- elfprefetch developers <elfprefetch@example.org>  $date
EOF

# noautodbgsym: one package, no -dbgsym beside it. Build flags come from dpkg-buildflags only.
(cd "$src" && env -u CFLAGS -u CPPFLAGS -u LDFLAGS -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u DESTDIR \
  DEB_BUILD_OPTIONS="noautodbgsym${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}" \
  dpkg-buildpackage -b -us -uc --no-pre-clean)
deb=elfprefetch-runtime_${version}_${arch}.deb
mv "$work/$deb" "$out/$deb"
echo "$out/$deb"
