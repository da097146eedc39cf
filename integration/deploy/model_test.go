package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/zclconf/go-cty/cty"
)

// A stack model is what both deploy/template.yaml and deploy/terraform describe, in one shape:
// JSON-like values, references as canonical <<placeholders>>, policies normalised (actions and
// resources as sorted lists), CloudFormation's AWS::NoValue list elements removed.
type stackModel map[string]any

// params pairs each CloudFormation parameter with its Terraform variable.
var params = []struct{ cfn, tf string }{
	{"FunctionName", "name"},
	{"RepositoryPatterns", "repository_patterns"},
	{"TagTemplate", "tag_template"},
	{"TagPatterns", "tag_patterns"},
	{"ExcludeRepositoryPatterns", "exclude_repository_patterns"},
	{"CacheRepository", "cache_repository"},
	{"MaximumConcurrency", "maximum_concurrency"},
	{"MemorySize", "memory_size"},
	{"Architecture", "architecture"},
	{"MaxReceiveCount", "max_receive_count"},
	{"BatchSize", "batch_size"},
	{"LogRetentionDays", "log_retention_days"},
}

// tfOnly are the Terraform variables with no CloudFormation parameter: SAM builds the code.
var tfOnly = map[string]any{"package": "socify-lambda_linux_arm64.zip"}

// settings are parameter values keyed by CloudFormation name; RepositoryPatterns is a []string.
type settings map[string]any

func (s settings) cfn() map[string]any {
	out := map[string]any{}
	for k, v := range s {
		if l, ok := v.([]string); ok {
			v = strings.Join(l, ",")
		}
		out[k] = v
	}
	return out
}

func (s settings) tf() map[string]cty.Value {
	out := map[string]cty.Value{}
	for k, v := range tfOnly {
		out[k] = goToCty(v)
	}
	for _, p := range params {
		if v, ok := s[p.cfn]; ok {
			out[p.tf] = goToCty(v)
		}
	}
	return out
}

var canonical = strings.NewReplacer(
	"<<Queue.Arn>>", "<<queue.arn>>", "<<aws_sqs_queue.events.arn>>", "<<queue.arn>>",
	"<<ref:Queue>>", "<<queue.url>>", "<<aws_sqs_queue.events.id>>", "<<queue.url>>",
	"<<DeadLetterQueue.Arn>>", "<<dlq.arn>>", "<<aws_sqs_queue.dead_letter.arn>>", "<<dlq.arn>>",
	"<<PushRule.Arn>>", "<<rule.arn>>", "<<aws_cloudwatch_event_rule.push.arn>>", "<<rule.arn>>",
	"<<aws_cloudwatch_event_rule.push.name>>", "<<rule.name>>",
	// CloudFormation's LogGroup Arn attribute ends in ":*"; Terraform's arn does not.
	"<<LogGroup.Arn>>", "<<loggroup.arn>>:*", "<<aws_cloudwatch_log_group.function.arn>>", "<<loggroup.arn>>",
	"<<Role.Arn>>", "<<role.arn>>", "<<aws_iam_role.function.arn>>", "<<role.arn>>",
	"<<ref:Function>>", "<<function>>", "<<aws_lambda_function.socify.arn>>", "<<function>>",
)

// normalise makes a value comparable: JSON round trip (numbers become float64), placeholders
// canonical, nil list elements dropped (AWS::NoValue), JSON documents given as strings parsed.
func normalise(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	var walk func(any) any
	walk = func(v any) any {
		switch v := v.(type) {
		case string:
			return canonical.Replace(v)
		case []any:
			l := []any{}
			for _, e := range v {
				if e != nil {
					l = append(l, walk(e))
				}
			}
			return l
		case map[string]any:
			m := map[string]any{}
			for k, e := range v {
				m[k] = walk(e)
			}
			return m
		}
		return v
	}
	return walk(out)
}

func jsonDoc(v any) any {
	if s, ok := v.(string); ok {
		var d any
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			return "not JSON: " + s
		}
		return d
	}
	return v
}

