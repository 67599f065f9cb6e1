# One Strata node with its cold tier in a new Cloud Storage bucket.
module "strata" {
  source = "../../modules/strata-gcp"

  name          = var.name
  project       = var.project
  zones         = [var.zone]
  network       = var.network
  subnetwork    = var.subnetwork
  binary_url    = var.binary_url
  binary_sha256 = var.binary_sha256

  kafka_allowed_cidrs   = var.client_cidrs
  metrics_allowed_cidrs = var.client_cidrs

  machine_type      = "n2-standard-2"
  data_disk_size_gb = 100

  broker_settings = {
    "log.retention.ms"       = "-1"
    "log.local.retention.ms" = "3600000"
  }

  labels = {
    environment = "demo"
  }
}
