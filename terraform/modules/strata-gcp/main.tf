data "google_client_config" "current" {}

locals {
  project = var.project != "" ? var.project : data.google_client_config.current.project
  region  = regex("^([a-z]+-[a-z]+[0-9]+)-[a-z]$", var.zones[0])[0]

  # One entry per node, keyed by broker ID, so adding nodes later never
  # renumbers (and so never replaces) the existing ones.
  nodes = {
    for i in range(var.node_count) : tostring(i + 1) => {
      node_id = i + 1
      zone    = var.zones[i % length(var.zones)]
    }
  }

  bucket_name     = var.bucket_name != "" ? var.bucket_name : "${var.name}-cold-${local.project}"
  bucket_location = var.bucket_location != "" ? var.bucket_location : upper(local.region)

  common_labels = merge(var.labels, {
    "strata-cluster" = var.name
  })

  # The attached disk's device_name; Compute Engine images link it as
  # /dev/disk/by-id/google-<device_name>.
  data_device_name = "strata-data"
}

module "config" {
  source   = "../strata-node-config"
  for_each = local.nodes

  node_id         = each.value.node_id
  binary_url      = var.binary_url
  binary_sha256   = var.binary_sha256
  advertised_host = var.advertised_host != "" ? var.advertised_host : google_compute_address.node[each.key].address
  kafka_port      = var.kafka_port
  http_port       = var.http_port
  object_store = {
    scheme = "gs"
    bucket = google_storage_bucket.cold.name
    prefix = var.object_prefix
    params = {}
  }
  data_device_paths = ["/dev/disk/by-id/google-${local.data_device_name}"]
  data_filesystem   = var.data_filesystem
  broker_settings   = var.broker_settings
  log_level         = var.log_level
}
