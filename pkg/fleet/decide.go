package fleet

import (
	"fmt"
	"regexp"
)

// Decision codes: short, stable words for logs and the Decision metric dimension. Reason holds
// the details.
const (
	CodeConvert           = "convert"
	CodeNotPush           = "not-push"
	CodeFailedAction      = "failed-action"
	CodeCacheRepository   = "cache-repository"
	CodeRepoNotIncluded   = "repository-not-included"
	CodeRepoExcluded      = "repository-excluded"
	CodeUntagged          = "untagged"
	CodeTagNotIncluded    = "tag-not-included"
	CodeTagExcluded       = "tag-excluded"
	CodeOwnTag            = "own-tag"
	CodeSuperseded        = "superseded"
	CodeGone              = "gone"
	CodeAlreadySoci       = "already-soci"
	CodeSociIndex         = "soci-index"
	CodeUpToDate          = "up-to-date"
	CodeDuplicate         = "duplicate-in-batch"
	CodeNotAnImageAction  = "not-an-image-action"
	CodeDeadline          = "deadline"
	CodeConversionFailure = "failed"
)

// Decision is what to do with one event and why.
type Decision struct {
	Convert bool
	Code    string
	Reason  string
}

func skip(code, format string, a ...any) Decision {
	return Decision{Code: code, Reason: fmt.Sprintf(format, a...)}
}

// rules are the decisions that need nothing but the event and the configuration.
type rules struct {
	cfg *Config
	own *regexp.Regexp
}

func newRules(cfg *Config) (*rules, error) {
	own, err := cfg.ownTags()
	if err != nil {
		return nil, err
	}
	return &rules{cfg: cfg, own: own}, nil
}

// decide applies them in order; the first that skips wins.
func (r *rules) decide(ev ImageEvent) Decision {
	c := r.cfg
	switch {
	case ev.ActionType != "PUSH":
		return skip(CodeNotPush, "action-type %s is not PUSH", ev.ActionType)
	case ev.Result != "SUCCESS":
		return skip(CodeFailedAction, "result %s is not SUCCESS", ev.Result)
	case ev.ImageDigest == "":
		return skip(CodeNotAnImageAction, "the event names no image-digest")
	case c.CacheRepository != "" && ev.RepositoryName == c.CacheRepository:
		return skip(CodeCacheRepository, "%s is the zTOC cache repository", ev.RepositoryName)
	}
	if p := c.ExcludeRepositories.match(ev.RepositoryName); p != "" {
		return skip(CodeRepoExcluded, "repository %s matches the exclude pattern %q", ev.RepositoryName, p)
	}
	if !c.Repositories.Match(ev.RepositoryName) {
		return skip(CodeRepoNotIncluded, "repository %s matches none of the patterns %q", ev.RepositoryName, c.Repositories.String())
	}
	if ev.ImageTag == "" {
		if !c.ConvertUntagged {
			return skip(CodeUntagged, "untagged push (a platform manifest of a multi-platform push, an attestation or a SOCI index); set %s=true to convert these", EnvConvertUntagged)
		}
		return Decision{Convert: true, Code: CodeConvert, Reason: "untagged push"}
	}
	if p := c.ExcludeTags.match(ev.ImageTag); p != "" {
		return skip(CodeTagExcluded, "tag %s matches the exclude pattern %q", ev.ImageTag, p)
	}
	if !c.Tags.Match(ev.ImageTag) {
		return skip(CodeTagNotIncluded, "tag %s matches none of the patterns %q", ev.ImageTag, c.Tags.String())
	}
	if r.own != nil && r.own.MatchString(ev.ImageTag) {
		return skip(CodeOwnTag, "tag %s is one this function writes (tag template %q)", ev.ImageTag, c.TagTemplate)
	}
	return Decision{Convert: true, Code: CodeConvert, Reason: "push of a matching tag"}
}
