package deploy

import (
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// tfModule is a Terraform module parsed with hcl/v2 and evaluated the way Terraform plans it:
// variables (defaults or given values, checked by their validation blocks), locals, and each
// resource's arguments. Attributes of resources are only known after apply; they evaluate to
// <<type.name.attr>> placeholders, compared with the CloudFormation side's <<Logical.Attr>>.
type tfModule struct {
	vars      map[string]*tfVar
	order     []string // variable names, sorted
	locals    map[string]hcl.Expression
	resources map[string]*hclsyntax.Block // "type.name"
	traversal []hcl.Traversal             // every reference in the module
}

type tfVar struct {
	ty          cty.Type
	def         cty.Value // cty.NilVal: required
	validations []hcl.Expression
}

// tfData answers the data sources the module reads, as pseudo does for CloudFormation.
var tfData = map[string]map[string]string{
	"aws_partition":       {"partition": "aws"},
	"aws_region":          {"region": "us-east-1"},
	"aws_caller_identity": {"account_id": "123456789012"},
}

func loadTF(dir string) (*tfModule, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no .tf files in %s (%v)", dir, err)
	}
	srcs := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		srcs[filepath.Base(f)] = b
	}
	return parseTF(srcs)
}

func parseTF(srcs map[string][]byte) (*tfModule, error) {
	m := &tfModule{vars: map[string]*tfVar{}, locals: map[string]hcl.Expression{}, resources: map[string]*hclsyntax.Block{}}
	names := make([]string, 0, len(srcs))
	for n := range srcs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		f, diags := hclsyntax.ParseConfig(srcs[name], name, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, diags
		}
		body := f.Body.(*hclsyntax.Body)
		for _, b := range body.Blocks {
			switch b.Type {
			case "terraform", "output", "data":
			case "variable":
				v, err := parseVariable(b)
				if err != nil {
					return nil, err
				}
				m.vars[b.Labels[0]] = v
			case "locals":
				for n, a := range b.Body.Attributes {
					m.locals[n] = a.Expr
				}
			case "resource":
				m.resources[b.Labels[0]+"."+b.Labels[1]] = b
			default:
				return nil, fmt.Errorf("%s: unexpected block %q", name, b.Type)
			}
		}
		_ = hclsyntax.VisitAll(body, func(n hclsyntax.Node) hcl.Diagnostics {
			if e, ok := n.(hclsyntax.Expression); ok {
				m.traversal = append(m.traversal, e.Variables()...)
			}
			return nil
		})
	}
	for n := range m.vars {
		m.order = append(m.order, n)
	}
	sort.Strings(m.order)
	return m, nil
}

func parseVariable(b *hclsyntax.Block) (*tfVar, error) {
	v := &tfVar{ty: cty.DynamicPseudoType, def: cty.NilVal}
	if a, ok := b.Body.Attributes["type"]; ok {
		ty, diags := typeexpr.TypeConstraint(a.Expr)
		if diags.HasErrors() {
			return nil, diags
		}
		v.ty = ty
	}
	if a, ok := b.Body.Attributes["default"]; ok {
		d, diags := a.Expr.Value(nil)
		if diags.HasErrors() {
			return nil, diags
		}
		if d, err := convert.Convert(d, v.ty); err == nil {
			v.def = d
		} else {
			return nil, fmt.Errorf("variable %s: default: %w", b.Labels[0], err)
		}
	}
	for _, vb := range b.Body.Blocks {
		if vb.Type == "validation" {
			v.validations = append(v.validations, vb.Body.Attributes["condition"].Expr)
		}
	}
	return v, nil
}

var allTrueFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for it := args[0].ElementIterator(); it.Next(); {
			if _, v := it.Element(); !v.True() {
				return cty.False, nil
			}
		}
		return cty.True, nil
	},
})

// tfFunctions are the Terraform functions the module uses; an unknown one is an evaluation error.
var tfFunctions = map[string]function.Function{
	"jsonencode": stdlib.JSONEncodeFunc, "join": stdlib.JoinFunc, "concat": stdlib.ConcatFunc,
	"length": stdlib.LengthFunc, "regex": stdlib.RegexFunc, "contains": stdlib.ContainsFunc,
	"alltrue": allTrueFunc, "can": tryfunc.CanFunc,
	// Reads the package at plan time; its value does not matter here.
	"filebase64sha256": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "path", Type: cty.String}},
		Type:   function.StaticReturnType(cty.String),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.StringVal("<<filebase64sha256>>"), nil
		},
	}),
}

