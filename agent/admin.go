package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/posagent/posagent/agent/apitype"
	"github.com/posagent/posagent/agent/ubl"
	"github.com/posagent/posagent/store"
)

// Verify re-reads the whole journal and checks the chain, every stored hash against
// its XML, the row checksums and the audit chain (store.Verifier).
func (a *Agent) Verify(ctx context.Context) (*apitype.VerifyResult, error) {
	rep, err := a.st.Verify(ctx, ubl.InvoiceHashBase64)
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	out := &apitype.VerifyResult{OK: rep.OK(), Documents: rep.Documents, AuditEntries: rep.AuditEntries,
		HeadICV: rep.Head.ICV, HeadHash: rep.Head.Hash, Rehashed: rep.Rehashed, Truncated: rep.Truncated}
	for _, p := range rep.Problems {
		out.Problems = append(out.Problems, p.String())
	}
	a.audit(ctx, "admin.verify", 0, map[string]any{"ok": out.OK, "documents": out.Documents,
		"audit_entries": out.AuditEntries, "problems": len(out.Problems)})
	return out, nil
}

// Export writes documents, manifest and audit log to a folder and/or tar file under the
// configured export root (store.Export; the export is audited there).
func (a *Agent) Export(ctx context.Context, req apitype.ExportRequest) (*apitype.ExportResult, error) {
	if a.cfg.ExportRoot == "" {
		return nil, fmt.Errorf("export: no export root is configured: %w", ErrExportForbidden)
	}
	if req.Dir == "" && req.Tar == "" {
		return nil, inputError("dir", apitype.RuleRequired, "dir or tar is required")
	}
	for _, p := range []struct{ field, path string }{{"dir", req.Dir}, {"tar", req.Tar}} {
		if p.path == "" {
			continue
		}
		if !filepath.IsAbs(p.path) || !within(a.cfg.ExportRoot, p.path) {
			return nil, inputError(p.field, apitype.RuleValue, fmt.Sprintf("%q must be an absolute path under the export root %s", p.path, a.cfg.ExportRoot))
		}
	}
	if req.ToICV != 0 && req.ToICV < req.FromICV {
		return nil, inputError("to_icv", apitype.RuleValue, "to_icv is before from_icv")
	}
	res, err := store.Export(ctx, a.st, store.ExportOptions{Dir: req.Dir, TarPath: req.Tar,
		Range: store.Range{From: req.FromICV, To: req.ToICV}, Now: a.clock.Now()})
	if err != nil {
		return nil, err
	}
	return &apitype.ExportResult{Dir: req.Dir, Tar: req.Tar, Documents: res.Documents, FirstICV: res.FirstICV,
		LastICV: res.LastICV, AuditEntries: res.AuditEntries, ManifestSHA256: res.ManifestSHA256}, nil
}

// within reports whether path lies strictly under root (both cleaned, absolute).
func within(root, path string) bool {
	root, path = filepath.Clean(root), filepath.Clean(path)
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}
