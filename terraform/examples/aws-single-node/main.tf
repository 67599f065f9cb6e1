# One Strata node with its cold tier in a new S3 bucket. Everything the
# module does not need to be told keeps its default; the cost-relevant ones
# are spelled out.
module "strata" {
  source = "../../modules/strata-aws"

  name          = var.name
  vpc_id        = var.vpc_id
  subnet_ids    = [var.subnet_id]
  binary_url    = var.binary_url
  binary_sha256 = var.binary_sha256

  kafka_allowed_cidrs   = var.client_cidrs
  metrics_allowed_cidrs = var.client_cidrs

  instance_type       = "m7i.large"
  data_volume_size_gb = 100

  broker_settings = {
    "log.retention.ms"       = "-1"
    "log.local.retention.ms" = "3600000"
  }

  tags = {
    environment = "demo"
  }
}
