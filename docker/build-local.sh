#!/usr/bin/env bash
# Builds the image from docker/Dockerfile, unchanged, with buildah, on a machine that has no
# Docker engine and cannot pull from a registry of images. When the Dockerfile's base images are
# missing from buildah's storage, it makes local equivalents under the same names first:
#
#   debian:bookworm-slim  `debootstrap --variant=minbase bookworm` (Debian's packages)
#   rust:1.95-bookworm    that, plus a C toolchain, perl, make and pkg-config (the vendored OpenSSL's
#                         build) from Debian, plus the Rust 1.95.0 toolchain this machine's rustup
#                         holds, copied in (no toolchain is downloaded)
#
# Then `buildah bud --isolation chroot --layers`: layers are cached in buildah's storage, so a
# rebuild after a code change recompiles only the service, not its dependencies.
#
#   bash docker/build-local.sh [tag]      # default tag: shuangbai
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-shuangbai}"
export BUILDAH_ISOLATION=chroot

# The names the Dockerfile uses, as buildah stores them.
DEBIAN=docker.io/library/debian:bookworm-slim
RUST=docker.io/library/rust:1.95-bookworm
RUST_TOOLCHAIN=1.95.0-x86_64-unknown-linux-gnu

have() { buildah inspect --type image "$1" >/dev/null 2>&1; }

if ! have "$DEBIAN"; then
  echo "-- making $DEBIAN with debootstrap"
  rootfs=$(mktemp -d)
  debootstrap --variant=minbase bookworm "$rootfs" >/dev/null
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  ctr=$(buildah from scratch)
  buildah copy "$ctr" "$rootfs/" / >/dev/null
  buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash "$ctr"
  buildah commit -q "$ctr" "$DEBIAN" >/dev/null
  buildah rm "$ctr" >/dev/null
  rm -rf "$rootfs"
fi

if ! have "$RUST"; then
  echo "-- making $RUST from $DEBIAN and this machine's Rust toolchain"
  toolchain=$(readlink -f "${RUSTUP_HOME:-$HOME/.rustup}/toolchains/$RUST_TOOLCHAIN" 2>/dev/null || true)
  if [ ! -x "$toolchain/bin/cargo" ]; then
    # rustup may hold 1.95.0 as `stable` only.
    for dir in "${RUSTUP_HOME:-$HOME/.rustup}"/toolchains/*; do
      if "$dir/bin/rustc" --version 2>/dev/null | grep -q '^rustc 1\.95\.0 '; then toolchain=$dir; fi
    done
  fi
  [ -x "$toolchain/bin/cargo" ] || { echo "no Rust 1.95.0 toolchain under rustup"; exit 1; }
  ctr=$(buildah from --pull-never "$DEBIAN")
  buildah run "$ctr" -- sh -c 'apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
       gcc libc6-dev make perl pkg-config ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/*'
  # Certificates this machine trusts beyond Debian's (an egress proxy's, say), so cargo reaches
  # the crate registry from inside the build as it does from here.
  if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    buildah copy "$ctr" /usr/local/share/ca-certificates /usr/local/share/ca-certificates >/dev/null
    buildah run "$ctr" -- update-ca-certificates >/dev/null
  fi
  # The toolchain without its documentation (share/), as the official image has it.
  for part in bin lib libexec etc; do
    buildah copy "$ctr" "$toolchain/$part" "/usr/local/rustup/toolchains/$RUST_TOOLCHAIN/$part" >/dev/null
  done
  buildah run "$ctr" -- sh -c "mkdir -p /usr/local/cargo/bin && for b in cargo rustc rustdoc; do \
    ln -sf /usr/local/rustup/toolchains/$RUST_TOOLCHAIN/bin/\$b /usr/local/cargo/bin/\$b; done"
  buildah config --env RUSTUP_HOME=/usr/local/rustup --env CARGO_HOME=/usr/local/cargo \
    --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env RUST_VERSION=1.95.0 "$ctr"
  buildah run "$ctr" -- cargo --version
  buildah commit -q "$ctr" "$RUST" >/dev/null
  buildah rm "$ctr" >/dev/null
fi

echo "-- buildah bud -f docker/Dockerfile -t $tag"
buildah bud --isolation chroot --layers --pull-never -f docker/Dockerfile -t "$tag" .
buildah images --format '{{.Name}}:{{.Tag}} {{.Size}}' "$tag"
