# The data volume outlives the instance: replacing the instance (new AMI,
# new user data) reattaches the same hot tail.
resource "aws_ebs_volume" "data" {
  for_each = local.nodes

  availability_zone = data.aws_subnet.node[each.key].availability_zone
  size              = var.data_volume_size_gb
  type              = var.data_volume_type
  iops              = var.data_volume_iops
  throughput        = var.data_volume_type == "gp3" ? var.data_volume_throughput : null
  encrypted         = true

  tags = merge(local.common_tags, {
    Name          = "${var.name}-node-${each.key}-data"
    "strata:node" = each.key
  })
}

resource "aws_instance" "node" {
  for_each = local.nodes

  ami                  = local.ami_id
  instance_type        = var.instance_type
  iam_instance_profile = aws_iam_instance_profile.node.name

  primary_network_interface {
    network_interface_id = aws_network_interface.node[each.key].id
  }

  # cloud-init runs once per instance: a changed config takes effect by
  # replacing the instance, which keeps the interface and the data volume.
  user_data                   = module.config[each.key].user_data
  user_data_replace_on_change = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type = "gp3"
    volume_size = var.root_volume_size_gb
    encrypted   = true
  }

  tags = merge(local.common_tags, {
    Name          = "${var.name}-node-${each.key}"
    "strata:node" = each.key
  })

  depends_on = [
    aws_iam_role_policy.cold_tier,
    aws_s3_bucket_policy.cold,
  ]

  lifecycle {
    # A new Amazon Linux release must not replace a running broker on the
    # next apply; roll nodes deliberately with -replace.
    ignore_changes = [ami]
  }
}

resource "aws_volume_attachment" "data" {
  for_each = local.nodes

  device_name                    = "/dev/sdf"
  volume_id                      = aws_ebs_volume.data[each.key].id
  instance_id                    = aws_instance.node[each.key].id
  stop_instance_before_detaching = true
}
