# socify fleet conversion: every image pushed to the matched ECR repositories becomes SOCI-enabled.
#
#   ECR push -> EventBridge rule -> SQS queue (DLQ after max_receive_count) -> socify-lambda
#
# The same resources as deploy/template.yaml; docs/fleet.md explains the choices.

data "aws_partition" "current" {}
data "aws_region" "current" {}
data "aws_caller_identity" "current" {}

locals {
  # Lambda's maximum: the function streams layers and needs no disk, so time is the only cap.
  function_timeout = 900
  cache            = var.cache_repository != "off"
  repository_arn   = "arn:${data.aws_partition.current.partition}:ecr:${data.aws_region.current.region}:${data.aws_caller_identity.current.account_id}:repository"
  ecr_resources = concat(
    [for p in var.repository_patterns : "${local.repository_arn}/${p}"],
    local.cache ? ["${local.repository_arn}/${var.cache_repository}"] : [],
  )
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "events" {
  name = "${var.name}-events"
  # Six times the function timeout, as Lambda's SQS documentation recommends: a message is not
  # handed to a second instance while the first may still be converting it.
  visibility_timeout_seconds = 6 * local.function_timeout
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receive_count
  })
}

resource "aws_cloudwatch_event_rule" "push" {
  name        = "${var.name}-push"
  description = "ECR image pushes that socify converts"
  event_pattern = jsonencode({
    source        = ["aws.ecr"]
    "detail-type" = ["ECR Image Action"]
    detail = {
      "action-type"     = ["PUSH"]
      result            = ["SUCCESS"]
      "repository-name" = [for p in var.repository_patterns : { wildcard = p }]
    }
  })
}

resource "aws_cloudwatch_event_target" "queue" {
  rule      = aws_cloudwatch_event_rule.push.name
  target_id = "queue"
  arn       = aws_sqs_queue.events.arn
}

resource "aws_sqs_queue_policy" "events" {
  queue_url = aws_sqs_queue.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeSendsPushEvents"
      Effect    = "Allow"
      Principal = { Service = "events.amazonaws.com" }
      Action    = "sqs:SendMessage"
      Resource  = aws_sqs_queue.events.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.push.arn } }
    }]
  })
}

resource "aws_ecr_repository" "cache" {
  count = local.cache ? 1 : 0
  name  = var.cache_repository
  # Cache entries are derived data: destroying the module may delete them.
  force_delete = true
}

resource "aws_ecr_lifecycle_policy" "cache" {
  count      = local.cache ? 1 : 0
  repository = var.cache_repository
  # An expired entry costs one re-index of its layer; images keep the zTOCs mounted into them.
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "zTOC cache entries expire 90 days after they were written"
      selection    = { tagStatus = "any", countType = "sinceImagePushed", countUnit = "days", countNumber = 90 }
      action       = { type = "expire" }
    }]
  })
  depends_on = [aws_ecr_repository.cache]
}

resource "aws_ecr_repository_policy" "cache" {
  count      = local.cache ? 1 : 0
  repository = var.cache_repository
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      # Whoever can push here decides the zTOCs of every image converted with the cache.
      Sid       = "OnlyTheFunctionWritesZtocs"
      Effect    = "Deny"
      Principal = "*"
      Action    = ["ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage"]
      Condition = { StringNotEquals = { "aws:PrincipalArn" = aws_iam_role.function.arn } }
    }]
  })
  depends_on = [aws_ecr_repository.cache]
}

resource "aws_cloudwatch_log_group" "function" {
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

resource "aws_iam_role" "function" {
  name = "${var.name}-function"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "function" {
  name = "socify"
  role = aws_iam_role.function.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # ECR issues registry tokens per account: this action has no resource-level scope.
        Sid      = "EcrToken"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid    = "EcrRepositories"
        Effect = "Allow"
        Action = [
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
          "ecr:BatchCheckLayerAvailability",
          "ecr:InitiateLayerUpload",
          "ecr:UploadLayerPart",
          "ecr:CompleteLayerUpload",
          "ecr:PutImage",
          "ecr:DescribeImages",
        ]
        Resource = local.ecr_resources
      },
      {
        Sid      = "Queue"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
        Resource = aws_sqs_queue.events.arn
      },
      {
        Sid      = "Logs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.function.arn}:*"
      },
    ]
  })
}

resource "aws_lambda_function" "socify" {
  function_name    = var.name
  filename         = var.package
  source_code_hash = filebase64sha256(var.package)
  handler          = "bootstrap"
  runtime          = "provided.al2023"
  architectures    = [var.architecture]
  memory_size      = var.memory_size
  timeout          = local.function_timeout
  role             = aws_iam_role.function.arn
  environment {
    variables = {
      # The rule and the role already confine the function to repository_patterns, whose * also
      # spans "/" (EventBridge and IAM wildcards); pkg/fleet's ** is that wildcard.
      SOCIFY_REPOSITORIES         = "**"
      SOCIFY_EXCLUDE_REPOSITORIES = var.exclude_repository_patterns
      SOCIFY_TAGS                 = var.tag_patterns
      SOCIFY_TAG_TEMPLATE         = var.tag_template
      SOCIFY_CACHE_REPOSITORY     = var.cache_repository
    }
  }
  depends_on = [aws_cloudwatch_log_group.function, aws_iam_role_policy.function]
}

resource "aws_lambda_event_source_mapping" "queue" {
  event_source_arn        = aws_sqs_queue.events.arn
  function_name           = aws_lambda_function.socify.arn
  batch_size              = var.batch_size
  function_response_types = ["ReportBatchItemFailures"]
  scaling_config {
    maximum_concurrency = var.maximum_concurrency
  }
}
