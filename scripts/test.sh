#!/usr/bin/env bash
# The test command of the README (`deno task test`).
# 1. Makes sure the real servers the integration tests start are installed: under CI=true a
#    missing one is a failure (.ci/run installs them first); otherwise it installs them with
#    apt-get when it can, and says exactly what to install when it cannot.
# 2. Runs every test, then prints one closing line: "test: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in nats-server:nats-server etcd:etcd-server ip:iproute2 unshare:util-linux \
  prometheus:prometheus chromium:chromium jupyter-nbconvert:jupyter-nbconvert; do
  bin=${pair%%:*} pkg=${pair##*:}
  command -v "$bin" >/dev/null 2>&1 || [ -x "/usr/sbin/$bin" ] || need+=("$pkg")
done
/usr/bin/python3 -c 'import nbclient' >/dev/null 2>&1 || need+=(python3-nbclient)
if [ ${#need[@]} -gt 0 ]; then
  if [ "${CI:-}" = "true" ]; then
    echo "test: missing ${need[*]}; CI must install them (apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  echo "test: installing ${need[*]} (the integration tests run real servers)" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo -n)
  if ! { "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}"; } >&2; then
    echo "test: could not install ${need[*]}; install them with: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
deno test --allow-all --quiet "$@" tests/ 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -n 1)
passed=$(sed -nE 's/.*\| ([0-9]+) passed.*/\1/p' <<<"$summary")
failed=$(sed -nE 's/.*\| ([0-9]+) failed.*/\1/p' <<<"$summary")
ignored=$(sed -nE 's/.*\| ([0-9]+) ignored.*/\1/p' <<<"$summary")
if [ -n "$passed" ]; then
  echo "test: ${passed} passed, ${failed:-0} failed, ${ignored:-0} skipped"
else
  echo "test: 0 passed, 1 failed (the test runner did not finish)"
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
