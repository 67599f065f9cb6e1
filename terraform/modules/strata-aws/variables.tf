variable "name" {
  description = "Name of the cluster; prefixes every resource name and tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3 to 32 lower-case letters, digits and dashes, starting with a letter and not ending with a dash."
  }
}

variable "node_count" {
  description = "Number of broker nodes. Strata runs one node per cluster today; multi-node clusters (raft voters, serf membership) are not built yet."
  type        = number
  default     = 1

  validation {
    condition     = var.node_count == 1
    error_message = "node_count must be 1: Strata does not cluster nodes yet (raft voters and serf membership are not built), so each cluster is a single node."
  }
}

variable "vpc_id" {
  description = "VPC the nodes and their security group live in."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must look like vpc-0123456789abcdef0."
  }
}

variable "subnet_ids" {
  description = "Subnets for the nodes, in the VPC; node N goes to subnet_ids[(N-1) % length]. Private subnets with a route to S3 (a gateway endpoint or NAT) and to binary_url."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) > 0 && alltrue([for s in var.subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "subnet_ids must be a non-empty list of IDs like subnet-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type. Cost knob: the largest line item. Match architecture (m7i = x86_64, m7g = arm64)."
  type        = string
  default     = "m7i.large"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type such as m7i.large."
  }
}

variable "architecture" {
  description = "CPU architecture of instance_type and of the binary at binary_url: x86_64 or arm64. Chooses the Amazon Linux 2023 AMI when ami_id is empty."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "ami_id" {
  description = "AMI for the nodes. Empty uses the latest Amazon Linux 2023 for architecture (read from SSM at plan time). The image needs cloud-init, systemd, bash and curl."
  type        = string
  default     = ""

  validation {
    condition     = var.ami_id == "" || can(regex("^ami-[0-9a-f]{8,17}$", var.ami_id))
    error_message = "ami_id must be empty or look like ami-0123456789abcdef0."
  }
}

variable "binary_url" {
  description = "HTTP(S) URL of the strata executable for architecture, fetched by each node at first boot (a release artifact, or a presigned S3 URL)."
  type        = string

  validation {
    condition     = can(regex("^https?://[^[:space:]'\\\\]+$", var.binary_url))
    error_message = "binary_url must be an http:// or https:// URL without spaces, quotes or backslashes."
  }
}

variable "binary_sha256" {
  description = "Hex SHA-256 of the executable at binary_url; the bootstrap refuses a mismatching download. Empty skips the check."
  type        = string
  default     = ""

  validation {
    condition     = var.binary_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.binary_sha256))
    error_message = "binary_sha256 must be empty or 64 lower-case hex digits."
  }
}

variable "kafka_port" {
  description = "Kafka protocol port on each node."
  type        = number
  default     = 9092

  validation {
    condition     = var.kafka_port >= 1024 && var.kafka_port <= 65535 && floor(var.kafka_port) == var.kafka_port
    error_message = "kafka_port must be a whole number between 1024 and 65535."
  }
}

variable "http_port" {
  description = "Port of /healthz, /readyz and /metrics on each node."
  type        = number
  default     = 9644

  validation {
    condition     = var.http_port >= 1024 && var.http_port <= 65535 && floor(var.http_port) == var.http_port
    error_message = "http_port must be a whole number between 1024 and 65535."
  }
}

variable "kafka_allowed_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the Kafka port (clients). Nothing else is opened."
  type        = list(string)

  validation {
    condition     = length(var.kafka_allowed_cidrs) > 0 && alltrue([for c in var.kafka_allowed_cidrs : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "kafka_allowed_cidrs must be a non-empty list of IPv4 CIDR blocks such as 10.0.0.0/16."
  }
}

variable "metrics_allowed_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the HTTP port (Prometheus scrapers, health checks). Empty opens nothing."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.metrics_allowed_cidrs : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "metrics_allowed_cidrs must be IPv4 CIDR blocks such as 10.0.0.0/16."
  }
}

