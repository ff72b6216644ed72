#!/bin/sh
# How the vendored front-end files were fetched (from the npm registry; nothing is built).
# Run from this folder; compare the checksums before committing a new version.
set -eu
VERSION=2.0.11
npm pack "htmx.org@$VERSION" --silent
tar xzf "htmx.org-$VERSION.tgz"
cp package/dist/htmx.min.js "htmx-$VERSION.min.js"
cp package/LICENSE htmx-LICENSE.txt
rm -r package "htmx.org-$VERSION.tgz"
sha256sum "htmx-$VERSION.min.js"
# d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717  htmx-2.0.11.min.js
