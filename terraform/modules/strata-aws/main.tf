data "aws_region" "current" {}

locals {
  # One entry per node, keyed by broker ID, so adding nodes later never
  # renumbers (and so never replaces) the existing ones.
  nodes = {
    for i in range(var.node_count) : tostring(i + 1) => {
      node_id   = i + 1
      subnet_id = var.subnet_ids[i % length(var.subnet_ids)]
    }
  }

  common_tags = merge(var.tags, {
    "strata:cluster" = var.name
  })

  ami_id = var.ami_id != "" ? var.ami_id : data.aws_ssm_parameter.al2023[0].insecure_value
}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == "" ? 1 : 0

  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
}

data "aws_subnet" "node" {
  for_each = local.nodes

  id = each.value.subnet_id
}

module "config" {
  source   = "../strata-node-config"
  for_each = local.nodes

  node_id         = each.value.node_id
  binary_url      = var.binary_url
  binary_sha256   = var.binary_sha256
  advertised_host = var.advertised_host != "" ? var.advertised_host : aws_network_interface.node[each.key].private_ip
  kafka_port      = var.kafka_port
  http_port       = var.http_port
  object_store = {
    scheme = "s3"
    bucket = aws_s3_bucket.cold.id
    prefix = var.object_prefix
    params = { region = data.aws_region.current.region }
  }
  # The by-id name is stable on Nitro instances; /dev/sdf and /dev/xvdf
  # cover Xen instance types.
  data_device_paths = [
    "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${replace(aws_ebs_volume.data[each.key].id, "-", "")}",
    "/dev/sdf",
    "/dev/xvdf",
  ]
  data_filesystem = var.data_filesystem
  broker_settings = var.broker_settings
  log_level       = var.log_level
  environment     = { AWS_REGION = data.aws_region.current.region }
}