variable "advertised_host" {
  description = "Host name Kafka clients are told to connect to, for single-node clusters reached through DNS. Empty advertises each node's private IP."
  type        = string
  default     = ""

  validation {
    condition     = var.advertised_host == "" || can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", var.advertised_host))
    error_message = "advertised_host must be empty or a host name or IPv4 address without a port."
  }
}

variable "bucket_name" {
  description = "Name of the S3 bucket created for the cold tier. Empty lets AWS pick a unique name starting with \"<name>-cold-\"."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be empty or a valid S3 bucket name: 3 to 63 lower-case letters, digits, dots and dashes."
  }
}

variable "object_prefix" {
  description = "Key prefix for the cluster's objects in the bucket; empty or ending in /. The instance role can touch only keys under it."
  type        = string
  default     = "strata/"

  validation {
    condition     = var.object_prefix == "" || can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$", var.object_prefix))
    error_message = "object_prefix must be empty or a relative key prefix ending in / (for example strata/)."
  }
}

variable "bucket_force_destroy" {
  description = "Let terraform destroy delete a bucket that still holds objects. Leave false in production: the bucket is the only copy of the cold tier."
  type        = bool
  default     = false
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which S3 aborts unfinished multipart uploads (parts left by a crash mid-upload are billed until aborted). 0 adds no lifecycle rule."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_days >= 0 && var.abort_incomplete_multipart_days <= 365 && floor(var.abort_incomplete_multipart_days) == var.abort_incomplete_multipart_days
    error_message = "abort_incomplete_multipart_days must be a whole number between 0 and 365."
  }
}

variable "data_volume_size_gb" {
  description = "Size of each node's EBS data volume in GiB: the hot tail (log.local.retention.*) plus the cold-read cache. Cost knob."
  type        = number
  default     = 100

  validation {
    condition     = var.data_volume_size_gb >= 10 && var.data_volume_size_gb <= 16384 && floor(var.data_volume_size_gb) == var.data_volume_size_gb
    error_message = "data_volume_size_gb must be a whole number between 10 and 16384."
  }
}

variable "data_volume_type" {
  description = "EBS type of the data volume: gp3 (default, IOPS and throughput set separately) or io2. Cost knob."
  type        = string
  default     = "gp3"

  validation {
    condition     = contains(["gp3", "io2"], var.data_volume_type)
    error_message = "data_volume_type must be gp3 or io2."
  }
}

variable "data_volume_iops" {
  description = "Provisioned IOPS of the data volume (gp3: 3000 included, up to 16000; io2: required). Cost knob."
  type        = number
  default     = 3000

  validation {
    condition     = var.data_volume_iops >= 3000 && var.data_volume_iops <= 256000
    error_message = "data_volume_iops must be between 3000 and 256000."
  }
}

variable "data_volume_throughput" {
  description = "Throughput of a gp3 data volume in MiB/s (125 included, up to 1000). Ignored for io2. Cost knob."
  type        = number
  default     = 125

  validation {
    condition     = var.data_volume_throughput >= 125 && var.data_volume_throughput <= 1000
    error_message = "data_volume_throughput must be between 125 and 1000 MiB/s."
  }
}

variable "data_filesystem" {
  description = "Filesystem created on an empty data volume: xfs or ext4 (both on Amazon Linux 2023)."
  type        = string
  default     = "xfs"

  validation {
    condition     = contains(["ext4", "xfs"], var.data_filesystem)
    error_message = "data_filesystem must be ext4 or xfs."
  }
}

variable "root_volume_size_gb" {
  description = "Size of each node's root volume in GiB (OS and binary only; data lives on the data volume)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size_gb >= 8 && var.root_volume_size_gb <= 1024
    error_message = "root_volume_size_gb must be between 8 and 1024."
  }
}

variable "broker_settings" {
  description = "Broker settings under Kafka's names, written to the config file's set: map (for example { \"log.local.retention.ms\" = \"3600000\" }). Unknown names stop the node at start."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.broker_settings) : can(regex("^[a-z][a-z0-9._-]*$", k))])
    error_message = "broker_settings keys must be Kafka setting names: lower-case letters, digits, dots, dashes and underscores."
  }
}

variable "log_level" {
  description = "Log level of the nodes: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
