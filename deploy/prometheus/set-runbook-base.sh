#!/usr/bin/env bash
# Points every alert's runbook_url at another copy of deploy/RUNBOOK.md,
# for a fork or an internal mirror:
#
#   deploy/prometheus/set-runbook-base.sh https://git.example.com/ops/hookgate/blob/main/deploy/RUNBOOK.md
#
# Rewrites deploy/prometheus/alerts.yml in place, keeping each alert's
# #anchor; deploy/check.sh then checks every anchor names a RUNBOOK section.
set -euo pipefail
cd "$(dirname "$0")"
base=${1:?usage: set-runbook-base.sh URL-of-RUNBOOK.md (without #anchor)}
case $base in
  *'#'* | *' '* | *'|'*) echo "error: give the URL without #anchor, spaces or '|'" >&2; exit 2 ;;
esac
sed -i -E "s|^( *runbook_url: ).*(#[a-z0-9-]+)\$|\\1${base}\\2|" alerts.yml
grep -c "runbook_url: ${base}#" alerts.yml | xargs echo "runbook_url set on alerts:"
