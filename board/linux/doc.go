// Package linux implements board.Board for Linux terminals from the device tree, DMI,
// sysfs, /etc/machine-id and /dev, and owns the board profiles (qemu-virt,
// generic-arm64, generic-armv7, generic-amd64).
//
// Every path is read below Config.Root ("/" in production), so tests run against a fake
// tree of real files. A missing or unreadable source is skipped (logged at debug level)
// and the next one is tried; nothing here panics on what it reads.
//
// # Profile
//
// Config.Profile when set; else "qemu-virt" when the device tree's compatible list
// contains "linux,dummy-virt" (QEMU's -M virt); else generic-<arch> from Config.Arch
// (runtime.GOARCH by default): arm64, arm (armv7) or amd64.
//
// # Identity (read once, by New)
//
//   - Model: Config.Model; /proc/device-tree/model; DMI product_name; DMI board_name;
//     the profile's description.
//   - Serial: Config.Serial; /proc/device-tree/serial-number; DMI product_serial; DMI
//     board_serial; the machine id. DMI placeholders ("To Be Filled By O.E.M.",
//     "Default string", all zeros, ...) are skipped. DMI serials are readable by root
//     only, so an unprivileged daemon falls back to the machine id, which changes when the
//     system is reinstalled: give the daemon a device-tree or DMI serial (or Config.Serial)
//     where the EGS must survive a reinstall.
//   - MachineID: /etc/machine-id, then /var/lib/dbus/machine-id (32 hex digits;
//     systemd's "uninitialized" counts as absent).
//
// /proc/device-tree falls back to /sys/firmware/devicetree/base.
//
// # Devices (read at every call: USB printers come and go)
//
//   - TPM: Config.TPM; else for each /sys/class/tpm/tpmN of TPM version 2 (lowest N
//     first), /dev/tpmrmN, then /dev/tpmN; without that sysfs class, /dev/tpmrm0, then
//     /dev/tpm0.
//   - Printer port: Config.PrinterPort; else the profile's ports; /dev/ttyUSB*;
//     /dev/ttyACM*; a /dev/ttyS* with a real UART behind it (sysfs type not 0: the 8250
//     driver always creates ttyS0-3 placeholders that fail to open with EIO). Baud:
//     Config.PrinterBaud, else the profile's.
//
// # Clock
//
// ClockSanity compares the clock with Config.ClockFloor (board.DefaultClockFloor by
// default), reads the kernel's STA_UNSYNC flag and maximum error with adjtimex, and reads
// the RTC from /sys/class/rtc (the one marked hctosys first).
//
// Package linux imports board and golang.org/x/sys/unix. It must not import agent, hsm,
// store, printer or offline.
package linux
