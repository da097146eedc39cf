package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// Pseudo parameters, as the Terraform side's data sources answer them (tfData).
var pseudo = map[string]any{
	"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012",
	"AWS::StackName": "socify-stack", "AWS::URLSuffix": "amazonaws.com",
}

// cfnEval parses the template with goformation, resolving intrinsics the way CloudFormation
// would for the given parameter values. goformation's own Ref and Fn::GetAtt drop references to
// resources (nil) and its Fn::Sub forgets AWS::Partition; these handlers turn such references into
// <<Name>> / <<Name.Attr>> placeholders instead, so that the Terraform side's references can be
// compared with them, and they record references to names the template does not declare.
type cfnEval struct {
	src      []byte
	params   map[string]any
	unknown  []string
	resolved map[string]bool // parameters referenced
	conds    map[string]bool
}

func loadCFN(path string, params map[string]any) (*cloudformation.Template, *cfnEval, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return parseCFN(src, params)
}

func parseCFN(src []byte, params map[string]any) (*cloudformation.Template, *cfnEval, error) {
	e := &cfnEval{src: src, params: params, resolved: map[string]bool{}}
	handlers := map[string]intrinsics.IntrinsicHandler{
		"Ref": e.ref, "Fn::GetAtt": e.getAtt, "Fn::Sub": e.sub, "Fn::Split": e.split,
	}
	// goformation's EvaluateConditions replaces a resource that has a Condition key by the
	// condition's value, so conditions are evaluated in a first pass and Fn::If reads them.
	pre, err := intrinsics.ProcessYAML(src, &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: handlers, ParameterOverrides: params})
	if err != nil {
		return nil, nil, fmt.Errorf("goformation: %w", err)
	}
	var doc struct{ Conditions map[string]any }
	if err := json.Unmarshal(pre, &doc); err != nil {
		return nil, nil, err
	}
	e.conds = map[string]bool{}
	for name, v := range doc.Conditions {
		b, ok := v.(bool)
		if !ok {
			e.unknown = append(e.unknown, "condition "+name+" is not true or false")
		}
		e.conds[name] = b
	}
	handlers["Fn::If"] = e.fnIf
	tmpl, err := goformation.ParseYAMLWithOptions(src, &intrinsics.ProcessorOptions{IntrinsicHandlerOverrides: handlers, ParameterOverrides: params})
	if err != nil {
		return nil, nil, fmt.Errorf("goformation: %w", err)
	}
	if len(e.unknown) > 0 {
		sort.Strings(e.unknown)
		return nil, nil, fmt.Errorf("template references undeclared names: %v", slices.Compact(e.unknown))
	}
	return tmpl, e, nil
}

func (e *cfnEval) fnIf(_ string, input any, _ any) any {
	if v, ok := input.([]any); ok && len(v) == 3 {
		name, _ := v[0].(string)
		if b, ok := e.conds[name]; ok {
			if b {
				return v[1]
			}
			return v[2]
		}
		e.unknown = append(e.unknown, "condition "+name)
		return nil
	}
	e.unknown = append(e.unknown, fmt.Sprintf("malformed Fn::If %v", input))
	return nil
}

func section(template any, name string) map[string]any {
	t, _ := template.(map[string]any)
	s, _ := t[name].(map[string]any)
	return s
}

func (e *cfnEval) lookup(name string, template any) any {
	if v, ok := pseudo[name]; ok {
		return v
	}
	if name == "AWS::NoValue" {
		return nil
	}
	if p, ok := section(template, "Parameters")[name].(map[string]any); ok {
		e.resolved[name] = true
		return p["Default"]
	}
	if _, ok := section(template, "Resources")[name]; ok {
		return "<<ref:" + name + ">>"
	}
	e.unknown = append(e.unknown, name)
	return nil
}

func (e *cfnEval) ref(_ string, input any, template any) any {
	name, ok := input.(string)
	if !ok {
		e.unknown = append(e.unknown, fmt.Sprintf("Ref %v", input))
		return nil
	}
	return e.lookup(name, template)
}

func (e *cfnEval) attr(res, attr string, template any) any {
	if _, ok := section(template, "Resources")[res]; !ok {
		e.unknown = append(e.unknown, res+"."+attr)
		return nil
	}
	return "<<" + res + "." + attr + ">>"
}

func (e *cfnEval) getAtt(_ string, input any, template any) any {
	switch v := input.(type) {
	case string:
		res, attr, _ := strings.Cut(v, ".")
		return e.attr(res, attr, template)
	case []any:
		if len(v) == 2 {
			return e.attr(fmt.Sprint(v[0]), fmt.Sprint(v[1]), template)
		}
	}
	e.unknown = append(e.unknown, fmt.Sprintf("GetAtt %v", input))
	return nil
}

func (e *cfnEval) split(_ string, input any, _ any) any {
	if v, ok := input.([]any); ok && len(v) == 2 {
		delim, ok1 := v[0].(string)
		s, ok2 := v[1].(string)
		if ok1 && ok2 {
			var out []any
			for _, p := range strings.Split(s, delim) {
				out = append(out, p)
			}
			return out
		}
	}
	e.unknown = append(e.unknown, fmt.Sprintf("malformed Fn::Split %v", input))
	return nil
}

var subVar = regexp.MustCompile(`\$\{([^}!][^}]*)\}`)

func (e *cfnEval) sub(_ string, input any, template any) any {
	var s string
	vars := map[string]any{}
	switch v := input.(type) {
	case string:
		s = v
	case []any:
		if len(v) != 2 {
			e.unknown = append(e.unknown, "malformed Fn::Sub")
			return nil
		}
		s, _ = v[0].(string)
		vars, _ = v[1].(map[string]any)
	}
	return subVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		var val any
		if v, ok := vars[name]; ok {
			val = v
		} else if res, attr, ok := strings.Cut(name, "."); ok && !strings.Contains(name, "::") {
			val = e.attr(res, attr, template)
		} else {
			val = e.lookup(name, template)
		}
		return fmt.Sprint(val)
	})
}

// cfnParamOK applies a parameter's declared constraints (AllowedPattern, AllowedValues,
// MinValue, MaxValue) to a value, as CloudFormation does before it creates anything.
func cfnParamOK(p cloudformation.Parameter, v any) bool {
	s := fmt.Sprint(v)
	if p.AllowedPattern != nil && !regexp.MustCompile("^(?:"+*p.AllowedPattern+")$").MatchString(s) {
		return false
	}
	if len(p.AllowedValues) > 0 {
		found := false
		for _, a := range p.AllowedValues {
			found = found || fmt.Sprint(a) == s
		}
		if !found {
			return false
		}
	}
	if p.Type == "Number" {
		var f float64
		if _, err := fmt.Sscan(s, &f); err != nil {
			return false
		}
		if (p.MinValue != nil && f < *p.MinValue) || (p.MaxValue != nil && f > *p.MaxValue) {
			return false
		}
	}
	return true
}
