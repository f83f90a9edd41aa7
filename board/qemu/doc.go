// Package qemu is the host side of posagent's qemu-system-aarch64 test harness: it boots
// Debian's arm64 kernel on QEMU's virt machine (cortex-a53, 512 MiB) with the devices of
// a real terminal, runs a plan of programs and test binaries inside, and reports what
// the console said.
//
// The guest has a vTPM (swtpm behind tpm-tis-device; setup.sh builds the tpm_tis module
// Debian's arm64 kernel lacks), the receipt printer on /dev/ttyS0 (a PCI 16550 wired to a
// host unix socket), a persistent ext4 disk on /dev/vda (virtio-blk), an RNG and,
// optionally, user-mode networking (the host's 127.0.0.1 services at 10.0.2.2).
//
// The pieces:
//
//   - setup.sh (run once; cached under $HOME/.cache/posagent/qemu/<kernel ABI>): the
//     kernel, tpm_tis.ko and the virtio/ext4 modules. Setup and LoadAssets find them.
//   - GoBuild: static linux/arm64 programs and test binaries for the guest.
//   - Initramfs and Guest: the gzip cpio (newc) with testinit as /init, the modules, the
//     plan file (board/qemu/plan) and the binaries; no root, no mknod.
//   - MakeDisk: the ext4 image (mkfs.ext4 -d).
//   - Machine.Boot: a fresh swtpm on the TPM state directory, QEMU, the console captured
//     to a log, a wall-clock timeout, and an optional power cut (SIGKILL of QEMU and
//     swtpm when a console line matches); booting again on the same disk and TPM state
//     is the recovery after the cut.
//   - Recorder: a host printer that records bytes and answers DLE EOT.
//
// board/qemu/testinit is the guest's /init, board/qemu/guestcheck the device checks run
// inside, board/qemu/posdrive the till that drives posagentd through posctl inside,
// board/qemu/qemurun the command-line front end. The end-to-end tests are behind the
// "qemu" build tag: go test -tags qemu ./board/qemu/ (TestSmoke: the devices and a power
// cut; TestDaemonInGuest: the daemon, onboarding, sales, a power cut mid-sale).
//
// Package qemu imports only the standard library and board/qemu/plan. The daemon never
// links it.
package qemu
