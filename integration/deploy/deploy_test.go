// Package deploy checks deploy/template.yaml (CloudFormation/SAM, parsed with goformation) and
// deploy/terraform (parsed with hcl/v2) offline: each on its own against what the fleet needs
// (event pattern, least-privilege IAM, queue limits, event source mapping), and against each other
// for several parameter sets, so that one side cannot drift from the other.
package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/socify/socify/pkg/fleet"
)

const deployDir = "../../deploy"

// defaults are the documented defaults (docs/fleet.md): the brief's 1024 MB arm64 function,
// Lambda's advice of maxReceiveCount >= 5, one image per invocation.
var defaults = settings{
	"FunctionName": "socify", "RepositoryPatterns": []string{"*"}, "TagTemplate": "{tag}-soci",
	"TagPatterns": "**", "ExcludeRepositoryPatterns": "",
	"CacheRepository": "socify-ztoc-cache", "MaximumConcurrency": 10, "MemorySize": 1024, "Architecture": "arm64",
	"MaxReceiveCount": 5, "BatchSize": 1, "LogRetentionDays": 30,
}

// scenarios are parameter sets both sides are planned with.
var scenarios = map[string]settings{
	"defaults": {},
	"custom": {
		"FunctionName": "conv", "RepositoryPatterns": []string{"team-a/*", "base/*", "app"},
		"TagTemplate": "{tag}-lazy", "CacheRepository": "socify-cache", "MaximumConcurrency": 50,
		"MemorySize": 2048, "Architecture": "x86_64", "MaxReceiveCount": 7, "BatchSize": 3, "LogRetentionDays": 7,
	},
	"five patterns": {"RepositoryPatterns": []string{"a", "b/*", "c", "d", "e/*"}},
	"cache off":     {"CacheRepository": "off", "TagPatterns": "v*,release-*", "ExcludeRepositoryPatterns": "scratch/**"},
}

// probes are values at and beyond each limit; both sides must accept or refuse each alike.
var probes = []struct {
	param string
	value any
	ok    bool
}{
	{"MaximumConcurrency", 1, false}, {"MaximumConcurrency", 2, true}, {"MaximumConcurrency", 1000, true}, {"MaximumConcurrency", 1001, false},
	{"MemorySize", 511, false}, {"MemorySize", 512, true}, {"MemorySize", 10240, true}, {"MemorySize", 10241, false},
	{"MaxReceiveCount", 0, false}, {"MaxReceiveCount", 1, true}, {"MaxReceiveCount", 1000, true}, {"MaxReceiveCount", 1001, false},
	{"BatchSize", 0, false}, {"BatchSize", 1, true}, {"BatchSize", 10, true}, {"BatchSize", 11, false},
	{"Architecture", "arm64", true}, {"Architecture", "x86_64", true}, {"Architecture", "amd64", false},
	{"RepositoryPatterns", []string{"team-a/*"}, true},
	{"RepositoryPatterns", []string{"a", "b", "c", "d", "e"}, true},
	{"RepositoryPatterns", []string{"a", "b", "c", "d", "e", "f"}, false},
	{"RepositoryPatterns", []string{"Team"}, false}, {"RepositoryPatterns", []string{"a b"}, false}, {"RepositoryPatterns", []string{"a?"}, false},
	{"CacheRepository", "off", true}, {"CacheRepository", "socify-cache", true}, {"CacheRepository", "Cache", false},
	{"CacheRepository", "", false},
	{"FunctionName", "socify", true}, {"FunctionName", "", false}, {"FunctionName", strings.Repeat("a", 51), false},
	{"LogRetentionDays", 30, true}, {"LogRetentionDays", 31, false},
}

// requiredActions are the only actions the function's role may have, and on what.
func requiredActions(s settings) map[string][]string {
	var repos []string
	for _, p := range s["RepositoryPatterns"].([]string) {
		repos = append(repos, repoARN(p))
	}
	if c := s["CacheRepository"].(string); c != "off" {
		repos = append(repos, repoARN(c))
	}
	sort.Strings(repos)
	want := map[string][]string{
		"ecr:GetAuthorizationToken": {"*"},
		"sqs:ReceiveMessage":        {"<<queue.arn>>"}, "sqs:DeleteMessage": {"<<queue.arn>>"}, "sqs:GetQueueAttributes": {"<<queue.arn>>"},
		"logs:CreateLogStream": {"<<loggroup.arn>>:*"}, "logs:PutLogEvents": {"<<loggroup.arn>>:*"},
	}
	for _, a := range []string{"BatchGetImage", "GetDownloadUrlForLayer", "BatchCheckLayerAvailability", "InitiateLayerUpload",
		"UploadLayerPart", "CompleteLayerUpload", "PutImage", "DescribeImages"} {
		want["ecr:"+a] = repos
	}
	return want
}

