variable "name" {
  type        = string
  description = "Name prefix of every resource."
}

variable "vswitch_ids" {
  type        = list(string)
  description = "Database vSwitches (first: primary zone, second: standby zone of the high-availability pair)."
}

variable "zones" {
  type        = list(string)
  description = "Zones of the primary and the standby node (same order as vswitch_ids)."
}

variable "allowed_cidrs" {
  type        = list(string)
  description = "Networks allowed to connect (the VPC's application tier only)."
}

variable "engine_version" {
  type        = string
  description = "PostgreSQL major version (RDS PostgreSQL)."
  default     = "16.0"
}

variable "instance_type" {
  type        = string
  description = "RDS instance class of the primary (see docs/scale.md for the sizing arithmetic)."
}

variable "replica_instance_type" {
  type        = string
  description = "RDS instance class of the read-only replica (regulator views and reports)."
}

variable "storage_gb" {
  type        = number
  description = "ESSD storage of the primary in GB."
}

variable "replica_count" {
  type        = number
  description = "Read-only replicas serving the regulator's and the reports' queries."
  default     = 1
}

variable "kms_key_id" {
  type        = string
  description = "KMS key that encrypts the database disks (and therefore their backups)."
}

variable "backup_retention_days" {
  type        = number
  description = "Days RDS keeps data and log backups (point-in-time recovery window; ledger floor is 730)."
  default     = 730
  validation {
    condition     = var.backup_retention_days >= 7
    error_message = "Keep at least a week of point-in-time recovery; off-site copies cover the 24 months."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags put on every resource."
  default     = {}
}
