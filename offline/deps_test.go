package offline_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The package imports only the standard library, store and offline/zatca
// (package doc); offlinetest only offline.
func TestImports(t *testing.T) {
	for dir, allowed := range map[string][]string{
		".":           {"github.com/posagent/posagent/store", "github.com/posagent/posagent/offline/zatca"},
		"offlinetest": {"github.com/posagent/posagent/offline"},
	} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				first, _, _ := strings.Cut(p, "/")
				if !strings.Contains(first, ".") {
					continue // standard library
				}
				ok := false
				for _, a := range allowed {
					ok = ok || p == a
				}
				if !ok {
					t.Errorf("%s imports %s; allowed: the standard library and %v", f, p, allowed)
				}
			}
		}
	}
}
