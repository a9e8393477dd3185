#!/bin/sh
# Re-vendor Chart.js from the npm registry (no CDN: city networks often block them).
#   scheduler/pages/static/vendor/update.sh [VERSION]   (default: the version in VERSION)
# npm checks the tarball against the registry's integrity hash; the script keeps the
# minified UMD build (its sourceMappingURL line dropped: the map is not shipped) and the
# licence, and writes VERSION. Then update the version in README.md here and in
# docs/architecture.md (Dependencies), run the KPI tests, and commit.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
version=${1:-$(cat "$here/VERSION")}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "chart.js@$version" >/dev/null && tar xzf "chart.js-$version.tgz")
js="$tmp/package/dist/chart.umd.min.js"
grep -q "Chart.js v$version" "$js" || { echo "not Chart.js v$version: $js" >&2; exit 1; }
sed '/^\/\/# sourceMappingURL=/d' "$js" >"$here/chart.umd.min.js"
cp "$tmp/package/LICENSE.md" "$here/chart.js.LICENSE.md"
echo "$version" >"$here/VERSION"
sha256sum "$here/chart.umd.min.js"
