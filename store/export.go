package store

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Export file names inside the folder or tar file, besides the documents.
const (
	ManifestName = "manifest.csv"
	AuditLogName = "audit.jsonl"
)

// Actions Export records in the audit log.
const (
	ActionExported     = "archive.exported"
	ActionExportFailed = "archive.export_failed"
)

// ExportSource is what Export reads from and audits to.
type ExportSource interface {
	Journal
	Audit
}

// ExportOptions says what to export where. At least one of Dir and
// TarPath is required; both may be given.
type ExportOptions struct {
	// Dir receives the files; it is created when missing and must be empty.
	Dir string
	// TarPath receives a tar archive of the same files; it must not exist.
	// The archive appears under its name only once complete.
	TarPath string
	// Range selects the documents (zero: all).
	Range Range
	// Now is the export time written to the audit log.
	Now time.Time
}

// Validate checks the options.
func (o *ExportOptions) Validate() error {
	if o.Dir == "" && o.TarPath == "" {
		return invalid("ExportOptions.Dir", "Dir or TarPath is required")
	}
	if err := ValidateTime("ExportOptions.Now", o.Now); err != nil {
		return err
	}
	return o.Range.Validate()
}

// ExportResult describes a completed export.
type ExportResult struct {
	Documents      int
	FirstICV       uint64 // 0 when no document was in range
	LastICV        uint64
	AuditEntries   int
	ManifestSHA256 string // hex SHA-256 of manifest.csv
	AuditSeq       uint64 // the audit entry recording the export
}

