#!/usr/bin/env bash
# Checks the Prometheus alerting rules and runs their unit tests with promtool:
#   promtool check rules config/alert-rules.yml       (syntax, PromQL, templates)
#   promtool test rules  config/alert-rules.test.yml  (one firing and one silent case per alert)
# promtool comes from Debian's `prometheus` package, installed here when it is missing (needs root or
# sudo and the Debian archive; set PROMTOOL to use another binary). Only promtool is used: no Prometheus
# server is started.
set -euo pipefail
cd "$(dirname "$0")/../.."

PROMTOOL="${PROMTOOL:-promtool}"
if ! command -v "$PROMTOOL" >/dev/null 2>&1; then
  echo "promtool not found: installing Debian's prometheus package"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  PROMTOOL=promtool
fi
"$PROMTOOL" --version 2>&1 | head -n 1

"$PROMTOOL" check rules config/alert-rules.yml
"$PROMTOOL" test rules config/alert-rules.test.yml
