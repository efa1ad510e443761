#!/usr/bin/env bash
# npm run test:image: build the Dockerfile for real and run the image, without a Docker engine.
#
#   1. preflight: root, buildah and debootstrap (installed from Debian's packages when missing), and
#      free disk where buildah keeps images (the vfs driver copies every layer whole: about 2 GB at
#      the peak of a build, 0.7 GB kept between runs; the test wants 4 GB free);
#   2. the base image named by the Dockerfile's FROM: kept in buildah's storage between runs; else
#      pulled; else (Docker Hub unreachable) a stand-in under the same name (stand-in-base.sh);
#   3. buildah bud --pull=never --format docker (the OCI format drops HEALTHCHECK), timed;
#   4. check-image.ts: starts the image with its own Entrypoint, Cmd, User, Env and WorkingDir against
#      the iCG sandbox and a throwaway Redis, runs its HEALTHCHECK, pays, checks the contents.
#
# Settings (environment): ICG_IMAGE_STORAGE (buildah's storage, default /var/lib/containers/icg-bff),
# ICG_IMAGE_MIN_FREE_GB (default 4), ICG_IMAGE_REBUILD_BASE=1 (assemble the stand-in base again).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=test/image

say() { printf '[image] %s\n' "$*"; }
die() {
  printf '[image] FAILED: %s\n' "$*" >&2
  exit 1
}
now_ms() {
  if [ -n "${EPOCHREALTIME:-}" ]; then
    local t=${EPOCHREALTIME/[.,]/}
    echo $((10#$t / 1000))
  else
    date +%s%3N
  fi
}
T0=$(now_ms)

# --- 1. preflight ------------------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root: buildah's vfs storage and chroot isolation need it here"
missing=()
command -v buildah >/dev/null 2>&1 || missing+=(buildah)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]} from Debian's packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

STORAGE="${ICG_IMAGE_STORAGE:-/var/lib/containers/icg-bff}"
mkdir -p "$STORAGE/graph" "$STORAGE/tmp"
# A storage of our own: the vfs driver never meets another driver's database, and every buildah
# call (here and in check-image.ts) finds it through CONTAINERS_STORAGE_CONF.
cat >"$STORAGE/storage.conf" <<EOF
[storage]
driver = "vfs"
graphroot = "$STORAGE/graph"
runroot = "/run/icg-bff-image-storage"
EOF
export CONTAINERS_STORAGE_CONF="$STORAGE/storage.conf"
export BUILDAH_ISOLATION=chroot BUILDAH_FORMAT=docker TMPDIR="$STORAGE/tmp"

MIN_FREE_GB="${ICG_IMAGE_MIN_FREE_GB:-4}"
free_kb=$(df -Pk "$STORAGE" | awk 'NR==2 {print $4}')
free_gb=$((free_kb / 1024 / 1024))
say "disk: ${free_gb} GB free at $STORAGE ($(df -Ph "$STORAGE" | awk 'NR==2 {print $6}')); vfs copies layers whole: about 2 GB at the peak of a build, ${MIN_FREE_GB} GB wanted"
if [ "$free_gb" -lt "$MIN_FREE_GB" ]; then
  die "only ${free_gb} GB free at $STORAGE: buildah's vfs driver copies each layer whole and needs a few GB; free some space, or point ICG_IMAGE_STORAGE at a larger disk"
fi

# Working containers left by an earlier run that was killed (check-image.ts names them by its pid).
for name in $(buildah containers --noheading --format '{{.ContainerName}}' 2>/dev/null | grep '^icg-bff-image-test-' || true); do
  kill -0 "${name##*-}" 2>/dev/null || buildah rm "$name" >/dev/null 2>&1 || true
done

# --- 2. base image -----------------------------------------------------------------------------
FROM_NAME=$(awk 'toupper($1) == "FROM" {print $2; exit}' Dockerfile)
[ -n "$FROM_NAME" ] || die "no FROM line in Dockerfile"
case "$FROM_NAME" in
  */*/*) BASE="$FROM_NAME" ;;
  */*) BASE="docker.io/$FROM_NAME" ;;
  *) BASE="docker.io/library/$FROM_NAME" ;;
esac
if [ "${ICG_IMAGE_REBUILD_BASE:-}" = 1 ]; then buildah rmi -f "$BASE" >/dev/null 2>&1 || true; fi
t=$(now_ms)
if buildah inspect --type image "$BASE" >/dev/null 2>&1; then
  kind=$(buildah inspect --type image --format '{{index .Docker.Config.Labels "icg-bff.stand-in"}}' "$BASE" 2>/dev/null || true)
  say "base $BASE: cached in buildah's storage${kind:+ (stand-in: $kind)}"
elif timeout 60 buildah pull --retry 0 --quiet "$BASE" >/dev/null 2>"$STORAGE/tmp/pull.err"; then
  say "base $BASE: pulled in $((($(now_ms) - t) / 1000)) s"
else
  say "base $BASE: cannot be pulled ($(tail -n 1 "$STORAGE/tmp/pull.err" | cut -c1-160)); assembling a stand-in"
  bash "$HERE/stand-in-base.sh" "$BASE"
  say "base $BASE: stand-in assembled in $((($(now_ms) - t) / 1000)) s"
fi

# --- 3. build ----------------------------------------------------------------------------------
IMAGE=localhost/icg-bff:image-test
t=$(now_ms)
say "building $IMAGE (buildah bud --pull=never --format docker --isolation chroot)"
stamp() { while IFS= read -r line; do
  local ms=$(($(now_ms) - t))
  printf '%3d.%ds %s\n' $((ms / 1000)) $(((ms % 1000) / 100)) "$line"
done; }
if ! buildah bud --pull=never --format docker --isolation chroot --tag "$IMAGE" --file Dockerfile . 2>&1 | stamp >"$STORAGE/tmp/build.log"; then
  tail -n 40 "$STORAGE/tmp/build.log" >&2
  die "buildah bud failed (full log: $STORAGE/tmp/build.log)"
fi
BUILD_MS=$(($(now_ms) - t))
say "built in $((BUILD_MS / 1000)).$(((BUILD_MS % 1000) / 100)) s"
# The previous run's image and the build stages are left untagged: drop them (they are ours alone).
buildah rmi --prune >/dev/null 2>&1 || true

# --- 4. run and check --------------------------------------------------------------------------
if [ ! -f packages/icg-sandbox/dist/cli.js ]; then npm run build --workspace @icg-bff/icg-sandbox >/dev/null; fi
export ICG_IMAGE="$IMAGE" ICG_IMAGE_BASE="$BASE" ICG_IMAGE_BUILD_MS="$BUILD_MS"
rc=0
node_modules/.bin/tsx "$HERE/check-image.ts" || rc=$?
say "total $((($(now_ms) - T0) / 1000)) s"
exit "$rc"
