#!/usr/bin/env bash
# run_in_vm.sh — runs one command inside a throw-away KVM guest booted from Debian's stock kernel package, with
# this machine's root filesystem as the guest's (read-only 9p share under a tmpfs overlay: the guest sees the
# same files, binaries, Python and build tree, and its writes vanish with it). Made for what the host's kernel
# cannot do (kernel TLS: a container's kernel without the `tls` module); the virtme approach, no disk image.
#
#   tests/vm/run_in_vm.sh [--cpus N] [--mem MiB] [--no-tls] [--timeout S] [--accel kvm|tcg] [--out DIR] -- COMMAND...
#
# The guest: `-enable-kvm -cpu host`, N vCPUs (default 2), MiB of memory (default 2048), loopback only, the
# command run as root in the caller's directory with the caller's TOLLGATE_*, BENCH_*, PYTEST_* and PATH
# variables, `modprobe tls` done first (--no-tls leaves the module out until the command loads it:
# `modprobe tls`; busybox's modprobe/rmmod/lsmod are on the guest's PATH). Its console (the command's output,
# stdout and stderr together) is this script's stdout; the script exits with the command's exit status. Files the
# command writes under $TOLLGATE_VM_OUT (a writable share) are copied to --out DIR when it ends.
# Exit 77 (the automake "skipped" code) with the reason on stderr when the test bed cannot exist here: no
# /dev/kvm, no qemu-system-x86_64, or the kernel package not downloaded (`scripts/deps.sh --vm` fetches it).
#
# The kernel: the newest `linux-image-*-amd64` .deb in the cache (TOLLGATE_VM_CACHE, default
# ~/.cache/tollgate-vm), unpacked with `dpkg-deb -x` (its image and the modules below kept there) — never installed
# into the host's /boot. The
# initramfs is built at run time (cached by kernel version) from busybox-static and the modules the guest
# needs (virtio, 9p, overlayfs, kernel TLS and the kernel's crypto) with busybox's depmod.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD

cpus=2 mem=2048 load_tls=1 timeout=900 accel=${TOLLGATE_VM_ACCEL:-auto} out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cpus) cpus=$2; shift 2 ;;
    --mem) mem=$2; shift 2 ;;
    --no-tls) load_tls=0; shift ;;
    --timeout) timeout=$2; shift 2 ;;
    --accel) accel=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "run_in_vm.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: tests/vm/run_in_vm.sh [--cpus N] [--mem MiB] [--no-tls] -- COMMAND..." >&2; exit 2; }

skip() { echo "run_in_vm.sh: skipped: $*" >&2; exit 77; }
# KVM when the host's KVM is hardware virtualization. Not on a host whose /dev/kvm is PVM (kvm_pvm: KVM without
# VT-x, as inside some microVMs): PVM boots only guest kernels built for it, and Debian's hangs after the boot
# loader. There (and with --accel tcg) qemu's TCG emulates the CPU: correct, ~5-20x slower.
if [ "$accel" = auto ]; then
  accel=tcg
  if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -d /sys/module/kvm_pvm ]; then accel=kvm; fi
fi
case "$accel" in
  kvm) [ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "no usable /dev/kvm"; accel_args=(-enable-kvm -cpu host) ;;
  tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
  *) echo "run_in_vm.sh: --accel kvm|tcg|auto" >&2; exit 2 ;;
esac
command -v qemu-system-x86_64 >/dev/null || skip "no qemu-system-x86_64 (scripts/deps.sh --vm installs qemu-system-x86)"
cache=${TOLLGATE_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/tollgate-vm}
kdeb=$(ls -1 "$cache"/linux-image-*-amd64_*.deb 2>/dev/null | sort -V | tail -n 1 || true)
bdeb=$(ls -1 "$cache"/busybox-static_*.deb 2>/dev/null | tail -n 1 || true)
[ -n "$kdeb" ] && [ -n "$bdeb" ] || skip "no kernel or busybox-static package in $cache (scripts/deps.sh --vm downloads them)"

