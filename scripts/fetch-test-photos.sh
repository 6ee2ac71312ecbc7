#!/usr/bin/env bash
# Extracts a few real photographs from Debian's opencv-doc package (BSD-3-Clause / Apache-2.0 OpenCV
# samples) into test/fixtures/debian/, for the tests that need real photos. Runs once; later runs are no-ops.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/test/fixtures/debian"
photos=(baboon.jpg fruits.jpg messi5.jpg building.jpg starry_night.jpg home.jpg HappyFish.jpg licenseplate_motion.jpg)
missing=0
for p in "${photos[@]}"; do [ -s "$dest/$p" ] || missing=1; done
[ "$missing" = 0 ] && exit 0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
if ! apt-get download opencv-doc >/dev/null 2>&1; then
  (apt-get update >/dev/null 2>&1 || true)
  apt-get download opencv-doc >/dev/null
fi
dpkg -x opencv-doc_*.deb x
mkdir -p "$dest"
for p in "${photos[@]}"; do cp "x/usr/share/doc/opencv-doc/examples/data/$p" "$dest/$p"; done
echo "test photos extracted to $dest"
