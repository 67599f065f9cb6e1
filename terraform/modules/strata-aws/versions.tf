terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 6.10 added aws_instance.primary_network_interface.
      version = "~> 6.10"
    }
  }
}