# ---- the kernel and the initramfs (cached per package: the kernel image and the modules below, ~25 MB)
# what the guest needs: the transport to its root, the overlay, kernel TLS and the crypto it asks for
MODULE_DIRS="drivers/virtio drivers/char/hw_random net/9p fs/9p fs/netfs fs/fscache fs/overlayfs net/tls crypto arch/x86/crypto lib/crypto"
kname=$(basename "$kdeb" .deb)
kdir=$cache/$kname
if [ ! -f "$kdir/.kept" ]; then
  rm -rf "$kdir" "$kdir.unpack"; mkdir -p "$kdir/boot" "$kdir/busybox/bin" "$kdir.unpack"
  dpkg-deb -x "$kdeb" "$kdir.unpack"
  dpkg-deb -x "$bdeb" "$kdir.unpack/bb"
  v=$(ls -1 "$kdir.unpack/lib/modules" | head -n 1)
  cp "$kdir.unpack/boot/vmlinuz-$v" "$kdir/boot/"
  cp "$kdir.unpack/bb/bin/busybox" "$kdir/busybox/bin/"
  mkdir -p "$kdir/lib/modules/$v/kernel"
  cp "$kdir.unpack/lib/modules/$v"/modules.{builtin,order} "$kdir/lib/modules/$v/" 2>/dev/null || true
  for d in $MODULE_DIRS; do
    [ -d "$kdir.unpack/lib/modules/$v/kernel/$d" ] || continue
    mkdir -p "$kdir/lib/modules/$v/kernel/$d"
    cp -a "$kdir.unpack/lib/modules/$v/kernel/$d/." "$kdir/lib/modules/$v/kernel/$d/"
  done
  rm -rf "$kdir.unpack"
  touch "$kdir/.kept"
fi
kver=$(ls -1 "$kdir/lib/modules" | head -n 1)
vmlinuz=$kdir/boot/vmlinuz-$kver
initrd=$kdir/initrd.gz
if [ ! -f "$initrd" ] || [ "$initrd" -ot "$root/tests/vm/run_in_vm.sh" ] || [ "$initrd" -ot "$root/tests/vm/guest_init.sh" ]; then
  stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage"/{bin,dev,proc,sys,mnt,newroot,lib/modules}
  cp "$kdir/busybox/bin/busybox" "$stage/bin/busybox"
  cp "$root/tests/vm/guest_init.sh" "$stage/init"; chmod 755 "$stage/init"
  cp -a "$kdir/lib/modules/$kver" "$stage/lib/modules/"
  "$stage/bin/busybox" depmod -b "$stage" "$kver"
  (cd "$stage" && find . | "$stage/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -1 > "$initrd.tmp")
  mv "$initrd.tmp" "$initrd"
  rm -rf "$stage"; trap - EXIT
fi

# ---- the command, as a script the guest reads through the share; its exit status comes back the same way
xfer=$(mktemp -d /tmp/tollgate-vm.XXXXXX)
mkdir -p "$xfer/out"
qpid=""
cleanup() { [ -n "$qpid" ] && kill "$qpid" 2>/dev/null; rm -rf "$xfer"; }
trap cleanup EXIT
{
  echo "cd $(printf '%q' "$PWD")"
  while IFS='=' read -r name _; do
    case "$name" in
      TOLLGATE_*|BENCH_*|PYTEST_*|PATH|PYTHONPATH|PYENV_*|HOME|LANG|LC_ALL) echo "export $name=$(printf '%q' "${!name}")" ;;
    esac
  done < <(env)
  echo 'export PATH="$PATH:/opt/tollgate-vm/bin" TOLLGATE_IN_VM=1 TOLLGATE_VM_OUT=/xfer/out'
  printf '%q ' "$@"; echo
} > "$xfer/cmd.sh"

# -nographic: the serial console is stdio; -no-reboot: the guest's reboot ends qemu
append="console=ttyS0 ${TOLLGATE_VM_QUIET-quiet} loglevel=3 panic=-1 tollgate.xfer=$xfer tollgate.tls=$load_tls tollgate.kver=$kver"
case "$PWD" in *[[:space:]]*) ;; *) append="$append tollgate.cwd=$PWD" ;; esac # /tmp is the guest's own tmpfs
set +e
echo "run_in_vm.sh: booting $kver ($accel, $cpus vCPUs, $mem MiB)" >&2
timeout --foreground -k 10 "$timeout" qemu-system-x86_64 "${accel_args[@]}" -smp "$cpus" -m "$mem" \
  -nographic -no-reboot -nodefaults -serial stdio -monitor none -nic none \
  -device virtio-rng-pci \
  -kernel "$vmlinuz" -initrd "$initrd" -append "$append" \
  -fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
  -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
  -fsdev local,id=xfer,path="$xfer",security_model=none \
  -device virtio-9p-pci,fsdev=xfer,mount_tag=xfer < /dev/null | sed -u 's/\r$//'
qrc=${PIPESTATUS[0]}
set -e
if [ -n "$out" ]; then mkdir -p "$out" && cp -a "$xfer/out/." "$out/"; fi
if [ -f "$xfer/rc" ]; then
  exit "$(cat "$xfer/rc")"
fi
echo "run_in_vm.sh: the guest ended without the command's exit status (qemu exit $qrc$([ "$qrc" = 124 ] && echo ": timed out after ${timeout}s"))" >&2
exit 125