// eval plans the module with the given variable values (others take their defaults) and returns
// each resource's arguments as Go values, nested blocks as lists of maps.
func (m *tfModule) eval(given map[string]cty.Value) (map[string]map[string]any, error) {
	vars := map[string]cty.Value{}
	for _, n := range m.order {
		v := m.vars[n]
		val, ok := given[n]
		if !ok {
			val = v.def
		}
		if val == cty.NilVal {
			return nil, fmt.Errorf("variable %s has no value", n)
		}
		cv, err := convert.Convert(val, v.ty)
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", n, err)
		}
		vars[n] = cv
	}
	for n := range given {
		if _, ok := m.vars[n]; !ok {
			return nil, fmt.Errorf("no variable %s", n)
		}
	}
	ctx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}, Functions: tfFunctions}
	for _, n := range m.order {
		for _, cond := range m.vars[n].validations {
			ok, diags := cond.Value(ctx)
			if diags.HasErrors() {
				return nil, fmt.Errorf("variable %s: validation: %v", n, diags)
			}
			if !ok.True() {
				return nil, fmt.Errorf("variable %s: value %s fails its validation", n, vars[n].GoString())
			}
		}
	}

	data := map[string]cty.Value{}
	res := map[string]map[string]map[string]cty.Value{}
	for _, tr := range m.traversal {
		root := tr.RootName()
		switch {
		case root == "data" && len(tr) >= 3:
			typ := tr[1].(hcl.TraverseAttr).Name
			attrs, ok := tfData[typ]
			if !ok {
				return nil, fmt.Errorf("data source %s is not modelled", typ)
			}
			obj := map[string]cty.Value{}
			for k, v := range attrs {
				obj[k] = cty.StringVal(v)
			}
			name := tr[2].(hcl.TraverseAttr).Name
			data[typ] = cty.ObjectVal(map[string]cty.Value{name: cty.ObjectVal(obj)})
		case len(tr) >= 3 && m.resources[root+"."+attrName(tr[1])] != nil:
			name, attr := attrName(tr[1]), attrName(tr[2])
			if res[root] == nil {
				res[root] = map[string]map[string]cty.Value{}
			}
			if res[root][name] == nil {
				res[root][name] = map[string]cty.Value{}
			}
			res[root][name][attr] = cty.StringVal("<<" + root + "." + name + "." + attr + ">>")
		}
	}
	ctx.Variables["data"] = cty.ObjectVal(data)
	for typ, byName := range res {
		objs := map[string]cty.Value{}
		for name, attrs := range byName {
			objs[name] = cty.ObjectVal(attrs)
		}
		ctx.Variables[typ] = cty.ObjectVal(objs)
	}

	locals := map[string]cty.Value{}
	for pending := len(m.locals); pending > 0; {
		progress := false
		for n, e := range m.locals {
			if _, done := locals[n]; done {
				continue
			}
			ready := true
			for _, tr := range e.Variables() {
				if tr.RootName() == "local" {
					_, ok := locals[attrName(tr[1])]
					ready = ready && ok
				}
			}
			if !ready {
				continue
			}
			ctx.Variables["local"] = cty.ObjectVal(locals)
			v, diags := e.Value(ctx)
			if diags.HasErrors() {
				return nil, fmt.Errorf("local.%s: %v", n, diags)
			}
			locals[n] = v
			pending--
			progress = true
		}
		if !progress {
			return nil, fmt.Errorf("locals refer to each other in a cycle or to undefined locals")
		}
	}
	ctx.Variables["local"] = cty.ObjectVal(locals)

	out := map[string]map[string]any{}
	for addr, b := range m.resources {
		v, err := evalBody(b.Body, ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", addr, err)
		}
		// count = 0 plans no resource; the module counts to 1 at most (it never indexes
		// count.index), so one instance stands for the resource.
		if c, ok := v["count"]; ok {
			switch c {
			case 0.0:
				continue
			case 1.0:
				delete(v, "count")
			default:
				return nil, fmt.Errorf("%s: count %v; only 0 and 1 are modelled", addr, c)
			}
		}
		out[addr] = v
	}
	return out, nil
}

func attrName(t hcl.Traverser) string {
	switch t := t.(type) {
	case hcl.TraverseAttr:
		return t.Name
	case hcl.TraverseIndex:
		return t.Key.GoString()
	}
	return fmt.Sprintf("%T", t)
}

func evalBody(body *hclsyntax.Body, ctx *hcl.EvalContext) (map[string]any, error) {
	out := map[string]any{}
	for n, a := range body.Attributes {
		if n == "depends_on" {
			var deps []any
			for _, tr := range a.Expr.Variables() {
				deps = append(deps, tr.RootName()+"."+attrName(tr[1]))
			}
			out[n] = deps
			continue
		}
		v, diags := a.Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, fmt.Errorf("%s: %v", n, diags)
		}
		out[n] = ctyToGo(v)
	}
	for _, b := range body.Blocks {
		v, err := evalBody(b.Body, ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Type, err)
		}
		l, _ := out[b.Type].([]any)
		out[b.Type] = append(l, v)
	}
	return out, nil
}

func ctyToGo(v cty.Value) any {
	switch {
	case v.IsNull():
		return nil
	case !v.IsKnown():
		return "<<unknown>>"
	}
	ty := v.Type()
	switch {
	case ty == cty.String:
		return v.AsString()
	case ty == cty.Number:
		f, _ := v.AsBigFloat().Float64()
		return f
	case ty == cty.Bool:
		return v.True()
	case ty.IsListType() || ty.IsTupleType() || ty.IsSetType():
		l := []any{}
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			l = append(l, ctyToGo(e))
		}
		return l
	case ty.IsMapType() || ty.IsObjectType():
		m := map[string]any{}
		for it := v.ElementIterator(); it.Next(); {
			k, e := it.Element()
			m[k.AsString()] = ctyToGo(e)
		}
		return m
	}
	return fmt.Sprintf("<<%s>>", ty.FriendlyName())
}

// goToCty turns a test's variable value into cty: strings, numbers, bools and lists of strings.
func goToCty(v any) cty.Value {
	switch v := v.(type) {
	case string:
		return cty.StringVal(v)
	case int:
		return cty.NumberVal(new(big.Float).SetInt64(int64(v)))
	case bool:
		return cty.BoolVal(v)
	case []string:
		if len(v) == 0 {
			return cty.ListValEmpty(cty.String)
		}
		l := make([]cty.Value, len(v))
		for i, s := range v {
			l[i] = cty.StringVal(s)
		}
		return cty.ListVal(l)
	}
	panic(fmt.Sprintf("goToCty: %T", v))
}
