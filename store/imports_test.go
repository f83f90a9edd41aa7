package store_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the store packages' dependencies what their doc
// comments say: store knows nothing of UBL or the agent.
func TestImports(t *testing.T) {
	const mod = "github.com/posagent/posagent/"
	allowed := map[string][]string{
		".":         {"github.com/shopspring/decimal"},
		"sqlite":    {mod + "store", "github.com/mattn/go-sqlite3"},
		"storetest": {mod + "store"},
	}
	for dir, extra := range allowed {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		var sawDoc bool
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			af, err := parser.ParseFile(token.NewFileSet(), f, src, parser.ImportsOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.HasPrefix(af.Doc.Text(), "Package "+af.Name.Name+" ") {
				sawDoc = true
			}
			for _, imp := range af.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				ok := !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") // standard library
				for _, e := range extra {
					ok = ok || p == e
				}
				if !ok {
					t.Errorf("%s imports %s; allowed: the standard library and %v", f, p, extra)
				}
			}
		}
		if !sawDoc {
			t.Errorf("package in %s has no package doc comment", dir)
		}
	}
}
