#!/bin/bash
# setup.sh prepares what the qemu-system-aarch64 test harness boots: Debian's arm64 kernel,
# an out-of-tree tpm_tis.ko (Debian's arm64 kernels ship with CONFIG_TCG_TIS unset, so QEMU's
# tpm-tis-device has no driver), and the kernel modules the guest needs for virtio-blk, ext4
# and virtio-net, in load order.
#
# Usage: board/qemu/setup.sh [CACHE]      (CACHE defaults to $HOME/.cache/posagent/qemu)
#
# Idempotent: the result lives in CACHE/<kernel ABI>/ (e.g. 6.1.0-56-arm64) and is reused
# while linux-image-arm64 still points at that ABI; CACHE/current links to it. The last line
# printed is the asset directory. Only the apt-get install of missing host tools needs root;
# the kernel and headers come through PRIVATE apt lists (no dpkg --add-architecture).
# If the mirror is unreachable but an asset directory exists, that one is used.
set -euo pipefail

CACHE=$(realpath -m "${1:-${POSAGENT_QEMU_CACHE:-$HOME/.cache/posagent/qemu}}")
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9 # one setup at a time per cache

log() { echo "setup: $*" >&2; }

# 1. Host tools. qemu-system-arm provides qemu-system-aarch64; e2fsprogs gives mkfs.ext4 -d.
need=()
for p in qemu-system-arm swtpm e2fsprogs xz-utils make gcc-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
done
if ((${#need[@]})); then
	if [ "$(id -u)" != 0 ]; then
		log "missing Debian packages: ${need[*]} (run this script as root once to install them)"
		exit 1
	fi
	log "installing ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. Private apt state for arm64 (the kernel, headers) and for the host arch (kbuild, source).
HOSTARCH=$(dpkg --print-architecture)
A64=(-o APT::Architecture=arm64 -o APT::Architectures=arm64
	-o "Dir::State::Lists=$CACHE/apt-arm64/lists" -o "Dir::Cache=$CACHE/apt-arm64/cache"
	-o Dir::State::Status=/dev/null -o Debug::NoLocking=1)
AHOST=(-o "APT::Architecture=$HOSTARCH" -o "APT::Architectures=$HOSTARCH"
	-o "Dir::State::Lists=$CACHE/apt-host/lists" -o "Dir::Cache=$CACHE/apt-host/cache"
	-o Dir::State::Status=/dev/null -o Debug::NoLocking=1)
mkdir -p "$CACHE"/apt-{arm64,host}/{lists/partial,cache/archives/partial}

if ! apt-get "${A64[@]}" update -qq 2>/dev/null; then
	if [ -e "$CACHE/current/.complete" ]; then
		log "apt mirror unreachable; using cached $(readlink "$CACHE/current")"
		realpath "$CACHE/current"
		exit 0
	fi
	log "apt-get update (arm64 lists) failed and nothing is cached"
	exit 1
fi

KPKG=$(apt-cache "${A64[@]}" depends linux-image-arm64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$KPKG" ] || { log "cannot resolve linux-image-arm64"; exit 1; }
ABI=${KPKG#linux-image-}                                                        # 6.1.0-56-arm64
KVER=$(apt-cache "${A64[@]}" show "$KPKG" | awk '/^Version:/{print $2; exit}')  # 6.1.192-2
SERIES=$(echo "$ABI" | cut -d. -f1-2)                                          # 6.1
DIR="$CACHE/$ABI"

if [ -e "$DIR/.complete" ]; then
	ln -sfn "$ABI" "$CACHE/current"
	log "kernel $ABI ($KVER) already prepared"
	echo "$DIR"
	exit 0
fi

log "preparing kernel $ABI ($KVER) in $DIR"
WORK=$(mktemp -d "$CACHE/work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
DEBS="$CACHE/debs-$ABI" # kept until the asset directory is complete (a failed build does not re-download)
mkdir -p "$DEBS" root kmod out/modules
apt-get "${AHOST[@]}" update -qq
# Header package names are derived from the ABI: linux-headers-6.1.0-56-arm64 depends on
# linux-headers-6.1.0-56-common and on the host-arch linux-kbuild-6.1 of the same version.
fetch() { # fetch APTOPTS-array-name PACKAGE[=VERSION]
	local -n opts=$1
	local pkg=${2%%=*}
	compgen -G "$DEBS/${pkg}_*.deb" >/dev/null && return 0
	(cd "$DEBS" && apt-get "${opts[@]}" download -qq "$2") 2>"$WORK/download.log" ||
		{ grep -v -i unsandboxed "$WORK/download.log" >&2; log "download of $2 failed"; exit 1; }
}
fetch A64 "$KPKG"
fetch A64 "linux-headers-$ABI"
fetch A64 "linux-headers-${ABI%-arm64}-common"
fetch AHOST "linux-kbuild-$SERIES=$KVER"
fetch AHOST "linux-source-$SERIES=$KVER"
for d in "$DEBS"/*.deb; do dpkg -x "$d" root; done
MODROOT="root/lib/modules/$ABI"
[ -f "root/boot/vmlinuz-$ABI" ] || { log "kernel image missing from $KPKG"; exit 1; }

# 3. tpm_tis.ko, built out of tree against the matching headers (CONFIG_MODVERSIONS: the
# module must match the ABI exactly).
H="$WORK/root/usr/src/linux-headers-$ABI"
sed -i "s#include /usr/src/#include $WORK/root/usr/src/#" "$H/Makefile"
tar -xJf "root/usr/src/linux-source-$SERIES.tar.xz" -C kmod --strip-components=4 \
	"linux-source-$SERIES/drivers/char/tpm/tpm_tis.c" \
	"linux-source-$SERIES/drivers/char/tpm/tpm.h" \
	"linux-source-$SERIES/drivers/char/tpm/tpm_tis_core.h"
echo 'obj-m := tpm_tis.o' >kmod/Kbuild
make -s -C "$H" M="$WORK/kmod" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- modules >&2
aarch64-linux-gnu-strip --strip-debug kmod/tpm_tis.ko

# 4. The modules the guest loads, with their dependencies, in load order. The .deb carries
# no modules.dep (depmod runs at install), so the "depends=" field of each module's .modinfo
# section is read directly. Modules built into this kernel have no file and are skipped.
declare -A file=() seen=()
while IFS= read -r p; do
	b=$(basename "$p")
	b=${b%%.ko*}
	file[${b//-/_}]=$p
done < <(cd "$MODROOT" && find kernel -name '*.ko*')
order=()
visit() { # depth-first: dependencies first
	local name=${1//-/_} path deps d
	path=${file[$name]:-}
	[ -n "$path" ] || return 0
	[ -z "${seen[$name]:-}" ] || return 0
	seen[$name]=1
	case "$path" in
	*.ko) deps=$(tr '\0' '\n' <"$MODROOT/$path" | sed -n 's/^depends=//p' | head -n 1) ;;
	*.ko.xz) deps=$(xz -dc "$MODROOT/$path" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1) ;;
	*.ko.zst) deps=$(zstd -qdc "$MODROOT/$path" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -n 1) ;;
	esac
	for d in ${deps//,/ }; do visit "$d"; done
	order+=("$path")
}
# ext4 asks the crypto API for "crc32c" at mount time (request_module; there is no modprobe in
# the guest), so its driver is listed explicitly. virtio_rng seeds the guest's CRNG quickly.
for m in tpm_tis_core virtio_pci virtio_blk crc32c_generic ext4 virtio_net virtio_rng; do visit "$m"; done
: >out/modules/order
for p in "${order[@]}"; do
	b=$(basename "$p")
	case "$b" in
	*.ko) cp "$MODROOT/$p" out/modules/ ;;
	*.ko.xz) xz -dc "$MODROOT/$p" >"out/modules/${b%.xz}"; b=${b%.xz} ;;
	*.ko.zst) zstd -qdc "$MODROOT/$p" >"out/modules/${b%.zst}"; b=${b%.zst} ;;
	*.ko.gz) gzip -dc "$MODROOT/$p" >"out/modules/${b%.gz}"; b=${b%.gz} ;;
	esac
	echo "$b" >>out/modules/order
done
cp kmod/tpm_tis.ko out/modules/
echo tpm_tis.ko >>out/modules/order
grep -q '^tpm_tis_core.ko$' out/modules/order || { log "tpm_tis_core.ko not found in $KPKG"; exit 1; }

cp "root/boot/vmlinuz-$ABI" out/vmlinuz
cp "root/boot/config-$ABI" out/config
cat >out/kernel.env <<EOF
ABI=$ABI
KVER=$KVER
PACKAGE=$KPKG
EOF
touch out/.complete
rm -rf "$DIR"
mv out "$DIR"
ln -sfn "$ABI" "$CACHE/current"
rm -rf "$DEBS"
log "modules: $(tr '\n' ' ' <"$DIR/modules/order")"
echo "$DIR"
