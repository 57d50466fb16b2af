# OSS buckets: private, encrypted with the KMS key, versioned, access-logged, and expired only after the legal
# floor (REGULATION.md: ledgers, pass details and photos ≥ 24 months, video ≥ 12 months). The tag "ecogate-data"
# names the data class; terraform/check.py compares each expiration with the floor of its class. A deleted or
# overwritten object stays recoverable (noncurrent version) for the same period, so an early deletion is undone.

# photos, document scans and exports
resource "alicloud_oss_bucket" "evidence" {
  bucket        = "${var.name}-evidence"
  storage_class = "Standard"
  tags          = merge(var.tags, { "ecogate-data" = "evidence" })

  server_side_encryption_rule {
    sse_algorithm     = "KMS"
    kms_master_key_id = var.kms_key_id
  }

  versioning {
    status = "Enabled"
  }

  logging {
    target_bucket = alicloud_oss_bucket.logs.id
    target_prefix = "evidence/"
  }

  lifecycle_rule {
    id      = "evidence-retention"
    enabled = true

    transitions {
      days          = var.hot_days
      storage_class = "IA"
    }

    transitions {
      days          = var.archive_days
      storage_class = "Archive"
    }

    expiration {
      days = var.evidence_retention_days
    }

    noncurrent_version_expiration {
      days = var.evidence_retention_days
    }
  }
}

resource "alicloud_oss_bucket_acl" "evidence" {
  bucket = alicloud_oss_bucket.evidence.bucket
  acl    = "private"
}

resource "alicloud_oss_bucket_public_access_block" "evidence" {
  bucket              = alicloud_oss_bucket.evidence.bucket
  block_public_access = true
}

# pass video clips
resource "alicloud_oss_bucket" "video" {
  bucket        = "${var.name}-video"
  storage_class = "Standard"
  tags          = merge(var.tags, { "ecogate-data" = "video" })

  server_side_encryption_rule {
    sse_algorithm     = "KMS"
    kms_master_key_id = var.kms_key_id
  }

  versioning {
    status = "Enabled"
  }

  logging {
    target_bucket = alicloud_oss_bucket.logs.id
    target_prefix = "video/"
  }

  lifecycle_rule {
    id      = "video-retention"
    enabled = true

    transitions {
      days          = var.hot_days
      storage_class = "IA"
    }

    transitions {
      days          = var.archive_days
      storage_class = "Archive"
    }

    expiration {
      days = var.video_retention_days
    }

    noncurrent_version_expiration {
      days = var.video_retention_days
    }
  }
}

resource "alicloud_oss_bucket_acl" "video" {
  bucket = alicloud_oss_bucket.video.bucket
  acl    = "private"
}

resource "alicloud_oss_bucket_public_access_block" "video" {
  bucket              = alicloud_oss_bucket.video.bucket
  block_public_access = true
}

# PostgreSQL base backups and WAL archives (off-site copy)
resource "alicloud_oss_bucket" "backup" {
  bucket        = "${var.name}-backup"
  storage_class = "Standard"
  tags          = merge(var.tags, { "ecogate-data" = "backup" })

  server_side_encryption_rule {
    sse_algorithm     = "KMS"
    kms_master_key_id = var.kms_key_id
  }

  versioning {
    status = "Enabled"
  }

  logging {
    target_bucket = alicloud_oss_bucket.logs.id
    target_prefix = "backup/"
  }

  lifecycle_rule {
    id      = "backup-retention"
    enabled = true

    expiration {
      days = var.backup_retention_days
    }

    noncurrent_version_expiration {
      days = var.backup_retention_days
    }
  }
}

resource "alicloud_oss_bucket_acl" "backup" {
  bucket = alicloud_oss_bucket.backup.bucket
  acl    = "private"
}

resource "alicloud_oss_bucket_public_access_block" "backup" {
  bucket              = alicloud_oss_bucket.backup.bucket
  block_public_access = true
}

# access logs of the other buckets
resource "alicloud_oss_bucket" "logs" {
  bucket        = "${var.name}-logs"
  storage_class = "Standard"
  tags          = merge(var.tags, { "ecogate-data" = "logs" })

  server_side_encryption_rule {
    sse_algorithm     = "KMS"
    kms_master_key_id = var.kms_key_id
  }

  versioning {
    status = "Enabled"
  }

  lifecycle_rule {
    id      = "logs-retention"
    enabled = true

    expiration {
      days = var.access_log_retention_days
    }

    noncurrent_version_expiration {
      days = var.access_log_retention_days
    }
  }
}

resource "alicloud_oss_bucket_acl" "logs" {
  bucket = alicloud_oss_bucket.logs.bucket
  acl    = "private"
}

resource "alicloud_oss_bucket_public_access_block" "logs" {
  bucket              = alicloud_oss_bucket.logs.bucket
  block_public_access = true
}
