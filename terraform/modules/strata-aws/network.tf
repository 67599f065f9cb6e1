resource "aws_security_group" "node" {
  name_prefix = "${var.name}-node-"
  description = "Strata nodes of cluster ${var.name}: Kafka and metrics from the allowed CIDRs only."
  vpc_id      = var.vpc_id

  tags = merge(local.common_tags, {
    Name = "${var.name}-node"
  })

  lifecycle {
    create_before_destroy = true

    precondition {
      condition     = var.kafka_port != var.http_port
      error_message = "kafka_port and http_port must differ."
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "kafka" {
  for_each = toset(var.kafka_allowed_cidrs)

  security_group_id = aws_security_group.node.id
  description       = "Kafka clients"
  ip_protocol       = "tcp"
  from_port         = var.kafka_port
  to_port           = var.kafka_port
  cidr_ipv4         = each.value

  tags = local.common_tags
}

resource "aws_vpc_security_group_ingress_rule" "metrics" {
  for_each = toset(var.metrics_allowed_cidrs)

  security_group_id = aws_security_group.node.id
  description       = "Health checks and Prometheus metrics"
  ip_protocol       = "tcp"
  from_port         = var.http_port
  to_port           = var.http_port
  cidr_ipv4         = each.value

  tags = local.common_tags
}

# Outbound: S3, the binary download and package mirrors.
resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.node.id
  description       = "Outbound to S3 and binary_url"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"

  tags = local.common_tags
}

# A separate interface keeps each node's private IP (its advertised Kafka
# address) stable when the instance is replaced.
resource "aws_network_interface" "node" {
  for_each = local.nodes

  subnet_id       = each.value.subnet_id
  security_groups = [aws_security_group.node.id]
  description     = "Strata node ${each.key} of ${var.name}"

  tags = merge(local.common_tags, {
    Name          = "${var.name}-node-${each.key}"
    "strata:node" = each.key
  })
}
