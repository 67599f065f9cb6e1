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
  description = "Name of the cold-tier S3 bucket."
  value       = aws_s3_bucket.cold.id
}

output "bucket_arn" {
  description = "ARN of the cold-tier S3 bucket."
  value       = aws_s3_bucket.cold.arn
}

output "object_store_url" {
  description = "The --object-store URL the nodes use."
  value       = module.config["1"].object_store_url
}

output "instance_ids" {
  description = "EC2 instance ID of each node, by broker ID."
  value       = { for k, i in aws_instance.node : k => i.id }
}

output "private_ips" {
  description = "Private IP of each node, by broker ID."
  value       = { for k, n in aws_network_interface.node : k => n.private_ip }
}

output "data_volume_ids" {
  description = "EBS data volume ID of each node, by broker ID."
  value       = { for k, v in aws_ebs_volume.data : k => v.id }
}

output "security_group_id" {
  description = "Security group of the nodes; add rules to it (SSH, more client ranges) outside this module."
  value       = aws_security_group.node.id
}

output "iam_role_name" {
  description = "IAM role of the nodes; attach extra policies (for example AmazonSSMManagedInstanceCore) outside this module."
  value       = aws_iam_role.node.name
}
