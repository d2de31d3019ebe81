#!/bin/sh
# screenshot.sh: look at a report as a reader's browser draws it, at 1280 px.
#
#   plots/screenshot.sh RESULTS_DIR [OUT.png]
#
# Renders RESULTS_DIR/report.html in headless Chromium (Debian: apt-get
# install chromium; not a dependency of the suite) into OUT.png
# (default RESULTS_DIR/report-1280.png), 1280 px wide and tall enough for
# the findings and the summary tables. What to check on it: every summary
# cell on one line (numbers, ratios, '≈', footnote markers; the legend
# below the table), no row taller than a line of text. The pytest suite
# checks the same property on the HTML itself (test_uncertainty.py:
# summary cells are short tokens, numeric cells do not wrap).
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
