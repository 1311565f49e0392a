#!/bin/busybox sh
# guest_init.sh — /init of the guest that tests/vm/run_in_vm.sh boots (busybox sh, in the initramfs): mounts the
# host's root (9p, read-only) under a tmpfs overlay, makes the kernel's modules and busybox's modprobe visible
# there, brings loopback up, loads kernel TLS unless told not to, runs the command the host left in the
# transfer share and writes its exit status back there, then powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

arg() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" /proc/cmdline; }
kver=$(arg tollgate.kver)
xfer=$(arg tollgate.xfer)
load_tls=$(arg tollgate.tls)
cwd=$(arg tollgate.cwd)
die() { echo "guest_init: $*"; echo o > /proc/sysrq-trigger; sleep 10; }

for m in virtio_pci 9pnet_virtio 9p overlay virtio_rng; do modprobe "$m" || die "modprobe $m failed"; done
mkdir -p /mnt/lower /mnt/rw /mnt/xfer
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /mnt/lower || die "cannot mount the host's root"
mount -t tmpfs -o size=75% rw /mnt/rw
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work root /newroot || die "overlay mount failed"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 xfer /mnt/xfer || die "cannot mount the transfer share"

# the guest kernel's modules and a modprobe for them (the host has neither), in the overlay's tmpfs
mkdir -p /newroot/usr/lib/modules /newroot/opt/tollgate-vm/bin
cp -a "/lib/modules/$kver" /newroot/usr/lib/modules/
cp /bin/busybox /newroot/opt/tollgate-vm/bin/busybox
for a in modprobe insmod rmmod lsmod modinfo; do ln -sf busybox "/newroot/opt/tollgate-vm/bin/$a"; done
echo /bin/modprobe > /proc/sys/kernel/modprobe # the kernel's own requests run in this initramfs

mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/xfer && mount --bind /mnt/xfer /newroot/xfer
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs shm /newroot/dev/shm
mount -t tmpfs run /newroot/run
mount -t tmpfs tmp /newroot/tmp
# a caller working under /tmp (a fresh clone there): its directory, writable, over the guest's empty /tmp
case "$cwd" in
/tmp/?*)
  mkdir -p "/newroot$cwd" /mnt/rw/cwd-upper /mnt/rw/cwd-work
  mount -t overlay -o "lowerdir=/mnt/lower$cwd,upperdir=/mnt/rw/cwd-upper,workdir=/mnt/rw/cwd-work" cwd "/newroot$cwd" ||
    die "cannot mount $cwd"
  ;;
esac
ip link set lo up
hostname tollgate-vm
ulimit -n 1048576 2>/dev/null || ulimit -n 65536
if [ "$load_tls" = 1 ]; then modprobe tls || die "modprobe tls failed"; fi

# the command: in the host's root, with the host's PATH (plus the guest's module tools)
chroot /newroot /bin/sh -c '/bin/bash /xfer/cmd.sh; echo $? > /xfer/rc' </dev/console >/dev/console 2>&1
sync
echo o > /proc/sysrq-trigger
sleep 10
