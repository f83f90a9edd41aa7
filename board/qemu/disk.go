package qemu

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
)

// MakeDisk creates (or overwrites) a raw ext4 image of sizeMiB at path, labelled label,
// with the host directory from copied in when from is not empty (mkfs.ext4 -d: no root,
// no loop device). The guest sees it as /dev/vda.
func MakeDisk(ctx context.Context, path string, sizeMiB int, label, from string) error {
	if sizeMiB < 8 {
		return fmt.Errorf("make disk %s: size %d MiB is below the 8 MiB minimum", path, sizeMiB)
	}
	args := []string{"-q", "-F", "-t", "ext4", "-L", label}
	if from != "" {
		args = append(args, "-d", from)
	}
	args = append(args, path, strconv.Itoa(sizeMiB)+"M")
	out, err := exec.CommandContext(ctx, "mkfs.ext4", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("make disk %s: mkfs.ext4: %w: %s", path, err, out)
	}
	return nil
}

// CheckDisk runs e2fsck -fn on the image (read-only) and returns its report when the
// file system is not clean.
func CheckDisk(ctx context.Context, path string) error {
	out, err := exec.CommandContext(ctx, "e2fsck", "-f", "-n", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("check disk %s: e2fsck: %w: %s", path, err, out)
	}
	return nil
}
