package gonetsh

import (
	"go/format"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/gonetsh/gonetsh"

// allowed lists, per package (a directory prefix), the project packages it
// may import. The layout is that of STYLE.md section 5 with one deviation:
// grammar may import ipsec, the leaf value types, so that typed captures
// are the types the store and engine use and no conversion layer repeats
// every enum.
//
// external lists what external test packages (package x_test) may import
// besides: the shell's golden tests wire the real engine as cmd/netsh does,
// while the shell package itself reaches it only through its interface.
var external = map[string][]string{
	"shell": {"engine"},
}

var allowed = []struct {
	pkg     string
	imports []string
}{
	{"ipsec", nil},
	{"grammar", []string{"ipsec"}},
	{"store", []string{"ipsec"}},
	{"driver", []string{"ipsec", "driver"}},
	{"engine/ike", []string{"ipsec"}},
	{"engine/agent", []string{"store", "ipsec"}},
	{"engine", []string{"engine", "store", "ipsec"}},
	{"shell", []string{"shell", "grammar", "store", "ipsec"}},
	{"cmd", []string{"cmd", "shell", "grammar", "store", "ipsec", "engine", "driver"}},
	{"examples", []string{"shell", "grammar", "store", "ipsec", "engine", "driver"}},
	{"bench", []string{"grammar", "store", "ipsec", "shell", "driver"}},
	{"internal", nil}, // test harnesses (netns, charon): no project imports
	// except that charon peers live in netnstest namespaces
	{"internal/charontest", []string{"internal/netnstest"}},
	{"", nil}, // the module root: documentation and these tests
}

// rule returns the entry for the package in dir (longest prefix wins).
func rule(dir string) (string, []string) {
	best, bestImports := "-", []string(nil)
	for _, a := range allowed {
		if (dir == a.pkg || strings.HasPrefix(dir, a.pkg+"/") || a.pkg == "") && (best == "-" || len(a.pkg) > len(best)) {
			best, bestImports = a.pkg, a.imports
		}
	}
	return best, bestImports
}

func goFiles(t *testing.T) []string {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestImportDirections fails when a package imports against the layout,
// e.g. grammar importing store or driver importing engine.
func TestImportDirections(t *testing.T) {
	fset := token.NewFileSet()
	for _, path := range goFiles(t) {
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.ToSlash(filepath.Dir(path))
		if dir == "." {
			dir = ""
		}
		owner, ok := rule(dir)
		if strings.HasSuffix(f.Name.Name, "_test") {
			ok = append(ok[:len(ok):len(ok)], external[owner]...)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if !strings.HasPrefix(p, module+"/") {
				continue
			}
			target := strings.TrimPrefix(p, module+"/")
			fine := false
			for _, a := range ok {
				if target == a || strings.HasPrefix(target, a+"/") {
					fine = true
				}
			}
			if strings.HasPrefix(target, "internal/") && strings.HasSuffix(path, "_test.go") {
				fine = true // shared test harnesses (internal/*test), which import no project package
			}
			if target == dir || strings.HasPrefix(target, dir+"/") && dir != "" {
				fine = true // a package and its own sub-packages
			}
			if !fine {
				t.Errorf("%s: package %s (rule %q) must not import %s", path, dir, owner, target)
			}
		}
	}
}

// TestGofmt fails on any file gofmt would change.
func TestGofmt(t *testing.T) {
	for _, path := range goFiles(t) {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out, err := format.Source(src)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if string(out) != string(src) {
			t.Errorf("%s is not gofmt-formatted", path)
		}
	}
}