func repoARN(name string) string { return "arn:aws:ecr:us-east-1:123456789012:repository/" + name }

func (s settings) withDefaults() settings {
	out := settings{}
	for k, v := range defaults {
		out[k] = v
	}
	for k, v := range s {
		out[k] = v
	}
	return out
}

func num(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	return -1
}

// checkModel holds one side's model to what the fleet needs, for the parameter values s.
func checkModel(m stackModel, s settings) []string {
	var errs []string
	expect := func(what string, got, want any) {
		if g, w := normalise(got), normalise(want); !reflect.DeepEqual(g, w) {
			errs = append(errs, fmt.Sprintf("%s: %s, want %s", what, js(g), js(w)))
		}
	}
	at := func(path string) any {
		var v any = map[string]any(m)
		for _, k := range strings.Split(path, ".") {
			mm, _ := v.(map[string]any)
			v = mm[k]
		}
		return v
	}
	patterns := s["RepositoryPatterns"].([]string)
	name := s["FunctionName"].(string)

	expect("function.name", at("function.name"), name)
	expect("function.runtime", at("function.runtime"), "provided.al2023")
	expect("function.handler", at("function.handler"), "bootstrap")
	expect("function.architectures", at("function.architectures"), []string{s["Architecture"].(string)})
	expect("function.memory", at("function.memory"), s["MemorySize"])
	expect("function.timeout", at("function.timeout"), 900)
	expect("function.role", at("function.role"), "<<role.arn>>")
	// The variable names are pkg/fleet's own constants, so a rename there fails here.
	env := map[string]string{
		fleet.EnvRepositories: "**", fleet.EnvExcludeRepositories: s["ExcludeRepositoryPatterns"].(string),
		fleet.EnvTags: s["TagPatterns"].(string), fleet.EnvTagTemplate: s["TagTemplate"].(string),
		fleet.EnvCacheRepository: s["CacheRepository"].(string),
	}
	expect("function.env", at("function.env"), env)
	// The function accepts that environment at cold start, and reads what the stack meant.
	fnEnv, _ := at("function.env").(map[string]any)
	cfg, err := fleet.FromEnv(func(k string) string { v, _ := fnEnv[k].(string); return v })
	if err != nil {
		errs = append(errs, fmt.Sprintf("function.env: the function would not start: %v", err))
	} else {
		wantCache := s["CacheRepository"].(string)
		if wantCache == "off" {
			wantCache = ""
		}
		expect("function cache repository", cfg.CacheRepository, wantCache)
		expect("function tag template", cfg.TagTemplate, s["TagTemplate"])
		for _, repo := range []string{"app", "team-a/app", "team-a/x/y"} {
			if !cfg.Repositories.Match(repo) {
				errs = append(errs, fmt.Sprintf("function.env: the function would skip repository %s, which the rule sends", repo))
			}
		}
	}
	if c := s["CacheRepository"].(string); c == "off" {
		expect("cache", at("cache"), nil)
	} else {
		expect("cache.name", at("cache.name"), c)
		expect("cache.emptyOnDelete", at("cache.emptyOnDelete"), true)
		expect("cache.lifecycle", at("cache.lifecycle"), map[string]any{"rules": []any{map[string]any{
			"rulePriority": 1, "description": "zTOC cache entries expire 90 days after they were written",
			"selection": map[string]any{"tagStatus": "any", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 90},
			"action":    map[string]any{"type": "expire"},
		}}})
		expect("cache.policy.Statement", at("cache.policy.Statement"), []any{map[string]any{
			"Sid": "OnlyTheFunctionWritesZtocs", "Effect": "Deny", "Principal": "*",
			"Action":    []string{"ecr:CompleteLayerUpload", "ecr:InitiateLayerUpload", "ecr:PutImage", "ecr:UploadLayerPart"},
			"Condition": map[string]any{"StringNotEquals": map[string]any{"aws:PrincipalArn": "<<role.arn>>"}},
		}})
	}
	// Lambda's SQS documentation: visibility timeout at least six times the function timeout.
	if vt, to := num(at("queue.visibilityTimeout")), num(at("function.timeout")); vt < 6*to {
		errs = append(errs, fmt.Sprintf("queue.visibilityTimeout %v is less than 6 x the function timeout %v", vt, to))
	}
	expect("queue.redrive", at("queue.redrive"), map[string]any{"deadLetterTargetArn": "<<dlq.arn>>", "maxReceiveCount": s["MaxReceiveCount"]})
	expect("queue.sse", at("queue.sse"), true)
	expect("dlq.sse", at("dlq.sse"), true)
	expect("queue.name", at("queue.name"), name+"-events")
	expect("dlq.name", at("dlq.name"), name+"-dlq")
	// A message keeps its first enqueue time in the DLQ: the DLQ must keep messages longer.
	if d, q := num(at("dlq.retention")), num(at("queue.retention")); d <= q {
		errs = append(errs, fmt.Sprintf("dlq.retention %v is not longer than queue.retention %v", d, q))
	}
	expect("rule.targets", at("rule.targets"), []string{"<<queue.arn>>"})
	expect("queuePolicy.queues", at("queuePolicy.queues"), []string{"<<queue.url>>"})
	expect("queuePolicy.policy.Statement", at("queuePolicy.policy.Statement"), []any{map[string]any{
		"Sid": "EventBridgeSendsPushEvents", "Effect": "Allow", "Principal": map[string]any{"Service": "events.amazonaws.com"},
		"Action": []string{"sqs:SendMessage"}, "Resource": []string{"<<queue.arn>>"},
		"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": "<<rule.arn>>"}},
	}})
	expect("logGroup", at("logGroup"), map[string]any{"name": "/aws/lambda/" + name, "retention": s["LogRetentionDays"]})
	expect("role.trust.Statement", at("role.trust.Statement"), []any{map[string]any{
		"Effect": "Allow", "Principal": map[string]any{"Service": "lambda.amazonaws.com"}, "Action": []string{"sts:AssumeRole"},
	}})
	expect("esm", at("esm"), map[string]any{
		"source": "<<queue.arn>>", "function": "<<function>>", "batchSize": s["BatchSize"],
		"responseTypes": []string{"ReportBatchItemFailures"}, "maxConcurrency": s["MaximumConcurrency"],
	})

	// Least privilege: exactly the required actions, each on exactly its resources, Allow only.
	got := map[string][]string{}
	sts, _ := at("role.policy.Statement").([]any)
	for _, st := range sts {
		st, _ := st.(map[string]any)
		for k := range st {
			if k != "Sid" && k != "Effect" && k != "Action" && k != "Resource" {
				errs = append(errs, fmt.Sprintf("role.policy: statement %v has %s", st["Sid"], k))
			}
		}
		if st["Effect"] != "Allow" {
			errs = append(errs, fmt.Sprintf("role.policy: statement %v is not Allow", st["Sid"]))
		}
		for _, a := range strList(st["Action"]) {
			got[a] = append(got[a], strList(st["Resource"])...)
			sort.Strings(got[a])
		}
	}
	expect("role.policy actions", got, requiredActions(s))

	// The event pattern selects exactly successful pushes to matching repositories.
	for _, repo := range []string{"team-a/app", "base/alpine", "app", "other", "a", "e/x", "x/app", "socify-cache", "team-a/x/y"} {
		want := false
		for _, p := range patterns {
			want = want || glob(p, repo)
		}
		for _, ev := range []struct {
			source, detailType, action, result string
			match                              bool
		}{
			{"aws.ecr", "ECR Image Action", "PUSH", "SUCCESS", want},
			{"aws.ecr", "ECR Image Action", "DELETE", "SUCCESS", false},
			{"aws.ecr", "ECR Image Action", "PUSH", "FAILURE", false},
			{"aws.ecr", "ECR Image Scan", "PUSH", "SUCCESS", false},
			{"aws.s3", "ECR Image Action", "PUSH", "SUCCESS", false},
		} {
			event := map[string]any{
				"source": ev.source, "detail-type": ev.detailType, "account": "123456789012", "region": "us-east-1",
				"detail": map[string]any{
					"result": ev.result, "repository-name": repo, "image-digest": "sha256:" + strings.Repeat("0", 64),
					"action-type": ev.action, "image-tag": "v1",
				},
			}
			ok, err := matches(at("rule.pattern"), event)
			if err != nil {
				errs = append(errs, "rule.pattern: "+err.Error())
				return errs
			}
			if ok != ev.match {
				errs = append(errs, fmt.Sprintf("rule.pattern: %s %s/%s of %s matched %v, want %v", ev.source, ev.action, ev.result, repo, ok, ev.match))
			}
		}
	}
	return errs
}

