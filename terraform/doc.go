// Package terraform holds the tests of Strata's Terraform modules; it has no
// production code.
//
// The modules live beside it:
//
//	modules/strata-node-config  renders a node's cloud-init: config file, systemd unit, bootstrap script
//	modules/strata-aws          S3 cold tier, IAM role, security group, ENI, EBS data volume, EC2 instance
//	modules/strata-gcp          GCS cold tier, service account, firewall, address, data disk, instance
//	examples/                   single-node deployments using the cloud modules
//
// The tests parse every .tf file with hashicorp/hcl and check references,
// descriptions, types and the IAM grants statically; where a terraform
// binary is on PATH they also check formatting, plan the variables'
// validation rules, and apply the provider-free strata-node-config module
// so the rendered config file and unit can be checked against a freshly
// built strata binary. Nothing here contacts a cloud or a provider registry.
package terraform
