variable "node_id" {
  description = "Broker ID of this node (strata node --node-id). Unique within the cluster."
  type        = number

  validation {
    condition     = var.node_id >= 0 && var.node_id <= 2147483647 && floor(var.node_id) == var.node_id
    error_message = "node_id must be a whole number between 0 and 2147483647."
  }
}

variable "binary_url" {
  description = "HTTP(S) URL the instance downloads the strata binary from at first boot (a bare executable for the instance's OS and architecture, e.g. bin/strata from `make build`)."
  type        = string

  validation {
    condition     = can(regex("^https?://[^[:space:]'\\\\]+$", var.binary_url))
    error_message = "binary_url must be an http:// or https:// URL without spaces, quotes or backslashes."
  }
}

variable "binary_sha256" {
  description = "Hex SHA-256 of the binary at binary_url. When set, the bootstrap refuses a download that does not match. Empty skips the check."
  type        = string
  default     = ""

  validation {
    condition     = var.binary_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.binary_sha256))
    error_message = "binary_sha256 must be empty or 64 lower-case hex digits."
  }
}

variable "listen_host" {
  description = "Host the Kafka and HTTP listeners bind to on the instance."
  type        = string
  default     = "0.0.0.0"

  validation {
    condition     = length(var.listen_host) > 0 && !can(regex("[[:space:]/:]", var.listen_host))
    error_message = "listen_host must be a host name or IPv4 address without a port (for example 0.0.0.0)."
  }
}

variable "advertised_host" {
  description = "Host name or IP address Kafka clients are told to connect to (the node's stable private address, or a DNS name for it)."
  type        = string

  validation {
    condition     = length(var.advertised_host) > 0 && !can(regex("[[:space:]/:]", var.advertised_host)) && !contains(["0.0.0.0", "localhost", "127.0.0.1"], var.advertised_host)
    error_message = "advertised_host must be a routable host name or IPv4 address without a port; 0.0.0.0, localhost and 127.0.0.1 are not reachable by clients."
  }
}

variable "kafka_port" {
  description = "Kafka protocol port (strata node --kafka-addr and --advertised-kafka-addr)."
  type        = number
  default     = 9092

  validation {
    condition     = var.kafka_port >= 1024 && var.kafka_port <= 65535 && floor(var.kafka_port) == var.kafka_port
    error_message = "kafka_port must be a whole number between 1024 and 65535 (the service runs without privileges)."
  }
}

variable "http_port" {
  description = "Port of /healthz, /readyz and /metrics (strata node --http-addr)."
  type        = number
  default     = 9644

  validation {
    condition     = var.http_port >= 1024 && var.http_port <= 65535 && floor(var.http_port) == var.http_port
    error_message = "http_port must be a whole number between 1024 and 65535 (the service runs without privileges)."
  }
}

variable "object_store" {
  description = "Cold tier location: scheme (s3 or gs), bucket, key prefix (empty or ending in /), and URL query parameters (s3: region, sse, ...). Rendered as --object-store."
  type = object({
    scheme = string
    bucket = string
    prefix = string
    params = map(string)
  })

  validation {
    condition     = contains(["s3", "gs"], var.object_store.scheme)
    error_message = "object_store.scheme must be s3 or gs."
  }

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$", var.object_store.bucket))
    error_message = "object_store.bucket must be a bucket name of 3 to 222 lower-case letters, digits, dots, dashes and underscores."
  }

  validation {
    condition     = var.object_store.prefix == "" || can(regex("^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$", var.object_store.prefix))
    error_message = "object_store.prefix must be empty or a relative key prefix ending in / (for example strata/ or prod/cluster-a/)."
  }
}

variable "data_dir" {
  description = "Directory for the node's logs, metadata and cold-read cache (strata node --data-dir). The data disk is mounted here."
  type        = string
  default     = "/var/lib/strata"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._/-]+$", var.data_dir)) && !contains(["/", "/etc", "/usr", "/var"], trimsuffix(var.data_dir, "/"))
    error_message = "data_dir must be an absolute path of letters, digits, dots, dashes and slashes, and not a system directory."
  }
}

variable "data_device_paths" {
  description = "Device paths of the data disk, in order of preference; the bootstrap waits for the first to appear, formats it if it has no filesystem and mounts it on data_dir. Empty keeps data on the root disk."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for p in var.data_device_paths : can(regex("^/dev/[A-Za-z0-9._/-]+$", p))])
    error_message = "Every data_device_paths entry must be a path under /dev/."
  }
}

variable "data_filesystem" {
  description = "Filesystem created on an empty data disk: ext4 (present on every image) or xfs (needs xfsprogs on the image)."
  type        = string
  default     = "ext4"

  validation {
    condition     = contains(["ext4", "xfs"], var.data_filesystem)
    error_message = "data_filesystem must be ext4 or xfs."
  }
}

variable "broker_settings" {
  description = "Broker settings under Kafka's names (strata node --set key=value), e.g. { \"log.retention.ms\" = \"-1\" }. Unknown names stop the node at start."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.broker_settings) : can(regex("^[a-z][a-z0-9._-]*$", k))])
    error_message = "broker_settings keys must be Kafka setting names: lower-case letters, digits, dots, dashes and underscores."
  }
}

variable "log_level" {
  description = "Log level of the node: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level must be debug, info, warn or error."
  }
}

variable "log_format" {
  description = "Log format of the node: text or json (json for log shippers)."
  type        = string
  default     = "json"

  validation {
    condition     = contains(["text", "json"], var.log_format)
    error_message = "log_format must be text or json."
  }
}

variable "nofile_limit" {
  description = "Open-file limit of the service (systemd LimitNOFILE): one descriptor per segment file and client connection."
  type        = number
  default     = 1048576

  validation {
    condition     = var.nofile_limit >= 65536 && var.nofile_limit <= 1073741816 && floor(var.nofile_limit) == var.nofile_limit
    error_message = "nofile_limit must be a whole number between 65536 and 1073741816."
  }
}

variable "stop_timeout_seconds" {
  description = "How long systemd waits after SIGTERM for a clean shutdown before SIGKILL."
  type        = number
  default     = 60

  validation {
    condition     = var.stop_timeout_seconds >= 10 && var.stop_timeout_seconds <= 3600
    error_message = "stop_timeout_seconds must be between 10 and 3600."
  }
}

variable "environment" {
  description = "Extra environment variables for the service (for example HTTPS_PROXY or AWS_REGION). STRATA_* names are refused: they would silently override the config file."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.environment : can(regex("^[A-Za-z_][A-Za-z0-9_]*$", k)) && !startswith(k, "STRATA_") && !can(regex("[\"\\\\\n%$]", v))])
    error_message = "environment keys must be shell-style names not starting with STRATA_, and values must not contain quotes, backslashes, newlines, % or $."
  }
}
