locals {
  # Granted on the cold-tier bucket only. objectUser covers what
  # objectstore/gcsstore does with objects (create, read, list, delete,
  # overwrite); legacyBucketReader adds storage.buckets.get for the bucket
  # probe at start-up. Neither lets the node change IAM or the bucket.
  gcs_roles = [
    "roles/storage.objectUser",
    "roles/storage.legacyBucketReader",
  ]
}

resource "google_service_account" "node" {
  project      = local.project
  account_id   = "${trimsuffix(substr(var.name, 0, 24), "-")}-node"
  display_name = "Strata nodes of cluster ${var.name}"
  description  = "Runs Strata brokers; reads and writes the cold-tier bucket ${local.bucket_name}."
}

resource "google_storage_bucket_iam_member" "node" {
  for_each = toset(local.gcs_roles)

  bucket = google_storage_bucket.cold.name
  role   = each.value
  member = "serviceAccount:${google_service_account.node.email}"
}
