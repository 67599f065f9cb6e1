# The data disk outlives the instance: replacing the instance (new image,
# new user data) reattaches the same hot tail.
resource "google_compute_disk" "data" {
  for_each = local.nodes

  project = local.project
  name    = "${var.name}-strata-node-${each.key}-data"
  zone    = each.value.zone
  type    = var.data_disk_type
  size    = var.data_disk_size_gb

  labels = merge(local.common_labels, {
    "strata-node" = each.key
  })
}

# cloud-init runs once per instance; a changed config takes effect by
# replacing the instance (Compute Engine would otherwise update the
# metadata in place and nothing would read it).
resource "terraform_data" "user_data" {
  for_each = local.nodes

  input = sha256(module.config[each.key].user_data)
}

resource "google_compute_instance" "node" {
  for_each = local.nodes

  project      = local.project
  name         = "${var.name}-strata-node-${each.key}"
  zone         = each.value.zone
  machine_type = var.machine_type

  boot_disk {
    initialize_params {
      image = var.image
      size  = var.boot_disk_size_gb
      type  = "pd-balanced"
    }
  }

  attached_disk {
    source      = google_compute_disk.data[each.key].self_link
    device_name = local.data_device_name
  }

  network_interface {
    subnetwork = var.subnetwork
    network_ip = google_compute_address.node[each.key].address

    dynamic "access_config" {
      for_each = var.assign_public_ip ? [1] : []
      content {}
    }
  }

  service_account {
    email  = google_service_account.node.email
    scopes = ["cloud-platform"]
  }

  metadata = {
    user-data              = module.config[each.key].user_data
    block-project-ssh-keys = "true"
  }

  shielded_instance_config {
    enable_secure_boot          = true
    enable_vtpm                 = true
    enable_integrity_monitoring = true
  }

  allow_stopping_for_update = true

  labels = merge(local.common_labels, {
    "strata-node" = each.key
  })

  depends_on = [google_storage_bucket_iam_member.node]

  lifecycle {
    replace_triggered_by = [terraform_data.user_data[each.key]]
  }
}
