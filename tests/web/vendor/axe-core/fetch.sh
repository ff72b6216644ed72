#!/bin/sh
# How the vendored axe-core (accessibility rules, used only by tests/web/test_a11y.py) was
# fetched: `npm pack` from the npm registry, the tarball checked against the registry's sha512
# integrity (`npm view axe-core@$VERSION dist.integrity`), then its minified build and licences
# copied here. Nothing is built. Run from this folder.
set -eu
VERSION=4.14.1
INTEGRITY="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
npm pack "axe-core@$VERSION" --silent
GOT="sha512-$(openssl dgst -sha512 -binary "axe-core-$VERSION.tgz" | base64 -w0)"
if [ "$GOT" != "$INTEGRITY" ]; then
  echo "integrity mismatch: $GOT" >&2
  rm "axe-core-$VERSION.tgz"
  exit 1
fi
tar xzf "axe-core-$VERSION.tgz"
cp package/axe.min.js "axe-$VERSION.min.js"
cp package/LICENSE LICENSE
cp package/LICENSE-3RD-PARTY.txt LICENSE-3RD-PARTY.txt
rm -r package "axe-core-$VERSION.tgz"
sha256sum "axe-$VERSION.min.js"
# 29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c  axe-4.14.1.min.js
