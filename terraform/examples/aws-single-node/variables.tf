variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region such as eu-west-1."
  }
}

variable "name" {
  description = "Name of the cluster."
  type        = string
  default     = "strata-demo"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3 to 32 lower-case letters, digits and dashes."
  }
}

variable "vpc_id" {
  description = "Existing VPC for the node."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_id" {
  description = "Private subnet for the node, with a route to S3 and to binary_url."
  type        = string

  validation {
    condition     = can(regex("^subnet-[0-9a-f]{8,17}$", var.subnet_id))
    error_message = "subnet_id must look like subnet-0123456789abcdef0."
  }
}

variable "binary_url" {
  description = "HTTP(S) URL of a linux/amd64 strata executable."
  type        = string

  validation {
    condition     = can(regex("^https?://", var.binary_url))
    error_message = "binary_url must be an http:// or https:// URL."
  }
}

variable "binary_sha256" {
  description = "SHA-256 of the executable at binary_url (recommended)."
  type        = string
  default     = ""

  validation {
    condition     = var.binary_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.binary_sha256))
    error_message = "binary_sha256 must be empty or 64 lower-case hex digits."
  }
}

variable "client_cidrs" {
  description = "CIDR blocks of the Kafka clients and of the Prometheus scraper."
  type        = list(string)

  validation {
    condition     = length(var.client_cidrs) > 0 && alltrue([for c in var.client_cidrs : can(cidrhost(c, 0))])
    error_message = "client_cidrs must be a non-empty list of CIDR blocks."
  }
}
