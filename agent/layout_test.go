package agent_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/posagent/posagent"

// pkgInfo is what the layout rules need of one package: its doc comment and the
// module-internal imports of its non-test files.
type pkgInfo struct {
	doc     bool
	imports map[string]bool
}

// loadPackages parses every package of the module (non-test files only).
func loadPackages(t *testing.T) map[string]*pkgInfo {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := map[string]*pkgInfo{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "bin" || name == "var") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		ip := module
		if rel != "." {
			ip += "/" + filepath.ToSlash(rel)
		}
		p := pkgs[ip]
		if p == nil {
			p = &pkgInfo{imports: map[string]bool{}}
			pkgs[ip] = p
		}
		if f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "" {
			p.doc = true
		}
		for _, is := range f.Imports {
			path := strings.Trim(is.Path.Value, `"`)
			if strings.HasPrefix(path, module+"/") {
				p.imports[path] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pkgs
}

// deps returns the transitive module-internal imports of pkg.
func deps(pkgs map[string]*pkgInfo, pkg string) map[string]bool {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		info := pkgs[p]
		if info == nil {
			return
		}
		for imp := range info.imports {
			if !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(pkg)
	return seen
}

func under(pkg, dir string) bool {
	p := module + "/" + dir
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// TestPackageDocs keeps a doc comment on every package, saying what it owns.
func TestPackageDocs(t *testing.T) {
	pkgs := loadPackages(t)
	var missing []string
	for p, info := range pkgs {
		if !info.doc {
			missing = append(missing, p)
		}
	}
	sort.Strings(missing)
	for _, p := range missing {
		t.Errorf("package %s has no doc comment", p)
	}
}

// TestImportRules enforces DESIGN.md's import graph: imports flow downward only.
func TestImportRules(t *testing.T) {
	pkgs := loadPackages(t)
	type rule struct {
		from, to string // directory prefixes ("" for to means the exact package)
		exact    bool
		why      string
	}
	rules := []rule{
		{"agent/invoice", "agent", true, "nothing below agent imports agent"},
		{"agent/ubl", "agent", true, "nothing below agent imports agent"},
		{"agent/qr", "agent", true, "nothing below agent imports agent"},
		{"agent/cert", "agent", true, "nothing below agent imports agent"},
		{"agent/csr", "agent", true, "nothing below agent imports agent"},
		{"agent/ubl", "hsm", false, "agent/ubl signs through a plain crypto.Signer"},
		{"hsm", "agent", false, "hsm is below agent"},
		{"hsm", "store", false, "hsm is a leaf capability"},
		{"store", "agent", false, "store knows no UBL or invoice"},
		{"printer", "agent", false, "printer knows nothing of ZATCA"},
		{"printer", "offline", false, "printer knows nothing of ZATCA"},
		// board/qemu is the test harness of the whole product (it runs posagentd and
		// drives it as a till), not a product package: the rule covers board and
		// board/linux.
		{"board", "agent", false, "board is below agent"},
		{"offline/zatca", "agent", false, "the ZATCA client moves bytes; it does not build documents"},
	}
	for p := range pkgs {
		if strings.HasSuffix(p, "test") && !strings.HasSuffix(p, "/agent") {
			continue // test helper packages (xxxtest) may reach anywhere
		}
		if under(p, "board/qemu") {
			continue // the QEMU harness builds and drives the whole product
		}
		all := deps(pkgs, p)
		for _, r := range rules {
			if !under(p, r.from) {
				continue
			}
			for d := range all {
				bad := d == module+"/"+r.to
				if !r.exact {
					bad = under(d, r.to)
				}
				if bad {
					t.Errorf("%s imports %s (through its dependencies): %s", p, d, r.why)
				}
			}
		}
	}
}

// TestTopLevelLayout keeps the fixed top level of the repository.
func TestTopLevelLayout(t *testing.T) {
	entries, err := os.ReadDir("..")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{
		"go.mod": true, "go.sum": true, "cmd": true, "agent": true, "printer": true, "hsm": true,
		"store": true, "offline": true, "board": true, "testdata": true, "Makefile": true,
		"README.md": true, "bin": true, "var": true,
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || strings.HasSuffix(e.Name(), ".test") {
			continue
		}
		if !allowed[e.Name()] {
			t.Errorf("unexpected top-level entry %q (the layout is fixed: see README.md)", e.Name())
		}
	}
}
