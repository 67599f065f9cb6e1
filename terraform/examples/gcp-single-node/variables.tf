variable "project" {
  description = "Project to deploy into."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a project ID."
  }
}

variable "region" {
  description = "Region of the subnetwork and the bucket."
  type        = string
  default     = "europe-west1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a region such as europe-west1."
  }
}

variable "zone" {
  description = "Zone of the node, in region."
  type        = string
  default     = "europe-west1-b"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", var.zone))
    error_message = "zone must be a zone such as europe-west1-b."
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

variable "network" {
  description = "Existing VPC network."
  type        = string
  default     = "default"
}

variable "subnetwork" {
  description = "Existing subnetwork in region, with Private Google Access on."
  type        = string
  default     = "default"
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