// FileName is the ZATCA archive name of a document (SPEC §3.1, XMLSTD §14):
// <seller VAT>_<YYYYMMDD>T<HHMMSS>_<IRN with every character other than
// an ASCII letter or digit replaced by '-'>.xml, the time in KSA.
func FileName(d *Document) string {
	var b strings.Builder
	b.WriteString(d.SellerVAT)
	b.WriteByte('_')
	b.WriteString(d.IssuedAt.In(KSA).Format("20060102T150405"))
	b.WriteByte('_')
	for _, r := range d.IRN {
		if r < 0x80 && (r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	b.WriteString(".xml")
	return b.String()
}

const exportPage = 200

// Export writes the documents of opts.Range, each under its FileName, a
// manifest (manifest.csv: ICV, UUID, IRN, type, issue time, hash, PIH,
// report status, file name) and the whole audit log (audit.jsonl, one
// entry per line with its hashes) to opts.Dir and/or opts.TarPath, then
// records the export in the audit log. Nothing in the journal changes
// otherwise. Two documents that would share a name (same seller, second
// and IRN) get "-<ICV>" before ".xml" for the later one; the manifest
// names every file. A failed export is audited too and leaves no tar file.
func Export(ctx context.Context, src ExportSource, opts ExportOptions) (res *ExportResult, err error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer func() {
		if err == nil {
			return
		}
		details, _ := json.Marshal(map[string]any{"dir": opts.Dir, "tar": opts.TarPath, "error": err.Error()})
		if _, aerr := src.Record(ctx, Entry{At: opts.Now, Action: ActionExportFailed, Details: details}); aerr != nil {
			err = errors.Join(err, fmt.Errorf("export: audit failure: %w", aerr))
		}
	}()
	head, err := src.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	from, to := max(opts.Range.From, 1), head.ICV
	if opts.Range.To != 0 && opts.Range.To < to {
		to = opts.Range.To
	}

	sinks, err := openSinks(opts)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer func() {
		if err != nil {
			sinks.abort()
		}
	}()

	res = &ExportResult{}
	var manifest bytes.Buffer
	mw := csv.NewWriter(&manifest)
	mw.Write([]string{"icv", "uuid", "irn", "type", "type_name", "issued_at", "hash", "pih", "report_status", "file"})
	links := newLinksFile(src)
	used := make(map[string]bool)
	next := from
	for lo := from; lo <= to && to > 0; lo += exportPage {
		hi := min(lo+exportPage-1, to)
		docs, err := src.List(ctx, Range{From: lo, To: hi})
		if err != nil {
			return nil, fmt.Errorf("export: list %d-%d: %w", lo, hi, err)
		}
		for _, d := range docs {
			if d.ICV != next {
				return nil, fmt.Errorf("export: journal returned ICV %d where %d was expected", d.ICV, next)
			}
			next++
			name := FileName(d)
			if used[name] {
				name = strings.TrimSuffix(name, ".xml") + "-" + strconv.FormatUint(d.ICV, 10) + ".xml"
			}
			used[name] = true
			if err := sinks.write(name, d.XML, d.IssuedAt); err != nil {
				return nil, fmt.Errorf("export: %w", err)
			}
			mw.Write([]string{strconv.FormatUint(d.ICV, 10), d.UUID, d.IRN, string(d.Type), d.TypeName,
				d.IssuedAt.In(KSA).Format(time.RFC3339), d.Hash, d.PIH, string(d.Report.Status), name})
			if err := links.add(ctx, d); err != nil {
				return nil, fmt.Errorf("export: %w", err)
			}
			if res.FirstICV == 0 {
				res.FirstICV = d.ICV
			}
			res.LastICV = d.ICV
			res.Documents++
		}
	}
	if to > 0 && next != to+1 {
		return nil, fmt.Errorf("export: journal ended at ICV %d, head is %d", next-1, to)
	}
	mw.Flush()
	if err := mw.Error(); err != nil {
		return nil, fmt.Errorf("export: manifest: %w", err)
	}

	var audit bytes.Buffer
	var lastSeq uint64
	var lastHash string
	for {
		entries, err := src.Entries(ctx, AuditFilter{FromSeq: lastSeq + 1, Limit: 1000})
		if err != nil {
			return nil, fmt.Errorf("export: audit log: %w", err)
		}
		for i := range entries {
			line, err := json.Marshal(exportedEntry(&entries[i]))
			if err != nil {
				return nil, fmt.Errorf("export: audit entry %d: %w", entries[i].Seq, err)
			}
			audit.Write(line)
			audit.WriteByte('\n')
			lastSeq, lastHash = entries[i].Seq, entries[i].Hash
			res.AuditEntries++
		}
		if len(entries) < 1000 {
			break
		}
	}
	if err := sinks.write(AuditLogName, audit.Bytes(), opts.Now); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := links.write(sinks, opts.Now); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	sum := sha256.Sum256(manifest.Bytes())
	res.ManifestSHA256 = hex.EncodeToString(sum[:])
	if err := sinks.write(ManifestName, manifest.Bytes(), opts.Now); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	if err := sinks.commit(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}

	details, err := json.Marshal(map[string]any{
		"dir": opts.Dir, "tar": opts.TarPath, "from_icv": res.FirstICV, "to_icv": res.LastICV,
		"documents": res.Documents, "audit_entries": res.AuditEntries, "audit_seq": lastSeq,
		"audit_hash": lastHash, "manifest_sha256": res.ManifestSHA256,
	})
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	e, err := src.Record(ctx, Entry{At: opts.Now, Action: ActionExported, Details: details})
	if err != nil {
		return nil, fmt.Errorf("export: audit: %w", err)
	}
	res.AuditSeq = e.Seq
	return res, nil
}

// ExportedEntry is one line of audit.jsonl.
type ExportedEntry struct {
	Seq         uint64          `json:"seq"`
	At          string          `json:"at"` // RFC 3339 with nanoseconds, KSA
	Actor       string          `json:"actor"`
	Action      string          `json:"action"`
	Details     json.RawMessage `json:"details"`
	DocumentICV uint64          `json:"document_icv,omitempty"`
	ChainHash   string          `json:"chain_hash"`
	PrevHash    string          `json:"prev_hash"`
	Hash        string          `json:"hash"`
}

func exportedEntry(e *Entry) ExportedEntry {
	return ExportedEntry{Seq: e.Seq, At: e.At.In(KSA).Format(time.RFC3339Nano), Actor: e.Actor, Action: e.Action,
		Details: e.Details, DocumentICV: e.DocumentICV, ChainHash: e.ChainHash, PrevHash: e.PrevHash, Hash: e.Hash}
}

// Entry converts a line of audit.jsonl back, for re-checking with AuditHash.
func (x ExportedEntry) Entry() (Entry, error) {
	at, err := time.Parse(time.RFC3339Nano, x.At)
	if err != nil {
		return Entry{}, invalid("at", "%v", err)
	}
	return Entry{Seq: x.Seq, At: at, Actor: x.Actor, Action: x.Action, Details: x.Details,
		DocumentICV: x.DocumentICV, ChainHash: x.ChainHash, PrevHash: x.PrevHash, Hash: x.Hash}, nil
}

// sinks writes the same files to a folder and/or a tar archive.
type sinks struct {
	dir     string
	tarPath string
	tarTmp  *os.File
	tw      *tar.Writer
	written []string
}

func openSinks(o ExportOptions) (*sinks, error) {
	s := &sinks{dir: o.Dir, tarPath: o.TarPath}
	if s.dir != "" {
		if err := os.MkdirAll(s.dir, 0o755); err != nil {
			return nil, err
		}
		ents, err := os.ReadDir(s.dir)
		if err != nil {
			return nil, err
		}
		if len(ents) > 0 {
			return nil, invalid("ExportOptions.Dir", "%s is not empty (an export never overwrites)", s.dir)
		}
	}
	if s.tarPath != "" {
		if _, err := os.Lstat(s.tarPath); err == nil {
			return nil, invalid("ExportOptions.TarPath", "%s exists (an export never overwrites)", s.tarPath)
		}
		f, err := os.OpenFile(s.tarPath+".partial", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, err
		}
		s.tarTmp, s.tw = f, tar.NewWriter(f)
	}
	return s, nil
}

func (s *sinks) write(name string, data []byte, mtime time.Time) error {
	if s.dir != "" {
		p := filepath.Join(s.dir, name)
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			return err
		}
		s.written = append(s.written, p)
		_, err = f.Write(data)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
	}
	if s.tw != nil {
		hdr := &tar.Header{Name: name, Mode: 0o444, Size: int64(len(data)), ModTime: mtime.Truncate(time.Second), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if err := s.tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar %s: %w", name, err)
		}
		if _, err := io.Copy(s.tw, bytes.NewReader(data)); err != nil {
			return fmt.Errorf("tar %s: %w", name, err)
		}
	}
	return nil
}

func (s *sinks) commit() error {
	if s.dir != "" {
		if err := syncDir(s.dir); err != nil {
			return err
		}
	}
	if s.tw == nil {
		return nil
	}
	err := s.tw.Close()
	if err == nil {
		err = s.tarTmp.Sync()
	}
	if cerr := s.tarTmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(s.tarTmp.Name(), s.tarPath) // fails rather than overwrite
	}
	if err != nil {
		return fmt.Errorf("tar %s: %w", s.tarPath, err)
	}
	os.Remove(s.tarTmp.Name())
	s.tw = nil
	return syncDir(filepath.Dir(s.tarPath))
}

// abort removes the partial tar file; files already written to Dir stay
// (without a manifest, which is written last).
func (s *sinks) abort() {
	if s.tw != nil {
		s.tarTmp.Close()
		os.Remove(s.tarTmp.Name())
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
