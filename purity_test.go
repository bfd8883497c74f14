package gregor

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// pureFolders hold cores, which must not read a clock, sleep, arm timers,
// start goroutines or reach the operating system, the network or a source of
// randomness: time and chance are inputs, so the simulator can drive the same
// code production runs. gossipFolder, serf's subpackage, is the one exception
// inside cluster.
var pureFolders = []string{"cluster", "groups", "txn"}

const gossipFolder = "cluster/gossip"

// impureTimeFuncs are the functions of package time that read the clock or
// wait for it.
var impureTimeFuncs = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true,
	"AfterFunc": true, "NewTimer": true, "NewTicker": true, "Tick": true,
}

// impureImport says why a core may not import path, or "".
func impureImport(path string) string {
	switch {
	case path == "os" || strings.HasPrefix(path, "os/"), path == "syscall":
		return "reaches the operating system"
	case path == "net" || strings.HasPrefix(path, "net/"):
		return "reaches the network"
	case path == "math/rand" || path == "math/rand/v2" || path == "crypto/rand":
		return "draws randomness of its own (take an io.Reader or a seeded source from the caller)"
	}
	return ""
}

// impurities lists what in one parsed source file breaks the purity rules.
func impurities(fset *token.FileSet, f *ast.File) []string {
	var out []string
	timeName := ""
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if why := impureImport(path); why != "" {
			out = append(out, fset.Position(imp.Pos()).String()+": imports "+path+": "+why)
		}
		if path == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			out = append(out, fset.Position(n.Pos()).String()+": starts a goroutine")
		case *ast.SelectorExpr:
			if id, ok := n.X.(*ast.Ident); ok && timeName != "" && id.Name == timeName && impureTimeFuncs[n.Sel.Name] {
				out = append(out, fset.Position(n.Pos()).String()+": uses time."+n.Sel.Name+" (take the time as an input)")
			}
		}
		return true
	})
	return out
}

func TestCoresArePure(t *testing.T) {
	var violations []string
	fset := token.NewFileSet()
	for _, folder := range pureFolders {
		err := filepath.WalkDir(folder, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if filepath.ToSlash(path) == gossipFolder || d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			violations = append(violations, impurities(fset, f)...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(violations)
	for _, v := range violations {
		t.Error(v)
	}
}

func TestPurityRuleCatchesViolations(t *testing.T) {
	bad := map[string]string{
		"clock":     "package p\nimport \"time\"\nfunc f() int64 { return time.Now().UnixMilli() }",
		"alias":     "package p\nimport tm \"time\"\nfunc f() { tm.Sleep(1) }",
		"timer":     "package p\nimport \"time\"\nfunc f() { time.AfterFunc(1, nil) }",
		"ticker":    "package p\nimport \"time\"\nvar _ = time.NewTicker",
		"goroutine": "package p\nfunc f() { go f() }",
		"os":        "package p\nimport \"os\"\nvar _ = os.Getpid",
		"net":       "package p\nimport \"net\"\nvar _ net.Conn",
		"rand":      "package p\nimport \"math/rand/v2\"\nvar _ = rand.Int",
		"crypto":    "package p\nimport \"crypto/rand\"\nvar _ = rand.Reader",
	}
	for name, src := range bad {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, name+".go", src, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(impurities(fset, f)) == 0 {
			t.Errorf("%s: not caught", name)
		}
	}
	good := "package p\nimport \"time\"\nconst d = 10 * time.Second\nfunc f(now time.Duration) time.Duration { return now + d }"
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "good.go", good, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := impurities(fset, f); len(got) != 0 {
		t.Errorf("pure file refused: %v", got)
	}
}
