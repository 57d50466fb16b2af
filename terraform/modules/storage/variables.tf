variable "name" {
  type        = string
  description = "Name prefix of every bucket (bucket names are global: include the account or a random suffix)."
}

variable "kms_key_id" {
  type        = string
  description = "KMS key that encrypts every object (server-side encryption with a customer master key)."
}

variable "evidence_retention_days" {
  type        = number
  description = "Days photos, document scans and exports are kept before the bucket expires them (HJ 1321: ≥ 24 months)."
  default     = 1095
  validation {
    condition     = var.evidence_retention_days >= 730
    error_message = "Photos and ledgers must be kept at least 24 months (730 days), HJ 1321-2023."
  }
}

variable "video_retention_days" {
  type        = number
  description = "Days pass video clips are kept before the bucket expires them (HJ 1321: ≥ 12 months)."
  default     = 730
  validation {
    condition     = var.video_retention_days >= 365
    error_message = "Video must be kept at least 12 months (365 days), HJ 1321-2023."
  }
}

variable "backup_retention_days" {
  type        = number
  description = "Days database base backups and WAL archives are kept off-site (covers the 24-month ledger floor)."
  default     = 760
  validation {
    condition     = var.backup_retention_days >= 730
    error_message = "Backups must cover the 24-month ledger floor (730 days)."
  }
}

variable "access_log_retention_days" {
  type        = number
  description = "Days bucket access logs are kept (GB/T 22239 level 2 asks ≥ 6 months)."
  default     = 200
  validation {
    condition     = var.access_log_retention_days >= 180
    error_message = "Access logs must be kept at least 6 months (180 days)."
  }
}

variable "hot_days" {
  type        = number
  description = "Days objects stay in the Standard class before moving to Infrequent Access."
  default     = 60
}

variable "archive_days" {
  type        = number
  description = "Days objects stay before moving to the Archive class (must exceed hot_days)."
  default     = 365
}

variable "tags" {
  type        = map(string)
  description = "Tags put on every bucket."
  default     = {}
}
