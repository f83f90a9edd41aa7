package tpm

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File names inside the state directory.
const (
	currentFile = "stamping-key.blob"
	pendingFile = "stamping-key.next.blob"
	retiredFile = "stamping-key.old.blob" // only between the two renames of Activate
	secretPre   = "secret."
	blobExt     = ".blob"
	tmpMarker   = ".tmp-"
)

func secretFile(name string) string { return secretPre + name + blobExt }

// writeFileAtomic writes data to dir/name so that a crash leaves either the old file or
// the new one: temp file in dir, write, fsync, rename, fsync dir.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+tmpMarker+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return syncDir(dir)
}

// renameDurable renames inside dir and fsyncs dir.
func renameDurable(dir, from, to string) error {
	if err := os.Rename(filepath.Join(dir, from), filepath.Join(dir, to)); err != nil {
		return fmt.Errorf("rename %s to %s: %w", from, to, err)
	}
	return syncDir(dir)
}

// destroyFile overwrites a blob with random bytes, fsyncs, removes it and fsyncs the
// directory. (On flash and copy-on-write file systems the old blocks may survive; the
// blob is useless without this TPM and the activation secret anyway.) A missing file is
// not an error.
func destroyFile(dir, name string) error {
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("destroy %s: %w", name, err)
	}
	fi, err := f.Stat()
	if err == nil {
		noise := make([]byte, fi.Size())
		_, _ = rand.Read(noise)
		_, err = f.WriteAt(noise, 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("destroy %s: overwrite: %w", name, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("destroy %s: %w", name, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync dir: %w", err)
	}
	return nil
}

func exists(dir, name string) (bool, error) {
	_, err := os.Stat(filepath.Join(dir, name))
	if err == nil {
		return true, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return false, err
}

// removeTemps deletes temp files left by a crash in the middle of writeFileAtomic.
func removeTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), tmpMarker) {
			if err := destroyFile(dir, e.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}
