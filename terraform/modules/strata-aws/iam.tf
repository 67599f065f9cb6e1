locals {
  # Exactly what objectstore/s3store calls: HeadBucket and ListObjectsV2
  # need s3:ListBucket; GetObject and HeadObject s3:GetObject; PutObject and
  # the multipart calls (Create, UploadPart, Complete) s3:PutObject;
  # AbortMultipartUpload its own action; DeleteObject s3:DeleteObject.
  s3_bucket_actions = ["s3:ListBucket"]
  s3_object_actions = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:AbortMultipartUpload",
  ]
}

data "aws_partition" "current" {}

resource "aws_iam_role" "node" {
  name_prefix = "${var.name}-node-"
  description = "Strata nodes of cluster ${var.name}: read and write the cold tier."
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Effect    = "Allow"
        Principal = { Service = "ec2.${data.aws_partition.current.dns_suffix}" }
        Action    = "sts:AssumeRole"
      },
    ]
  })

  tags = local.common_tags
}

resource "aws_iam_role_policy" "cold_tier" {
  name = "strata-cold-tier"
  role = aws_iam_role.node.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ListColdTier"
        Effect   = "Allow"
        Action   = local.s3_bucket_actions
        Resource = aws_s3_bucket.cold.arn
        # HeadBucket sends no prefix, hence IfExists.
        Condition = { StringLikeIfExists = { "s3:prefix" = ["${var.object_prefix}*"] } }
      },
      {
        Sid      = "ReadWriteColdTierObjects"
        Effect   = "Allow"
        Action   = local.s3_object_actions
        Resource = "${aws_s3_bucket.cold.arn}/${var.object_prefix}*"
      },
    ]
  })
}

resource "aws_iam_instance_profile" "node" {
  name_prefix = "${var.name}-node-"
  role        = aws_iam_role.node.name

  tags = local.common_tags
}
