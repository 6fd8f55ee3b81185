#!/usr/bin/env bash
# Builds registryd_<version>_<arch>.deb from a `meson install --destdir`
# staging tree, with dpkg-deb (no debian/ source package: the top level stays
# as it is), then runs lintian on it.
#
#   tools/package.sh [BUILD_DIR [OUT_DIR]]
#
# BUILD_DIR (default build-package) is set up as a release build with
# Debian's hardening flags (dpkg-buildflags), installing into /usr, /etc and
# /var, without the tests and benchmarks. An existing
# build dir (build/, as tools/test.sh passes) keeps its objects: only its
# install directories are set, so nothing compiles again. OUT_DIR defaults to
# BUILD_DIR. Prints the .deb's path last.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${1:-build-package}
out=${2:-$build}
install_dirs=(-Dprefix=/usr -Dsysconfdir=/etc -Dlocalstatedir=/var -Dsystemdunitdir=/lib/systemd/system -Dman=enabled)
if [ -f "$build/build.ninja" ]; then
  meson configure "$build" "${install_dirs[@]}" >/dev/null
else
  # Debian's hardening flags, as a Debian package build would take them.
  export DEB_BUILD_MAINT_OPTIONS=hardening=+all
  meson setup "$build" --wrap-mode=nodownload --buildtype=release -Dtests=false -Dbench=false \
    -Dcpp_args="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CXXFLAGS)" \
    -Dcpp_link_args="$(dpkg-buildflags --get LDFLAGS)" "${install_dirs[@]}" >/dev/null
fi
compile_log=$(mktemp)
if ! meson compile -C "$build" >"$compile_log" 2>&1; then
  tail -n 40 "$compile_log" >&2
  rm -f "$compile_log"
  exit 1
fi
rm -f "$compile_log"

version=$(meson introspect "$build" --projectinfo | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')
arch=$(dpkg --print-architecture)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
meson install -C "$build" --no-rebuild --destdir "$root" --strip --quiet

# Debian's places and forms for what meson installed: man pages compressed,
# the copyright and the changelog under /usr/share/doc.
find "$root/usr/share/man" -type f -exec gzip -9n {} +
doc=$root/usr/share/doc/registryd
install -d "$doc"
install -m 0644 tools/packaging/copyright "$doc/copyright"
date=$(git log -1 --format=%aD 2>/dev/null || date -R)
printf 'registryd (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- registryd developers <registryd@example.org>  %s\n' \
  "$version" "$(git describe --always --dirty 2>/dev/null || echo "a source tree")" "$date" |
  gzip -9n >"$doc/changelog.gz"

# What the programs link to, as Debian names the packages (dpkg-shlibdeps
# reads a debian/control, so it gets a minimal one of its own).
install -d "$stage/source/debian"
printf 'Source: registryd\n\nPackage: registryd\nArchitecture: any\n' >"$stage/source/debian/control"
depends=$(cd "$stage/source" && dpkg-shlibdeps -O -e"$root/usr/sbin/registryd" -e"$root/usr/bin/registryctl" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')

install -d "$root/DEBIAN"
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@DEPENDS@/$depends/" \
  -e "s/@INSTALLED_SIZE@/$(du -sk --exclude=DEBIAN "$root" | cut -f1)/" \
  tools/packaging/control.in >"$root/DEBIAN/control"
(cd "$root" && find etc -type f | sed 's|^|/|' | sort) >"$root/DEBIAN/conffiles"
(cd "$root" && find usr lib -type f -print0 | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +

install -d "$out"
deb=$out/registryd_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
# Errors fail the build; the warnings left are explained in
# docs/OPERATIONS.md ("The Debian package").
lintian --fail-on error "$deb" >&2
echo "$deb"