type sources struct {
	cfn []byte
	tf  map[string][]byte
}

func readSources(t *testing.T) sources {
	t.Helper()
	cfn, err := os.ReadFile(filepath.Join(deployDir, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(deployDir, "terraform", "*.tf"))
	tf := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tf[filepath.Base(f)] = b
	}
	if len(tf) == 0 {
		t.Fatal("no Terraform files in deploy/terraform")
	}
	return sources{cfn: cfn, tf: tf}
}

// verify runs every check on both sides and returns everything that is wrong.
func verify(src sources) []string {
	var errs []string
	tfm, err := parseTF(src.tf)
	if err != nil {
		return []string{"terraform: " + err.Error()}
	}
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		s := scenarios[name]
		tmpl, ev, err := parseCFN(src.cfn, s.cfn())
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: cloudformation: %v", name, err))
			continue
		}
		cm, err := cfnModel(tmpl)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: cloudformation: %v", name, err))
			continue
		}
		for _, p := range params {
			if _, ok := tmpl.Parameters[p.cfn]; !ok {
				errs = append(errs, fmt.Sprintf("cloudformation: no parameter %s", p.cfn))
			} else if !ev.resolved[p.cfn] {
				errs = append(errs, fmt.Sprintf("cloudformation: parameter %s is never used", p.cfn))
			}
		}
		if len(tmpl.Parameters) != len(params) {
			errs = append(errs, fmt.Sprintf("cloudformation: %d parameters, want %d (update params)", len(tmpl.Parameters), len(params)))
		}
		res, err := tfm.eval(s.tf())
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: terraform: %v", name, err))
			continue
		}
		tm, err := tfModel(res)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: terraform: %v", name, err))
			continue
		}
		eff := s.withDefaults()
		for _, e := range checkModel(cm, eff) {
			errs = append(errs, fmt.Sprintf("%s: cloudformation: %s", name, e))
		}
		for _, e := range checkModel(tm, eff) {
			errs = append(errs, fmt.Sprintf("%s: terraform: %s", name, e))
		}
		for _, e := range diff("", map[string]any(cm), map[string]any(tm)) {
			errs = append(errs, fmt.Sprintf("%s: drift: %s", name, e))
		}
	}

	// Defaults and limits: both sides declare the documented defaults and accept and refuse
	// the same values.
	tmpl, _, err := parseCFN(src.cfn, nil)
	if err != nil {
		return append(errs, "cloudformation: "+err.Error())
	}
	for _, p := range params {
		def := tmpl.Parameters[p.cfn].Default
		if p.cfn == "RepositoryPatterns" {
			def = strings.Split(fmt.Sprint(def), ",")
		}
		if !reflect.DeepEqual(normalise(def), normalise(defaults[p.cfn])) {
			errs = append(errs, fmt.Sprintf("cloudformation: %s defaults to %s, documented %s", p.cfn, js(def), js(defaults[p.cfn])))
		}
		if v := tfm.vars[p.tf]; v == nil {
			errs = append(errs, "terraform: no variable "+p.tf)
		} else if d := ctyToGo(v.def); !reflect.DeepEqual(normalise(d), normalise(defaults[p.cfn])) {
			errs = append(errs, fmt.Sprintf("terraform: %s defaults to %s, documented %s", p.tf, js(d), js(defaults[p.cfn])))
		}
	}
	if len(tfm.vars) != len(params)+len(tfOnly) {
		errs = append(errs, fmt.Sprintf("terraform: %d variables, want %d (update params)", len(tfm.vars), len(params)+len(tfOnly)))
	}
	for _, pr := range probes {
		s := settings{pr.param: pr.value}
		cfnOK := cfnParamOK(tmpl.Parameters[pr.param], s.cfn()[pr.param])
		_, tfErr := tfm.eval(s.tf())
		if cfnOK != pr.ok || (tfErr == nil) != pr.ok {
			errs = append(errs, fmt.Sprintf("limits: %s = %s: CloudFormation accepts %v, Terraform accepts %v (%v), want %v",
				pr.param, js(pr.value), cfnOK, tfErr == nil, tfErr, pr.ok))
		}
	}
	return errs
}

