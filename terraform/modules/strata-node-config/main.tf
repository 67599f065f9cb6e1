locals {
  # The object-store URL in the form `strata node --object-store` parses:
  # s3://bucket/prefix?region=R or gs://bucket/prefix.
  object_store_query = join("&", [for k in sort(keys(var.object_store.params)) : "${k}=${var.object_store.params[k]}"])
  object_store_url = format(
    "%s://%s/%s%s",
    var.object_store.scheme,
    var.object_store.bucket,
    var.object_store.prefix,
    local.object_store_query == "" ? "" : "?${local.object_store_query}",
  )

  kafka_address = "${var.advertised_host}:${var.kafka_port}"
  metrics_url   = "http://${var.advertised_host}:${var.http_port}/metrics"

  config_path = "/etc/strata/strata.yaml"
  binary_path = "/usr/local/bin/strata"

  # Keys are the flag names of `strata node`; the node refuses unknown keys.
  config = {
    "node-id"               = var.node_id
    "data-dir"              = var.data_dir
    "kafka-addr"            = "${var.listen_host}:${var.kafka_port}"
    "advertised-kafka-addr" = local.kafka_address
    "http-addr"             = "${var.listen_host}:${var.http_port}"
    "object-store"          = local.object_store_url
    "log-level"             = var.log_level
    "log-format"            = var.log_format
    "set"                   = var.broker_settings
  }
  config_yaml = "# Written by cloud-init from Terraform; edits are lost when the instance is replaced.\n${yamlencode(local.config)}"

  systemd_unit = templatefile("${path.module}/templates/strata.service.tftpl", {
    node_id              = var.node_id
    binary_path          = local.binary_path
    config_path          = local.config_path
    data_dir             = var.data_dir
    nofile_limit         = var.nofile_limit
    stop_timeout_seconds = var.stop_timeout_seconds
    environment          = var.environment
  })

  bootstrap_script = templatefile("${path.module}/templates/bootstrap.sh.tftpl", {
    binary_url        = var.binary_url
    binary_sha256     = var.binary_sha256
    binary_path       = local.binary_path
    data_dir          = var.data_dir
    data_device_paths = var.data_device_paths
    data_filesystem   = var.data_filesystem
  })

  cloud_config = {
    write_files = [
      {
        path        = local.config_path
        owner       = "root:root"
        permissions = "0644"
        content     = local.config_yaml
      },
      {
        path        = "/etc/systemd/system/strata.service"
        owner       = "root:root"
        permissions = "0644"
        content     = local.systemd_unit
      },
      {
        path        = "/usr/local/sbin/strata-bootstrap"
        owner       = "root:root"
        permissions = "0755"
        content     = local.bootstrap_script
      },
    ]
    runcmd = [
      ["/usr/local/sbin/strata-bootstrap"],
    ]
  }
  user_data = "#cloud-config\n${yamlencode(local.cloud_config)}"
}
