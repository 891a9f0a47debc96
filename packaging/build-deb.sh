#!/usr/bin/env bash
# Builds the Debian package of kantorpos with dpkg-deb.
#   packaging/build-deb.sh [OUTDIR]        (default: ./dist)
# VERSION (default: from git describe, else 0.0.0) and GOARCH may be set.
# The package installs /usr/bin/kantorpos, the systemd unit, and a
# postinst that creates the kantorpos user, /var/lib/kantorpos (0700) and
# /etc/kantorpos (0750); `kantorpos quickstart` writes the configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
version="${VERSION:-$(git describe --tags --always 2>/dev/null | sed 's/^v//' || true)}"
[[ "$version" =~ ^[0-9] ]] || version="0.0.0+git${version:-unknown}"
arch="${GOARCH:-$(go env GOARCH)}"
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT

install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/share/doc/kantorpos"
CGO_ENABLED=0 GOARCH="$arch" go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$root/usr/bin/kantorpos" ./cmd/kantorpos
install -m 0644 packaging/kantorpos.service "$root/lib/systemd/system/kantorpos.service"
install -m 0644 README.md "$root/usr/share/doc/kantorpos/README.md"
for f in docs/*.md; do install -m 0644 "$f" "$root/usr/share/doc/kantorpos/"; done
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$root/DEBIAN/$s"; done
size=$(du -sk "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: kantorpos
Version: $version
Architecture: $arch
Maintainer: kantorpos developers <postmaster@localhost>
Installed-Size: $size
Depends: adduser
Section: mail
Priority: optional
Homepage: https://github.com/kantorpos/kantorpos
Description: complete mail server in one binary
 SMTP (MX and submission), an outbound queue, IMAP and POP3 with
 administration built in, for any number of domains and accounts.
CONTROL
deb="$out/kantorpos_${version}_${arch}.deb"
dpkg-deb -Zgzip --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
