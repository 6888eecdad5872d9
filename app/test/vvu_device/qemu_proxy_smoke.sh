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
#    registers through an mmap of resource0, then a polling driver with
#    rxq/txq in guest RAM;
# 3. a socketpair: one end to dpdk-vvu-device --qemu-proxy-fd, the other
#    to qemu-system-x86_64 -device x-pci-proxy-dev,fd=N;
# 4. once the probe says "backend up", this script is the vhost-user
#    front-end: GET_FEATURES (the guest answers on txq), then SET_MEM_TABLE
#    of a memfd holding "VVU-BAR2" at 0x100, which the guest reads through
#    BAR2 and answers by writing "GUEST-WR" at 0x200;
# 5. the guest powers off; QEMU exits, closing its end; the device must
#    then exit 0.
# Passes (exit 0) when the probe printed "VVU-PROBE: PASS", the front-end
# got its reply and saw the guest's write, and the device exited 0.
# Needs: qemu-system-x86, busybox-static, gcc, python3. VVU_SMOKE_KEEP=1
# keeps the work directory (initramfs, device.log).
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
trap '[ -n "${VVU_SMOKE_KEEP:-}" ] || rm -rf "$work"' EXIT
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

# Bash cannot make a socketpair: Python holds both ends and plays the front-end.
python3 - "$device" "$kernel" "$work" "$timeout_s" <<'EOF'
import os, socket, struct, subprocess, sys, threading

device, kernel, work, timeout_s = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
vu_path = os.path.join(work, "vhost.sock")
dev_end, qemu_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
dev_cmd = [device, "--qemu-proxy-fd", str(dev_end.fileno()), "--vhost-user", vu_path, "-v"]
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

lines = []
backend_up = threading.Event()


def serial():
    for raw in qemu.stdout:
        line = raw.decode(errors="replace").rstrip()
        lines.append(line)
        if "VVU-PROBE" in line or "qemu-system" in line:
            print("guest:", line, flush=True)
        if "VVU-PROBE: backend up" in line:
            backend_up.set()


reader = threading.Thread(target=serial, daemon=True)
reader.start()
fe_ok = False
fe_mem = os.memfd_create("smoke-fe")
os.ftruncate(fe_mem, 2 << 20)
os.pwrite(fe_mem, b"VVU-BAR2", 0x100)
if backend_up.wait(timeout_s):
    fe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fe.settimeout(timeout_s)
    fe.connect(vu_path)
    fe.sendall(struct.pack("<III", 1, 1, 0))                      # GET_FEATURES
    reply = b""
    while len(reply) < 20:
        chunk = fe.recv(20 - len(reply))
        if not chunk:
            break
        reply += chunk
    if len(reply) == 20:
        req, flags, size, feat = struct.unpack("<IIIQ", reply)
        print("front-end: reply request %d flags %#x size %d features %#x" %
              (req, flags, size, feat), flush=True)
        fe_ok = req == 1 and size == 8 and feat == 1 << 32
    # SET_MEM_TABLE: one region, the memfd, 2 MiB
    table = struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 2 << 20, 0x7f0000000000, 0)
    socket.send_fds(fe, [struct.pack("<III", 5, 1, len(table)) + table], [fe_mem])
try:
    qemu.wait(timeout=timeout_s)
except subprocess.TimeoutExpired:
    qemu.kill()
    qemu.wait()
    print("qemu_proxy_smoke: the guest did not power off in %d s" % timeout_s)
reader.join(5)
guest_wrote = os.pread(fe_mem, 8, 0x200)
print("front-end: its memory at 0x200 now holds %r" % guest_wrote)
try:
    dev_status = dev.wait(timeout=10)
except subprocess.TimeoutExpired:
    dev.kill()
    dev_status = "still running 10 s after QEMU exited"
dev_log.seek(0)
log = dev_log.read().splitlines()
print("device: %d log lines, last: %s" % (len(log), log[-1] if log else "-"))
print("device exit status:", dev_status)
ok = (any("VVU-PROBE: PASS" in l for l in lines) and fe_ok and
      guest_wrote == b"GUEST-WR" and dev_status == 0)
print("qemu_proxy_smoke:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
EOF