func strList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var l []string
		for _, e := range v {
			l = append(l, fmt.Sprint(e))
		}
		sort.Strings(l)
		return l
	}
	return nil
}

// normPolicy gives an IAM policy document one shape: Statement a list, Action and Resource
// sorted lists.
func normPolicy(doc any) any {
	d, _ := normalise(jsonDoc(doc)).(map[string]any)
	if d == nil {
		return doc
	}
	sts, ok := d["Statement"].([]any)
	if !ok {
		sts = []any{d["Statement"]}
	}
	for _, s := range sts {
		st, _ := s.(map[string]any)
		for _, k := range []string{"Action", "Resource"} {
			if v, ok := st[k]; ok {
				st[k] = strList(v)
			}
		}
	}
	d["Statement"] = sts
	return normalise(d)
}

// resource fetches one typed resource, collecting the error so that cfnModel reports every
// missing resource at once.
func resource[T any](get func(string) (T, error), name string, errs *[]error) T {
	r, err := get(name)
	if err != nil {
		*errs = append(*errs, err)
	}
	return r
}

func cfnModel(t *cloudformation.Template) (stackModel, error) {
	var errs []error
	fn := resource(t.GetServerlessFunctionWithName, "Function", &errs)
	q := resource(t.GetSQSQueueWithName, "Queue", &errs)
	dlq := resource(t.GetSQSQueueWithName, "DeadLetterQueue", &errs)
	rule := resource(t.GetEventsRuleWithName, "PushRule", &errs)
	qp := resource(t.GetSQSQueuePolicyWithName, "QueuePolicy", &errs)
	lg := resource(t.GetLogsLogGroupWithName, "LogGroup", &errs)
	role := resource(t.GetIAMRoleWithName, "Role", &errs)
	esm := resource(t.GetLambdaEventSourceMappingWithName, "EventSourceMapping", &errs)
	cacheRepo := resource(t.GetECRRepositoryWithName, "ZtocCache", &errs)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A resource whose condition is false is not created.
	var cache any
	if on, _ := t.Conditions[cacheRepo.AWSCloudFormationCondition].(bool); cacheRepo != nil && (cacheRepo.AWSCloudFormationCondition == "" || on) {
		var lifecycle any
		if cacheRepo.LifecyclePolicy != nil && cacheRepo.LifecyclePolicy.LifecyclePolicyText != nil {
			lifecycle = jsonDoc(*cacheRepo.LifecyclePolicy.LifecyclePolicyText)
		}
		cache = map[string]any{
			"name": cacheRepo.RepositoryName, "emptyOnDelete": cacheRepo.EmptyOnDelete,
			"lifecycle": lifecycle, "policy": normPolicy(cacheRepo.RepositoryPolicyText),
		}
	}
	if len(role.Policies) != 1 {
		return nil, fmt.Errorf("Role: %d inline policies, want 1", len(role.Policies))
	}
	var targets []any
	for _, tg := range rule.Targets {
		targets = append(targets, tg.Arn)
	}
	var env map[string]string
	if fn.Environment != nil {
		env = fn.Environment.Variables
	}
	var maxConc any
	if esm.ScalingConfig != nil {
		maxConc = esm.ScalingConfig.MaximumConcurrency
	}
	// SAM builds the function from CodeUri, relative to the template: it must be the function's
	// main package (Terraform takes the built package instead).
	if fn.CodeUri == nil || fn.CodeUri.String == nil {
		return nil, fmt.Errorf("Function: no CodeUri")
	}
	if main, err := os.ReadFile(filepath.Join(deployDir, *fn.CodeUri.String, "main.go")); err != nil ||
		!strings.Contains(string(main), "package main") || !strings.Contains(string(main), "lambda.Start(") {
		return nil, fmt.Errorf("Function: CodeUri %s is not the Lambda function's main package (%v)", *fn.CodeUri.String, err)
	}
	m := stackModel{
		"function": map[string]any{
			"name": fn.FunctionName, "runtime": fn.Runtime, "handler": fn.Handler,
			"architectures": fn.Architectures, "memory": fn.MemorySize, "timeout": fn.Timeout,
			"role": fn.Role, "env": env,
		},
		"queue": map[string]any{
			"name": q.QueueName, "visibilityTimeout": q.VisibilityTimeout, "retention": q.MessageRetentionPeriod,
			"sse": q.SqsManagedSseEnabled, "redrive": jsonDoc(q.RedrivePolicy),
		},
		"dlq":         map[string]any{"name": dlq.QueueName, "retention": dlq.MessageRetentionPeriod, "sse": dlq.SqsManagedSseEnabled},
		"rule":        map[string]any{"pattern": jsonDoc(rule.EventPattern), "targets": targets},
		"queuePolicy": map[string]any{"queues": qp.Queues, "policy": normPolicy(qp.PolicyDocument)},
		"logGroup":    map[string]any{"name": lg.LogGroupName, "retention": lg.RetentionInDays},
		"role":        map[string]any{"trust": normPolicy(role.AssumeRolePolicyDocument), "policy": normPolicy(role.Policies[0].PolicyDocument)},
		"esm": map[string]any{
			"source": esm.EventSourceArn, "function": esm.FunctionName, "batchSize": esm.BatchSize,
			"responseTypes": esm.FunctionResponseTypes, "maxConcurrency": maxConc,
		},
		"cache": cache,
	}
	return normalise(m).(map[string]any), nil
}