// TestTemplatesAgree: the real files pass every check and describe the same stack.
func TestTemplatesAgree(t *testing.T) {
	for _, e := range verify(readSources(t)) {
		t.Error(e)
	}
}

// TestDriftIsCaught edits one side at a time, as a careless change would, and requires verify to
// name what changed: the checks above are not vacuous.
func TestDriftIsCaught(t *testing.T) {
	for _, m := range []struct {
		name, file, old, new, want string
	}{
		{"terraform maxReceiveCount fixed", "main.tf", "maxReceiveCount     = var.max_receive_count", "maxReceiveCount     = 5", "custom: drift: queue.redrive.maxReceiveCount"},
		{"cloudformation visibility timeout", "template.yaml", "VisibilityTimeout: 5400", "VisibilityTimeout: 900", "less than 6 x the function timeout"},
		{"terraform drops an IAM action", "main.tf", "\"ecr:DescribeImages\",\n", "", "drift: role.policy.Statement[1].Action"},
		{"cloudformation adds an IAM action", "template.yaml", "- ecr:PutImage\n                  - ecr:DescribeImages\n", "- ecr:PutImage\n                  - ecr:DeleteRepository\n                  - ecr:DescribeImages\n", "cloudformation: role.policy actions"},
		{"cloudformation IAM wildcard", "template.yaml", "- ecr:DescribeImages\n", "- ecr:*\n", "cloudformation: role.policy actions"},
		{"terraform IAM on every repository", "main.tf", "[for p in var.repository_patterns : \"${local.repository_arn}/${p}\"]", "[\"${local.repository_arn}/*\"]", "custom: drift: role.policy.Statement[1].Resource"},
		{"cloudformation cache repository not scoped", "template.yaml", "repository/${CacheRepository}", "repository/*", "custom: cloudformation: role.policy actions"},
		{"terraform accepts failed pushes", "main.tf", "result            = [\"SUCCESS\"]", "result            = [\"SUCCESS\", \"FAILURE\"]", "drift: rule.pattern.detail.result"},
		{"cloudformation detail-type", "template.yaml", "detail-type: [ECR Image Action]", "detail-type: [ECR Image Scan]", "drift: rule.pattern.detail-type"},
		{"cloudformation repeats the fourth pattern", "template.yaml", "{wildcard: !Select [4,", "{wildcard: !Select [3,", "five patterns: drift: rule.pattern.detail.repository-name[4]"},
		{"terraform concurrency default", "variables.tf", "default     = 10\n", "default     = 20\n", "terraform: maximum_concurrency defaults to 20"},
		{"cloudformation memory default", "template.yaml", "Default: 1024", "Default: 2048", "cloudformation: MemorySize defaults to 2048"},
		{"terraform timeout", "main.tf", "timeout          = local.function_timeout", "timeout          = 600", "drift: function.timeout"},
		{"cloudformation fixed concurrency", "template.yaml", "MaximumConcurrency: !Ref MaximumConcurrency", "MaximumConcurrency: 5", "drift: esm.maxConcurrency"},
		{"terraform no partial batch failures", "main.tf", "function_response_types = [\"ReportBatchItemFailures\"]", "function_response_types = []", "esm"},
		{"terraform concurrency limit", "variables.tf", "var.maximum_concurrency <= 1000", "var.maximum_concurrency <= 5000", "limits: MaximumConcurrency = 1001"},
		{"cloudformation memory limit", "template.yaml", "MinValue: 512", "MinValue: 128", "limits: MemorySize = 511"},
		{"cloudformation six patterns", "template.yaml", "(,[a-z0-9._/*-]+){0,4}", "(,[a-z0-9._/*-]+){0,5}", "limits: RepositoryPatterns"},
		{"cloudformation env var renamed", "template.yaml", "SOCIFY_TAG_TEMPLATE: !Ref TagTemplate", "SOCIFY_TAG_TMPL: !Ref TagTemplate", "drift: function.env.SOCIFY_TAG_TEMPLATE"},
		{"terraform runtime", "main.tf", "\"provided.al2023\"", "\"provided.al2\"", "drift: function.runtime"},
		{"terraform rule targets another queue", "main.tf", "arn       = aws_sqs_queue.events.arn", "arn       = aws_sqs_queue.dead_letter.arn", "drift: rule.targets"},
		{"cloudformation queue policy without source condition", "template.yaml", "ArnEquals: {aws:SourceArn: !GetAtt PushRule.Arn}", "ArnEquals: {aws:SourceArn: \"*\"}", "drift: queuePolicy.policy.Statement[0].Condition"},
		{"cloudformation unknown reference", "template.yaml", "!GetAtt DeadLetterQueue.Arn", "!GetAtt DeadLetterQ.Arn", "undeclared names: [DeadLetterQ.Arn]"},
		{"terraform undeclared data attribute", "main.tf", "data.aws_region.current.region", "data.aws_region.current.name", "terraform"},
		{"terraform cache policy allows", "main.tf", "Effect    = \"Deny\"", "Effect    = \"Allow\"", "drift: cache.policy.Statement[0].Effect"},
		{"cloudformation cache kept longer", "template.yaml", "\"countNumber\":90", "\"countNumber\":365", "drift: cache.lifecycle"},
		{"terraform cache created when off", "main.tf", "count = local.cache ? 1 : 0\n  name", "count = 1\n  name", "cache off: terraform"},
		{"cloudformation cache default off", "template.yaml", "Default: socify-ztoc-cache", "Default: \"off\"", "cloudformation: CacheRepository defaults to \"off\""},
		{"terraform filters repositories with one-segment *", "main.tf", "SOCIFY_REPOSITORIES         = \"**\"", "SOCIFY_REPOSITORIES         = \"*\"", "the function would skip repository team-a/app"},
		{"cloudformation builds another command", "template.yaml", "CodeUri: ../cmd/socify-lambda", "CodeUri: ../cmd/socify", "is not the Lambda function's main package"},
		{"terraform log retention", "variables.tf", "default     = 30", "default     = 14", "terraform: log_retention_days defaults to 14"},
	} {
		t.Run(m.name, func(t *testing.T) {
			src := readSources(t)
			var b []byte
			if m.file == "template.yaml" {
				b = src.cfn
			} else {
				b = src.tf[m.file]
			}
			if n := strings.Count(string(b), m.old); n != 1 {
				t.Fatalf("%s contains %q %d times; the mutation must hit one place", m.file, m.old, n)
			}
			b = []byte(strings.Replace(string(b), m.old, m.new, 1))
			if m.file == "template.yaml" {
				src.cfn = b
			} else {
				src.tf[m.file] = b
			}
			errs := verify(src)
			for _, e := range errs {
				if strings.Contains(e, m.want) {
					return
				}
			}
			t.Errorf("mutation not caught: no error contains %q; got:\n%s", m.want, strings.Join(errs, "\n"))
		})
	}
}

// TestDocParameters: docs/fleet.md's parameter table names every parameter pair with the
// default the templates declare.
func TestDocParameters(t *testing.T) {
	doc, err := os.ReadFile("../../docs/fleet.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string][2]string{} // CloudFormation name -> Terraform name, default
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		cfn := strings.Trim(strings.TrimSpace(cells[1]), "`")
		rows[cfn] = [2]string{strings.Trim(strings.TrimSpace(cells[2]), "`"), strings.Trim(strings.TrimSpace(cells[3]), "`")}
	}
	for _, p := range params {
		row, ok := rows[p.cfn]
		if !ok {
			t.Errorf("docs/fleet.md's parameter table lacks %s", p.cfn)
			continue
		}
		want := fmt.Sprint(defaults[p.cfn])
		if l, ok := defaults[p.cfn].([]string); ok {
			want = strings.Join(l, ",")
		}
		if want == "" {
			want = "empty"
		}
		if row[0] != p.tf || row[1] != want {
			t.Errorf("docs/fleet.md: %s row says %s, default %q; the templates: %s, default %q", p.cfn, row[0], row[1], p.tf, want)
		}
	}
}
