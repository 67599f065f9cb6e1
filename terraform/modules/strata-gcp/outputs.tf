output "bootstrap_servers" {
  description = "Comma-separated host:port list for Kafka clients (bootstrap.servers)."
  value       = join(",", [for k in sort(keys(local.nodes)) : module.config[k].kafka_address])
}

output "metrics_url" {
  description = "Prometheus metrics URL of node 1."
  value       = module.config["1"].metrics_url
}

output "metrics_urls" {
  description = "Prometheus metrics URL of each node, by broker ID."
  value       = { for k in keys(local.nodes) : k => module.config[k].metrics_url }
}

output "bucket_name" {
  description = "Name of the cold-tier Cloud Storage bucket."
  value       = google_storage_bucket.cold.name
}

output "object_store_url" {
  description = "The --object-store URL the nodes use."
  value       = module.config["1"].object_store_url
}

output "instance_names" {
  description = "Compute Engine instance name of each node, by broker ID."
  value       = { for k, i in google_compute_instance.node : k => i.name }
}

output "internal_ips" {
  description = "Reserved internal IP of each node, by broker ID."
  value       = { for k, a in google_compute_address.node : k => a.address }
}

output "data_disk_ids" {
  description = "Persistent data disk of each node, by broker ID."
  value       = { for k, d in google_compute_disk.data : k => d.id }
}

output "service_account_email" {
  description = "Service account the nodes run as."
  value       = google_service_account.node.email
}
