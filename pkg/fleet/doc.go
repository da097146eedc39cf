// Package fleet makes every image pushed to Amazon ECR SOCI-enabled: it is the AWS Lambda
// function (cmd/socify-lambda) and the backfill of existing images (socify backfill), both thin
// shells over socify.Convert.
//
// # Input
//
// ECR sends an EventBridge event ("source": "aws.ecr", "detail-type": "ECR Image Action") for
// every push; an EventBridge rule puts it on an SQS queue, and the queue invokes the function
// with batches (Function.Invoke with an SQS event). The function answers with the messages to
// deliver again (ReportBatchItemFailures), so one bad image does not redo its batch. The event
// may also be invoked directly (an EventBridge rule targeting the function, or a test).
//
// # Decisions
//
// Every event gets one JSON log line ("msg":"decision") with a code and a reason, in this order:
// not a PUSH/SUCCESS; the zTOC cache repository; repository include/exclude patterns; untagged
// (skipped unless SOCIFY_CONVERT_UNTAGGED); tag include/exclude patterns; a tag the function
// writes itself (its tag template, and per-platform child tags of it); the pushed tag has moved
// on (an out-of-order or late event: converting it would move the target back to an old image);
// the image is SOCI-enabled already (the function's own in-place pushes, its SOCI indexes and
// rewritten manifests); the target tag already points at the result this event would write
// (SQS and EventBridge deliver at least once: a duplicate is a no-op). Messages of one batch
// naming the same image and tag are converted once.
//
// Each conversion gets one line ("msg":"conversion"): source, target, result digest, layers
// indexed, cached and skipped, bytes read and written, duration, and the error if any. Both
// kinds of line carry CloudWatch embedded-metric-format metrics ("_aws") for the same figures
// (namespace SOCIFY_METRICS_NAMESPACE, dimensions Decision and Outcome), so logs and metrics
// cannot disagree. Every invocation ends with one line ("msg":"invocation": kind, messages,
// retried, duration), written after all the others of that invocation.
//
// # Failures
//
// Transient failures (the invocation deadline, throttling, 5xx, broken connections) send the
// message back to the queue; after the queue's maxReceiveCount it goes to the dead-letter queue.
// Permanent failures, which a retry cannot fix (an immutable target tag, named in the error; an
// image of which no layer can be indexed, such as zstd only; a corrupt layer), are logged as
// errors and counted, and by default the message is deleted; SOCIFY_PERMANENT_ERRORS=retry
// reports them failed too, so that they end in the dead-letter queue.
//
// The work stops SOCIFY_DEADLINE_MARGIN (default 10 s) before the invocation deadline: an
// unfinished conversion is cancelled before its tag is written (socify writes the tag last), and
// its message is reported failed. Nothing is ever written to /tmp.
//
// # The zTOC cache
//
// RegistryCache keeps zTOCs in a repository of the same registry (SOCIFY_CACHE_REPOSITORY,
// default "socify-ztoc-cache"), one tagged artifact per CacheKey (layer digest, compression,
// span size, build tool identifier, zTOC format version): base layers used by hundreds of images
// are indexed once per account and region, whatever repository or execution environment meets
// them, and a cached zTOC is mounted into the target repository instead of uploaded.
//
// The cache is on by default. Most images of a fleet share their base layers, which are also
// their largest, so the cache removes most of the bytes read and of the function's run time; it
// needs no other AWS service (only the repository, which the deployment templates create, with
// a lifecycle rule); a cache miss or error never fails a conversion (the layer is indexed); and
// entries are checked against their key and digest, so a damaged entry is a miss. Its one
// requirement is trust: whoever may push to the cache repository decides the zTOCs of every
// image, so only the function's role may push there. Set SOCIFY_CACHE_REPOSITORY=off to do
// without.
//
// # Configuration
//
// FromEnv reads SOCIFY_* variables at cold start and reports every bad value at once, each
// naming its variable, which fails the function's init:
//
//	SOCIFY_REPOSITORIES           include patterns for repositories (default **: all)
//	SOCIFY_EXCLUDE_REPOSITORIES   exclude patterns (win over includes)
//	SOCIFY_TAGS, SOCIFY_EXCLUDE_TAGS   the same for tags
//	SOCIFY_TAG_TEMPLATE           target tag, {tag} and {digest} (default {tag}-soci; {tag}: in place)
//	SOCIFY_CONVERT_UNTAGGED       convert pushes without a tag (default false)
//	SOCIFY_UNTAGGED_TAG_TEMPLATE  their target tag (default {digest}-soci)
//	SOCIFY_TAG_CHILDREN           also tag each converted platform manifest <target>-<os>-<arch>
//	SOCIFY_CACHE_REPOSITORY       the zTOC cache repository (default socify-ztoc-cache; off)
//	SOCIFY_SPAN_SIZE, SOCIFY_MIN_LAYER_SIZE, SOCIFY_BUILD_TOOL_IDENTIFIER   conversion options
//	SOCIFY_PERMANENT_ERRORS       drop (default) or retry
//	SOCIFY_DEADLINE_MARGIN        time kept before the deadline (default 10s)
//	SOCIFY_CONCURRENCY            messages of a batch converted at once (default 1)
//	SOCIFY_METRICS_NAMESPACE      CloudWatch namespace (default socify)
//	SOCIFY_LOG_LEVEL              info (default) or debug
//	SOCIFY_REGISTRY               registry host instead of <account>.dkr.ecr.<region>.amazonaws.com
//	SOCIFY_PLAIN_HTTP             speak plain HTTP to it (tests)
//
// Patterns are globs: * within one path segment, ** across segments, ? one character; lists are
// separated by commas or spaces. The AWS credentials come from the Lambda role
// (the default AWS chain); the ECR API endpoint follows the AWS SDK's own settings
// (AWS_ENDPOINT_URL_ECR for a VPC endpoint).
package fleet
