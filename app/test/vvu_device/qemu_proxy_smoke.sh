#!/bin/bash
# SPDX-License-Identifier: BSD-3-Clause
#
# Smoke check of the QEMU proxy front against a real QEMU 7.2 (run by hand,
# not part of devtools/test.sh: it downloads a kernel package and boots a
# TCG guest, about a minute on 2 cores).
#
# Usage: app/test/vvu_device/qemu_proxy_smoke.sh [BUILD_DIR]   (default: build)
#
# 1. a Debian cloud kernel (apt-get download of linux-image-cloud-amd64's
#    dependency, unpacked with dpkg-deb, cached in $VVU_SMOKE_DIR), or
#    $VVU_SMOKE_KERNEL;
# 2. a busybox initramfs whose /init runs qemu_proxy_probe (built static
#    here): identity, capability chain and BARs from sysfs config, BAR0
#    registers through an mmap of resource0;
# 3. a socketpair: one end to dpdk-vvu-device --qemu-proxy-fd, the other
#    to qemu-system-x86_64 -device x-pci-proxy-dev,fd=N;
# 4. the guest powers off; QEMU exits, closing its end; the device must
#    then exit 0.
# Passes (exit 0) when the probe printed "VVU-PROBE: PASS" and the device
# exited 0. Needs: qemu-system-x86, busybox-static, gcc, python3.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
device=$build/app/vvu-device/dpdk-vvu-device
cache=${VVU_SMOKE_DIR:-/tmp/vvu-proxy-smoke}
timeout_s=${VVU_SMOKE_TIMEOUT:-300}

for tool in qemu-system-x86_64 busybox gcc python3 cpio; do
	command -v "$tool" >/dev/null || {
		echo "qemu_proxy_smoke: $tool missing (apt-get install qemu-system-x86" \
			"busybox-static gcc python3 cpio)" >&2
		exit 2
	}
done
[ -x "$device" ] || { echo "qemu_proxy_smoke: no $device (build first)" >&2; exit 2; }

mkdir -p "$cache"
kernel=${VVU_SMOKE_KERNEL:-}
if [ -z "$kernel" ]; then
	kernel=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -1 || true)
fi
if [ -z "$kernel" ]; then
	pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ { print $2 }' |
		head -1)
	echo "qemu_proxy_smoke: downloading $pkg"
	(cd "$cache" && apt-get download "$pkg" >/dev/null)
	dpkg-deb -x "$cache/$pkg"_*.deb "$cache/kernel"
	kernel=$(ls "$cache"/kernel/boot/vmlinuz-* | head -1)
fi

work=$(mktemp -d /tmp/vvu-proxy-smoke.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/initramfs
mkdir -p "$root"/{bin,proc,sys,dev}
cp "$(command -v busybox)" "$root/bin/busybox"
for a in sh mount cat ls poweroff sleep; do
	ln -s busybox "$root/bin/$a"
done
gcc -static -O2 -Wall -Werror -o "$root/bin/probe" "$here/qemu_proxy_probe.c"
cat > "$root/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "VVU-PROBE: guest up"
/bin/probe
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$work/initrd"

# Bash cannot make a socketpair: a few lines of Python hold both ends.
python3 - "$device" "$kernel" "$work" "$timeout_s" <<'EOF'
import os, socket, subprocess, sys

device, kernel, work, timeout_s = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
dev_end, qemu_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
dev_cmd = [device, "--qemu-proxy-fd", str(dev_end.fileno()),
           "--vhost-user", os.path.join(work, "vhost.sock"), "-v"]
qemu_cmd = ["qemu-system-x86_64", "-machine", "q35,accel=tcg,memory-backend=mem",
            "-object", "memory-backend-memfd,id=mem,size=512M,share=on",
            "-device", "intel-iommu,intremap=on",
            "-device", "x-pci-proxy-dev,id=pp0,fd=%d" % qemu_end.fileno(),
            "-kernel", kernel, "-initrd", os.path.join(work, "initrd"),
            "-append", "console=ttyS0 intel_iommu=on panic=-1",
            "-nographic", "-nic", "none", "-no-reboot"]
print("device:", " ".join(dev_cmd))
print("qemu:  ", " ".join(qemu_cmd), flush=True)
dev_log = open(os.path.join(work, "device.log"), "w+")
dev = subprocess.Popen(dev_cmd, pass_fds=[dev_end.fileno()], stderr=dev_log,
                       stdin=subprocess.DEVNULL)
qemu = subprocess.Popen(qemu_cmd, pass_fds=[qemu_end.fileno()], stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
dev_end.close()
qemu_end.close()
try:
    out, _ = qemu.communicate(timeout=timeout_s)
except subprocess.TimeoutExpired:
    qemu.kill()
    out, _ = qemu.communicate()
    print("qemu_proxy_smoke: the guest did not power off in %d s" % timeout_s)
text = out.decode(errors="replace")
for line in text.splitlines():
    if "VVU-PROBE" in line or "x-pci-proxy" in line or "qemu-system" in line:
        print("guest:", line.rstrip())
try:
    dev_status = dev.wait(timeout=10)
except subprocess.TimeoutExpired:
    dev.kill()
    dev_status = "still running 10 s after QEMU exited"
dev_log.seek(0)
lines = dev_log.read().splitlines()
print("device: %d log lines, last: %s" % (len(lines), lines[-1] if lines else "-"))
print("device exit status:", dev_status)
ok = "VVU-PROBE: PASS" in text and dev_status == 0
print("qemu_proxy_smoke:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
EOF
