package outbox_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// enforceOneWayOut turns TestOnlyTheOutboxPosts from a report into a
// failing check. Issue 14 moved every post of the Router, the automation,
// the timers, rooms and alert intake into recorded effects, so it is on.
const enforceOneWayOut = true

const (
	modulePath = "github.com/firebreak/firebreak"
	botPath    = modulePath + "/bot"
)

// mayPost lists the packages allowed to call bot.Chat's posting methods:
// the outbox, and the adapters (which implement Chat and call their own
// methods).
func mayPost(pkg string) bool {
	for _, p := range []string{"/bot/outbox", "/bot/slack", "/bot/discord", "/bot/console", "/bot/internal/"} {
		if pkg == modulePath+p || strings.HasPrefix(pkg, modulePath+strings.TrimSuffix(p, "/")+"/") {
			return true
		}
	}
	return false
}

// listedPackage is what `go list -json` says about a package.
type listedPackage struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Export     string
	Module     *struct{ Path string }
}

// TestOnlyTheOutboxPosts type-checks every package of the module and finds
// each call of a method named Post, Update or Upload whose signature is
// bot.Chat's, on bot.Chat or on anything else that has that method (another
// interface, an adapter type). Calls from packages other than the outbox
// and the adapters are today's direct posts, which the integration moves
// into recorded effects. Tests are not scanned (GoFiles only): a test may
// drive an adapter directly.
func TestOnlyTheOutboxPosts(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the whole module")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command(goTool, "list", "-e", "-export", "-deps", "-json=ImportPath,Dir,GoFiles,Export,Module", "./...")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go list: %s", stderr.String())

	exports := map[string]string{}
	var ours []listedPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); dec.More(); {
		var p listedPackage
		require.NoError(t, dec.Decode(&p))
		exports[p.ImportPath] = p.Export
		if p.Module != nil && p.Module.Path == modulePath && len(p.GoFiles) > 0 {
			ours = append(ours, p)
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if exports[path] == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(exports[path])
	})
	botPkg, err := imp.Import(botPath)
	require.NoError(t, err)

	var callers []string
	for _, p := range ours {
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, parser.SkipObjectResolution)
			require.NoError(t, err)
			files = append(files, f)
		}
		info := &types.Info{Selections: map[*ast.SelectorExpr]*types.Selection{}}
		pkg, err := (&types.Config{Importer: imp}).Check(p.ImportPath, fset, files, info)
		require.NoError(t, err, "type-check %s", p.ImportPath)
		// Package bot itself is checked from source: its Chat is a
		// different *types.Package's than the one its importers see.
		chat := botPkg.Scope().Lookup("Chat").Type().Underlying().(*types.Interface)
		if p.ImportPath == botPath {
			chat = pkg.Scope().Lookup("Chat").Type().Underlying().(*types.Interface)
		}
		for _, f := range files {
			ast.Inspect(f, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				s, ok := info.Selections[sel]
				if !ok || s.Kind() != types.MethodVal || !isChatMethod(chat, s.Obj()) {
					return true
				}
				pos := fset.Position(call.Pos())
				rel, err := filepath.Rel(root, pos.Filename)
				if err != nil {
					rel = pos.Filename
				}
				callers = append(callers, fmt.Sprintf("%s:%d\t%s\t%s.%s", rel, pos.Line, p.ImportPath, types.TypeString(s.Recv(), types.RelativeTo(pkg)), s.Obj().Name()))
				return true
			})
		}
	}
	slices.Sort(callers)

	var outside []string
	sawOutbox := map[string]bool{}
	for _, c := range callers {
		pkg := strings.Split(c, "\t")[1]
		switch {
		case pkg == modulePath+"/bot/outbox":
			sawOutbox[c[strings.LastIndex(c, ".")+1:]] = true
		case !mayPost(pkg):
			outside = append(outside, c)
		}
	}
	assert.Equal(t, map[string]bool{"Post": true, "Update": true, "Upload": true}, sawOutbox,
		"the check must see the outbox's own calls, or it cannot see anyone's")
	t.Logf("%d calls of bot.Chat's posting methods outside bot/outbox and the adapters (the integration moves them into the outbox):\n%s",
		len(outside), strings.Join(outside, "\n"))
	if enforceOneWayOut {
		assert.Empty(t, outside, "only bot/outbox may call bot.Chat's Post, Update and Upload; record an incidents.Effect instead")
	}
}

// isChatMethod reports whether obj is a method named like one of chat's
// posting methods with the same signature.
func isChatMethod(chat *types.Interface, obj types.Object) bool {
	fn, ok := obj.(*types.Func)
	if !ok {
		return false
	}
	switch fn.Name() {
	case "Post", "Update", "Upload":
	default:
		return false
	}
	for m := range chat.Methods() {
		if m.Name() == fn.Name() {
			return types.Identical(withoutRecv(m.Type().(*types.Signature)), withoutRecv(fn.Type().(*types.Signature)))
		}
	}
	return false
}

func withoutRecv(s *types.Signature) *types.Signature {
	return types.NewSignatureType(nil, nil, nil, s.Params(), s.Results(), s.Variadic())
}
