output "user_data" {
  description = "cloud-init user data (#cloud-config) that installs the binary, writes the config file and the systemd unit, prepares the data disk and starts the service."
  value       = local.user_data
}

output "config_yaml" {
  description = "Contents of /etc/strata/strata.yaml (the `strata node --config` file)."
  value       = local.config_yaml
}

output "systemd_unit" {
  description = "Contents of /etc/systemd/system/strata.service."
  value       = local.systemd_unit
}

output "bootstrap_script" {
  description = "Contents of /usr/local/sbin/strata-bootstrap, run once by cloud-init."
  value       = local.bootstrap_script
}

output "object_store_url" {
  description = "The --object-store URL the node uses."
  value       = local.object_store_url
}

output "kafka_address" {
  description = "host:port Kafka clients connect to (the advertised address)."
  value       = local.kafka_address
}

output "metrics_url" {
  description = "Prometheus metrics URL of the node."
  value       = local.metrics_url
}
