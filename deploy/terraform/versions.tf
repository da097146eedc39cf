terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.0: data.aws_region's "region" attribute.
      version = ">= 6.0"
    }
  }
}
