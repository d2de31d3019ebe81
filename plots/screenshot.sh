#!/bin/sh
# screenshot.sh: look at a report as a reader's browser draws it, at 1280 px.
#
#   plots/screenshot.sh RESULTS_DIR [OUT.png]
#
# Renders RESULTS_DIR/report.html in headless Chromium (Debian: apt-get
# install chromium; not a dependency of the suite) into OUT.png
# (default RESULTS_DIR/report-1280.png), 1280 px wide and tall enough for
# the findings and the summary tables, to look at. plots/layout_check.py
# measures the same page in the same browser: every cell of the summary
# tables on one line, no sideways scrolling (pytest runs it when Chromium
# is installed).
# Exit status: 0 written, 2 usage or no Chromium.
set -eu
dir=${1:?usage: plots/screenshot.sh RESULTS_DIR [OUT.png]}
out=${2:-$dir/report-1280.png}
[ -f "$dir/report.html" ] || { echo "screenshot.sh: no $dir/report.html" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "screenshot.sh: no Chromium (apt-get install chromium)" >&2; exit 2; }
page=$(cd "$dir" && pwd)/report.html
timeout 60 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --window-size=1280,2400 --screenshot="$out" "file://$page" >/dev/null 2>&1
echo "$out"
