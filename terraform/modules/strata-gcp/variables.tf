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

variable "binary_url" {
  description = "HTTP(S) URL of the strata executable for architecture, fetched by each node at first boot (a release artifact, or a signed GCS URL)."
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
  description = "Host name Kafka clients are told to connect to, for single-node clusters reached through DNS. Empty advertises each node's reserved internal IP."
  type        = string
  default     = ""

  validation {
    condition     = var.advertised_host == "" || can(regex("^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$", var.advertised_host))
    error_message = "advertised_host must be empty or a host name or IPv4 address without a port."
  }
}

variable "object_prefix" {
  description = "Key prefix for the cluster's objects in the bucket; empty or ending in /. The bucket is dedicated to the cluster; the prefix keeps its keys together."
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

variable "project" {
  description = "Project for every resource. Empty uses the provider's project."
  type        = string
  default     = ""

  validation {
    condition     = var.project == "" || can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be empty or a project ID (6 to 30 lower-case letters, digits and dashes)."
  }
}

variable "zones" {
  description = "Zones for the nodes, all in the subnetwork's region; node N goes to zones[(N-1) % length]."
  type        = list(string)

  validation {
    condition     = length(var.zones) > 0 && alltrue([for z in var.zones : can(regex("^[a-z]+-[a-z]+[0-9]+-[a-z]$", z))])
    error_message = "zones must be a non-empty list of zones such as europe-west1-b."
  }
}

variable "network" {
  description = "VPC network (name or self link) the firewall rules apply to."
  type        = string

  validation {
    condition     = length(var.network) > 0
    error_message = "network must not be empty."
  }
}

variable "subnetwork" {
  description = "Subnetwork (name or self link) for the nodes. It needs Private Google Access (or Cloud NAT) to reach Cloud Storage and binary_url without public IPs."
  type        = string

  validation {
    condition     = length(var.subnetwork) > 0
    error_message = "subnetwork must not be empty."
  }
}

variable "assign_public_ip" {
  description = "Give each node an ephemeral external IP for outbound traffic. Clients are still told the internal address (see advertised_host)."
  type        = bool
  default     = false
}

variable "machine_type" {
  description = "Compute Engine machine type. Cost knob: the largest line item. Match the image and binary architecture (n2/c3 = x86_64, t2a/c4a = arm64)."
  type        = string
  default     = "n2-standard-2"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]*-[a-z0-9-]+$", var.machine_type))
    error_message = "machine_type must be a machine type such as n2-standard-2."
  }
}

variable "image" {
  description = "Boot image (family or image self link). It must run cloud-init and read the user-data metadata key, as Ubuntu images do; Debian images on Compute Engine do not."
  type        = string
  default     = "ubuntu-os-cloud/ubuntu-2404-lts-amd64"

  validation {
    condition     = length(var.image) > 0
    error_message = "image must not be empty."
  }
}

variable "boot_disk_size_gb" {
  description = "Boot disk size in GB (OS and binary only; data lives on the data disk)."
  type        = number
  default     = 20

  validation {
    condition     = var.boot_disk_size_gb >= 10 && var.boot_disk_size_gb <= 1024
    error_message = "boot_disk_size_gb must be between 10 and 1024."
  }
}

variable "data_disk_size_gb" {
  description = "Size of each node's persistent data disk in GB: the hot tail (log.local.retention.*) plus the cold-read cache. Cost knob; on pd-* disks throughput also grows with size."
  type        = number
  default     = 100

  validation {
    condition     = var.data_disk_size_gb >= 10 && var.data_disk_size_gb <= 65536 && floor(var.data_disk_size_gb) == var.data_disk_size_gb
    error_message = "data_disk_size_gb must be a whole number between 10 and 65536."
  }
}

variable "data_disk_type" {
  description = "Persistent disk type of the data disk: pd-balanced (default), pd-ssd, or hyperdisk-balanced (needs a machine type that supports it). Cost knob."
  type        = string
  default     = "pd-balanced"

  validation {
    condition     = contains(["pd-balanced", "pd-ssd", "hyperdisk-balanced"], var.data_disk_type)
    error_message = "data_disk_type must be pd-balanced, pd-ssd or hyperdisk-balanced."
  }
}

variable "data_filesystem" {
  description = "Filesystem created on an empty data disk: ext4 or xfs (xfs needs xfsprogs on the image)."
  type        = string
  default     = "ext4"

  validation {
    condition     = contains(["ext4", "xfs"], var.data_filesystem)
    error_message = "data_filesystem must be ext4 or xfs."
  }
}

variable "bucket_name" {
  description = "Name of the Cloud Storage bucket created for the cold tier. Empty uses \"<name>-cold-<project>\", unique because project IDs are."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9_-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be empty or 3 to 63 lower-case letters, digits, dashes and underscores."
  }
}

variable "bucket_location" {
  description = "Location of the bucket. Empty uses the region of the first zone (same-region reads and writes are free of network charges). Cost knob: multi-region locations cost more."
  type        = string
  default     = ""
}

variable "storage_class" {
  description = "Storage class of the bucket. STANDARD suits a cold tier that consumers replay; NEARLINE and colder add per-read retrieval fees and minimum storage durations. Cost knob."
  type        = string
  default     = "STANDARD"

  validation {
    condition     = contains(["STANDARD", "NEARLINE", "COLDLINE", "ARCHIVE"], var.storage_class)
    error_message = "storage_class must be STANDARD, NEARLINE, COLDLINE or ARCHIVE."
  }
}

variable "soft_delete_retention_seconds" {
  description = "How long Cloud Storage keeps deleted objects recoverable (billed as stored). 0 turns soft delete off, so segments removed by retention stop costing at once; otherwise 604800 to 7776000. Cost knob."
  type        = number
  default     = 0

  validation {
    condition     = var.soft_delete_retention_seconds == 0 || (var.soft_delete_retention_seconds >= 604800 && var.soft_delete_retention_seconds <= 7776000)
    error_message = "soft_delete_retention_seconds must be 0 or between 604800 (7 days) and 7776000 (90 days)."
  }
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which Cloud Storage aborts unfinished XML-API multipart uploads. 0 adds no lifecycle rule."
  type        = number
  default     = 7

  validation {
    condition     = var.abort_incomplete_multipart_days >= 0 && var.abort_incomplete_multipart_days <= 365 && floor(var.abort_incomplete_multipart_days) == var.abort_incomplete_multipart_days
    error_message = "abort_incomplete_multipart_days must be a whole number between 0 and 365."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes them."
  type        = map(string)
  default     = {}
}