func one(res map[string]map[string]any, addr string) (map[string]any, error) {
	r, ok := res[addr]
	if !ok {
		return nil, fmt.Errorf("no resource %s", addr)
	}
	return r, nil
}

func block(r map[string]any, name string) map[string]any {
	l, _ := r[name].([]any)
	if len(l) != 1 {
		return nil
	}
	m, _ := l[0].(map[string]any)
	return m
}

func tfModel(res map[string]map[string]any) (stackModel, error) {
	get := map[string]map[string]any{}
	for _, addr := range []string{
		"aws_lambda_function.socify", "aws_sqs_queue.events", "aws_sqs_queue.dead_letter",
		"aws_cloudwatch_event_rule.push", "aws_sqs_queue_policy.events", "aws_cloudwatch_log_group.function",
		"aws_iam_role.function", "aws_iam_role_policy.function", "aws_lambda_event_source_mapping.queue",
	} {
		r, err := one(res, addr)
		if err != nil {
			return nil, err
		}
		get[addr] = r
	}
	fn, q, dlq := get["aws_lambda_function.socify"], get["aws_sqs_queue.events"], get["aws_sqs_queue.dead_letter"]
	esm := get["aws_lambda_event_source_mapping.queue"]
	var targets []any
	for addr, r := range res {
		if strings.HasPrefix(addr, "aws_cloudwatch_event_target.") && canonical.Replace(fmt.Sprint(r["rule"])) == "<<rule.name>>" {
			targets = append(targets, r["arn"])
		}
	}
	var env, scaling any
	if b := block(fn, "environment"); b != nil {
		env = b["variables"]
	}
	if b := block(esm, "scaling_config"); b != nil {
		scaling = b["maximum_concurrency"]
	}
	if p := get["aws_iam_role_policy.function"]; p["role"] != "<<aws_iam_role.function.id>>" {
		return nil, fmt.Errorf("aws_iam_role_policy.function is attached to %v, not the function's role", p["role"])
	}
	var cache any
	if repo, ok := res["aws_ecr_repository.cache"]; ok {
		lc, pol := res["aws_ecr_lifecycle_policy.cache"], res["aws_ecr_repository_policy.cache"]
		if lc == nil || pol == nil || lc["repository"] != repo["name"] || pol["repository"] != repo["name"] {
			return nil, fmt.Errorf("the cache repository's lifecycle policy and repository policy must both name it")
		}
		cache = map[string]any{
			"name": repo["name"], "emptyOnDelete": repo["force_delete"],
			"lifecycle": jsonDoc(lc["policy"]), "policy": normPolicy(pol["policy"]),
		}
	} else if res["aws_ecr_lifecycle_policy.cache"] != nil || res["aws_ecr_repository_policy.cache"] != nil {
		return nil, fmt.Errorf("cache policies without the cache repository")
	}
	m := stackModel{
		"cache": cache,
		"function": map[string]any{
			"name": fn["function_name"], "runtime": fn["runtime"], "handler": fn["handler"],
			"architectures": fn["architectures"], "memory": fn["memory_size"], "timeout": fn["timeout"],
			"role": fn["role"], "env": env,
		},
		"queue": map[string]any{
			"name": q["name"], "visibilityTimeout": q["visibility_timeout_seconds"], "retention": q["message_retention_seconds"],
			"sse": q["sqs_managed_sse_enabled"], "redrive": jsonDoc(q["redrive_policy"]),
		},
		"dlq":  map[string]any{"name": dlq["name"], "retention": dlq["message_retention_seconds"], "sse": dlq["sqs_managed_sse_enabled"]},
		"rule": map[string]any{"pattern": jsonDoc(get["aws_cloudwatch_event_rule.push"]["event_pattern"]), "targets": targets},
		"queuePolicy": map[string]any{
			"queues": []any{get["aws_sqs_queue_policy.events"]["queue_url"]},
			"policy": normPolicy(get["aws_sqs_queue_policy.events"]["policy"]),
		},
		"logGroup": map[string]any{"name": get["aws_cloudwatch_log_group.function"]["name"], "retention": get["aws_cloudwatch_log_group.function"]["retention_in_days"]},
		"role": map[string]any{
			"trust":  normPolicy(get["aws_iam_role.function"]["assume_role_policy"]),
			"policy": normPolicy(get["aws_iam_role_policy.function"]["policy"]),
		},
		"esm": map[string]any{
			"source": esm["event_source_arn"], "function": esm["function_name"], "batchSize": esm["batch_size"],
			"responseTypes": esm["function_response_types"], "maxConcurrency": scaling,
		},
	}
	return normalise(m).(map[string]any), nil
}

