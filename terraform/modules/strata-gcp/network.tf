resource "google_compute_firewall" "kafka" {
  project     = local.project
  name        = "${var.name}-strata-kafka"
  network     = var.network
  description = "Kafka clients to the Strata nodes of ${var.name}."
  direction   = "INGRESS"

  allow {
    protocol = "tcp"
    ports    = [tostring(var.kafka_port)]
  }

  source_ranges           = var.kafka_allowed_cidrs
  target_service_accounts = [google_service_account.node.email]

  lifecycle {
    precondition {
      condition     = var.kafka_port != var.http_port
      error_message = "kafka_port and http_port must differ."
    }
  }
}

resource "google_compute_firewall" "metrics" {
  count = length(var.metrics_allowed_cidrs) > 0 ? 1 : 0

  project     = local.project
  name        = "${var.name}-strata-metrics"
  network     = var.network
  description = "Health checks and Prometheus scrapes of the Strata nodes of ${var.name}."
  direction   = "INGRESS"

  allow {
    protocol = "tcp"
    ports    = [tostring(var.http_port)]
  }

  source_ranges           = var.metrics_allowed_cidrs
  target_service_accounts = [google_service_account.node.email]
}

# A reserved internal address keeps each node's advertised Kafka address
# stable when the instance is replaced.
resource "google_compute_address" "node" {
  for_each = local.nodes

  project      = local.project
  name         = "${var.name}-strata-node-${each.key}"
  region       = local.region
  subnetwork   = var.subnetwork
  address_type = "INTERNAL"
  description  = "Strata node ${each.key} of ${var.name}."
}
