#!/bin/sh
# tests/link/run.sh BUILD_DIR - install weft from BUILD_DIR into a scratch
# directory and build the consumer program against it with its own
# three-line Makefile, which knows only pkg-config: once against the shared
# library, once against the static one. Then uninstall and check that
# nothing is left behind.
set -eu
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

make -C "$build" install DESTDIR="$tmp/root" >/dev/null
prefix=$(sed -n 's/^prefix=//p' "$build/weft.pc")
libdir=$(sed -n 's/^libdir=//p' "$build/weft.pc" | sed "s|\${exec_prefix}|$prefix|; s|\${prefix}|$prefix|")
export PKG_CONFIG_SYSROOT_DIR="$tmp/root"
export PKG_CONFIG_PATH="$tmp/root$libdir/pkgconfig"
pkg-config --exists weft

# shared
mkdir "$tmp/shared"
cp "$here/Makefile" "$here/consumer.c" "$tmp/shared/"
make -s -C "$tmp/shared"
LD_LIBRARY_PATH="$tmp/root$libdir" "$tmp/shared/consumer"
if ! LD_LIBRARY_PATH="$tmp/root$libdir" ldd "$tmp/shared/consumer" | grep -q libweft.so; then
  echo "link: the shared build does not use libweft.so" >&2
  exit 1
fi

# static: the same Makefile with --static, against a copy without the .so
cp -r "$tmp/root" "$tmp/static-root"
rm -f "$tmp/static-root$libdir"/libweft.so*
mkdir "$tmp/static"
cp "$here/Makefile" "$here/consumer.c" "$tmp/static/"
PKG_CONFIG_SYSROOT_DIR="$tmp/static-root" PKG_CONFIG_PATH="$tmp/static-root$libdir/pkgconfig" \
  make -s -C "$tmp/static" PKGFLAGS=--static
"$tmp/static/consumer"
if ldd "$tmp/static/consumer" | grep -q libweft; then
  echo "link: the static build still needs libweft.so" >&2
  exit 1
fi

make -C "$build" uninstall DESTDIR="$tmp/root" >/dev/null
left=$(find "$tmp/root" -type f | head -n 5)
if [ -n "$left" ]; then
  echo "link: make uninstall left files behind:" >&2
  echo "$left" >&2
  exit 1
fi
echo "link: shared and static consumers built with pkg-config and ran; uninstall is clean"
