output "bootstrap_servers" {
  description = "Give this to Kafka clients as bootstrap.servers."
  value       = module.strata.bootstrap_servers
}

output "metrics_url" {
  description = "Prometheus scrape target of the node."
  value       = module.strata.metrics_url
}

output "bucket_name" {
  description = "The cold-tier bucket."
  value       = module.strata.bucket_name
}
