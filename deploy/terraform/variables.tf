# The same parameters as deploy/template.yaml, with the same defaults and limits
# (integration/deploy checks that they agree).

variable "name" {
  description = "Name of the function; the queues and the log group are named after it."
  type        = string
  default     = "socify"
  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,50}$", var.name))
    error_message = "name: 1-50 letters, digits, '-' or '_'."
  }
}

variable "repository_patterns" {
  description = "Up to five ECR repository name patterns (* matches any run of characters, / included). They filter the EventBridge rule and scope the IAM policy."
  type        = list(string)
  default     = ["*"]
  validation {
    # Five, as the CloudFormation template (which cannot map a list of any length).
    condition     = length(var.repository_patterns) >= 1 && length(var.repository_patterns) <= 5 && alltrue([for p in var.repository_patterns : can(regex("^[a-z0-9._/*-]+$", p))])
    error_message = "repository_patterns: one to five patterns of a-z, 0-9, '.', '_', '/', '-' and '*'."
  }
}

variable "tag_template" {
  description = "Tag of the SOCI-enabled image ({tag}, {digest}); the function skips the tags it writes itself."
  type        = string
  default     = "{tag}-soci"
}

variable "tag_patterns" {
  description = "Tag patterns the function converts (SOCIFY_TAGS, pkg/fleet's syntax: * within a path segment, ** across)."
  type        = string
  default     = "**"
}

variable "exclude_repository_patterns" {
  description = "Repository patterns the function never converts (SOCIFY_EXCLUDE_REPOSITORIES, pkg/fleet's syntax)."
  type        = string
  default     = ""
}

variable "cache_repository" {
  description = "ECR repository the module creates for the zTOC cache shared by all conversions (only the function may push to it); \"off\" turns the shared cache off."
  type        = string
  default     = "socify-ztoc-cache"
  validation {
    condition     = can(regex("^[a-z0-9._/-]+$", var.cache_repository))
    error_message = "cache_repository: an ECR repository name, or off."
  }
}

variable "maximum_concurrency" {
  description = "Most function instances the queue drives at once (Lambda accepts 2-1000)."
  type        = number
  default     = 10
  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000
    error_message = "maximum_concurrency: 2 to 1000."
  }
}

variable "memory_size" {
  description = "Function memory in MB (CPU share grows with it; 1769 MB is one full vCPU)."
  type        = number
  default     = 1024
  validation {
    condition     = var.memory_size >= 512 && var.memory_size <= 10240
    error_message = "memory_size: 512 to 10240."
  }
}

variable "architecture" {
  description = "arm64 or x86_64; must match the bootstrap in package."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture: arm64 or x86_64."
  }
}

variable "max_receive_count" {
  description = "Deliveries of one message before it moves to the dead-letter queue (Lambda's SQS documentation asks for at least 5)."
  type        = number
  default     = 5
  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000
    error_message = "max_receive_count: 1 to 1000."
  }
}

variable "batch_size" {
  description = "Messages per invocation; 1 gives every image the whole 15-minute deadline."
  type        = number
  default     = 1
  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10
    error_message = "batch_size: 1 to 10."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the function's log lines."
  type        = number
  default     = 30
  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days: one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "package" {
  description = "Path of the function's zip (bootstrap at its root): a socify-lambda_<version>_linux_<arm64|amd64>.zip release archive, or one built with the command in docs/fleet.md."
  type        = string
}