// diff lists the paths where a and b differ.
func diff(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		var out []string
		for _, k := range sortedKeys(keys) {
			out = append(out, diff(path+"."+k, am[k], bm[k])...)
		}
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		var out []string
		for i := range al {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i])...)
		}
		return out
	}
	if !reflect.DeepEqual(a, b) {
		return []string{fmt.Sprintf("%s: CloudFormation %s, Terraform %s", strings.TrimPrefix(path, "."), js(a), js(b))}
	}
	return nil
}

func sortedKeys(m map[string]bool) []string {
	var l []string
	for k := range m {
		l = append(l, k)
	}
	sort.Strings(l)
	return l
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// glob matches as EventBridge's wildcard filter and IAM resource ARNs do: * is any run of
// characters, / included.
func glob(pattern, s string) bool {
	re := "^" + strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, ".*") + "$"
	return regexp.MustCompile(re).MatchString(s)
}

// matches evaluates an EventBridge pattern on an event, for the operators the templates use
// (exact strings and wildcard); any other operator is an error so the test cannot pass by
// ignoring it.
func matches(pattern, event any) (bool, error) {
	pm, ok := pattern.(map[string]any)
	if !ok {
		return false, fmt.Errorf("pattern %s is not an object", js(pattern))
	}
	em, _ := event.(map[string]any)
	for k, p := range pm {
		ev, present := em[k]
		if !present {
			return false, nil
		}
		switch p := p.(type) {
		case map[string]any:
			ok, err := matches(p, ev)
			if err != nil || !ok {
				return false, err
			}
		case []any:
			s, _ := ev.(string)
			hit := false
			for _, alt := range p {
				switch alt := alt.(type) {
				case string:
					hit = hit || alt == s
				case map[string]any:
					w, ok := alt["wildcard"].(string)
					if !ok || len(alt) != 1 {
						return false, fmt.Errorf("unsupported pattern operator %s", js(alt))
					}
					hit = hit || glob(w, s)
				default:
					return false, fmt.Errorf("unsupported pattern value %s", js(alt))
				}
			}
			if !hit {
				return false, nil
			}
		default:
			return false, fmt.Errorf("pattern field %s is %s, want an array or object", k, js(p))
		}
	}
	return true, nil
}
