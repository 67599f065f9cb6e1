resource "google_storage_bucket" "cold" {
  project       = local.project
  name          = local.bucket_name
  location      = local.bucket_location
  storage_class = var.storage_class
  force_destroy = var.bucket_force_destroy

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  # Segments are immutable and written once: versioning would only keep
  # deleted segments billed.
  versioning {
    enabled = false
  }

  soft_delete_policy {
    retention_duration_seconds = var.soft_delete_retention_seconds
  }

  dynamic "lifecycle_rule" {
    for_each = var.abort_incomplete_multipart_days > 0 ? [var.abort_incomplete_multipart_days] : []

    content {
      action {
        type = "AbortIncompleteMultipartUpload"
      }
      condition {
        age = lifecycle_rule.value
      }
    }
  }

  labels = local.common_labels

  lifecycle {
    precondition {
      condition     = length(local.bucket_name) <= 63
      error_message = "The default bucket name <name>-cold-<project> is longer than 63 characters; set bucket_name."
    }
  }
}
