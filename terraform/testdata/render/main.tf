# Renders the node configuration the cloud modules build, with the values an
# AWS and a GCP deployment would pass, so tests can check the result with a
# real Terraform and a real strata binary. No providers are needed.

terraform {
  required_version = ">= 1.5.0"
}

variable "binary_url" {
  description = "URL the bootstrap downloads strata from."
  type        = string
  default     = "https://downloads.example.com/strata/v0.1.0/strata-linux-amd64"
}

variable "broker_settings" {
  description = "Broker settings rendered into the config file."
  type        = map(string)
  default = {
    "log.retention.ms"       = "-1"
    "log.local.retention.ms" = "3600000"
    "log.segment.bytes"      = "268435456"
  }
}

module "s3_node" {
  source = "../../modules/strata-node-config"

  node_id         = 1
  binary_url      = var.binary_url
  binary_sha256   = "0000000000000000000000000000000000000000000000000000000000000000"
  advertised_host = "10.0.1.17"
  object_store = {
    scheme = "s3"
    bucket = "strata-prod-cold-tier"
    prefix = "strata/"
    params = { region = "eu-west-1" }
  }
  data_device_paths = ["/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0", "/dev/sdf", "/dev/xvdf"]
  data_filesystem   = "xfs"
  broker_settings   = var.broker_settings
  environment       = { AWS_REGION = "eu-west-1" }
}

module "gs_node" {
  source = "../../modules/strata-node-config"

  node_id         = 1
  binary_url      = var.binary_url
  advertised_host = "10.128.0.5"
  object_store = {
    scheme = "gs"
    bucket = "strata-prod-cold-tier"
    prefix = "clusters/a/"
    params = {}
  }
  data_device_paths = ["/dev/disk/by-id/google-strata-data"]
}

output "nodes" {
  description = "What each node module rendered."
  value = {
    for name, m in { s3 = module.s3_node, gs = module.gs_node } : name => {
      user_data         = m.user_data
      config_yaml       = m.config_yaml
      systemd_unit      = m.systemd_unit
      bootstrap_script  = m.bootstrap_script
      object_store_url  = m.object_store_url
      kafka_address     = m.kafka_address
      metrics_url       = m.metrics_url
    }
  }
}
