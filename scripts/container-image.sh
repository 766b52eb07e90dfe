#!/bin/bash
# Build the safeguard container image without an image registry (docs/containers.md):
#   1. the base: a Debian bookworm root filesystem made by mmdebstrap from Debian's packages, with
#      Python 3.11, imported with `podman import` as localhost/safeguard-base:bookworm;
#   2. the wheels of pyproject.toml's dependencies, downloaded by this machine's pip (its index,
#      proxy and certificates), so that the build itself needs no network;
#   3. `podman build` of the Containerfile, tagged localhost/safeguard:latest and :<hash>.
# Each step is cached under var/container by a content hash: the base by this script's mmdebstrap
# line, the wheels by pyproject.toml's dependencies, the image by pyproject.toml + Containerfile + the project's
# files. A second run with nothing changed takes seconds.
#
#   scripts/container-image.sh          build (or reuse) and print the image name
#   scripts/container-image.sh --podman print the podman options this machine needs, for other scripts
#
# Podman runs as root with the vfs storage driver, runc, cgroupfs and no default ulimits: what
# works on the project's machines (crun and --cgroups=disabled do not). Override with PODMAN_OPTS.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${SAFEGUARD_IMAGE_CACHE:-$ROOT/var/container}
IMAGE=${SAFEGUARD_IMAGE:-localhost/safeguard}
BASE=localhost/safeguard-base:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-venv,ca-certificates
PODMAN_OPTS=${PODMAN_OPTS:---storage-driver=vfs --runtime=runc --cgroup-manager=cgroupfs}
mkdir -p "$CACHE"
export CONTAINERS_CONF=${CONTAINERS_CONF:-$CACHE/containers.conf}
[ -f "$CONTAINERS_CONF" ] || printf '[containers]\ndefault_ulimits = []\n' > "$CONTAINERS_CONF"
if [ "${1:-}" = "--podman" ]; then echo "CONTAINERS_CONF=$CONTAINERS_CONF podman $PODMAN_OPTS"; exit 0; fi
# shellcheck disable=SC2086
pod() { podman $PODMAN_OPTS "$@"; }
say() { echo "container-image: $*" >&2; }

need=()
for tool in podman:podman runc:runc mmdebstrap:mmdebstrap; do
    command -v "${tool%%:*}" >/dev/null || need+=("${tool#*:}")
done
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# 1. the base root filesystem
base_key=$(echo "mmdebstrap --variant=minbase --include=$PACKAGES bookworm" | sha256sum | cut -c1-16)
if ! pod image exists "$BASE-$base_key"; then
    say "making the Debian bookworm base with mmdebstrap (a few minutes, once)"
    mmdebstrap --quiet --variant=minbase --include="$PACKAGES" bookworm "$CACHE/rootfs.tar" "$MIRROR"
    pod import --quiet "$CACHE/rootfs.tar" "$BASE-$base_key" >/dev/null
    pod tag "$BASE-$base_key" "$BASE"
    rm -f "$CACHE/rootfs.tar"
fi

# 2. the dependencies' wheels
# Debian's own python3, the one in the image (bookworm: 3.11.2), so that markers such as
# python_full_version pick the wheels the image needs
if [ ! -x "$CACHE/pip/bin/python" ]; then
    command -v python3 >/dev/null && python3 -c "import venv, ensurepip" 2>/dev/null || {
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null; }
    /usr/bin/python3 -m venv "$CACHE/pip"
fi
python=$CACHE/pip/bin/python
# keyed by the dependency list alone: a change elsewhere in pyproject.toml downloads nothing again
requirements=$("$python" -c 'import tomllib,sys; print("\n".join(tomllib.load(open(sys.argv[1],"rb"))["project"]["dependencies"]))' \
    "$ROOT/pyproject.toml"; echo "setuptools>=68")
wheels_key=$({ "$python" --version; echo "$requirements"; } | sha256sum | cut -c1-16)
wheels=$CACHE/wheels-$wheels_key
if [ ! -f "$wheels/.complete" ]; then
    say "downloading the wheels of pyproject.toml's dependencies"
    rm -rf "$wheels" && mkdir -p "$wheels"
    echo "$requirements" > "$wheels/requirements.txt"
    "$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$wheels" \
        -r "$wheels/requirements.txt" 2>&1 | grep -v "^WARNING: Location" >&2 || true
    ls "$wheels"/prefect-*.whl >/dev/null  # the download worked
    touch "$wheels/.complete"
fi

# 3. the image
sources=(pyproject.toml README.md prefect.yaml safeguard flows tasks cli testkit templates)
image_key=$(cd "$ROOT" && { cat Containerfile; find "${sources[@]}" -type f ! -name '*.pyc' -print0 \
    | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
if ! pod image exists "$IMAGE:$image_key"; then
    say "building $IMAGE:$image_key"
    context=$CACHE/context
    rm -rf "$context" && mkdir -p "$context/app"
    cp "$ROOT/Containerfile" "$context/"
    cp -r "$wheels" "$context/wheels"
    (cd "$ROOT" && tar --exclude='__pycache__' -cf - "${sources[@]}") | tar -xf - -C "$context/app"
    pod build --layers --build-arg BASE="$BASE" -t "$IMAGE:$image_key" -t "$IMAGE:latest" \
        -f "$context/Containerfile" "$context" >"$CACHE/build.log" 2>&1 || {
        tail -20 "$CACHE/build.log" >&2; say "the build failed: $CACHE/build.log"; exit 1; }
    rm -rf "$context"
fi
pod tag "$IMAGE:$image_key" "$IMAGE:latest"
# older builds of the image and older wheel sets are not kept (vfs storage copies every layer)
find "$CACHE" -maxdepth 1 -name 'wheels-*' ! -name "wheels-$wheels_key" -exec rm -rf {} +
pod images --format '{{.Repository}}:{{.Tag}}' | grep "^$IMAGE:" | grep -v -e ":$image_key\$" -e ':latest$' \
    | xargs -r podman $PODMAN_OPTS rmi >/dev/null 2>&1 || true
echo "$IMAGE:$image_key"
