output "evidence_bucket" {
  description = "Bucket of photos, document scans and exports (ECOGATE_BLOB_BUCKET)."
  value       = alicloud_oss_bucket.evidence.bucket
}

output "video_bucket" {
  description = "Bucket of pass video clips."
  value       = alicloud_oss_bucket.video.bucket
}

output "backup_bucket" {
  description = "Bucket of database backups and WAL archives."
  value       = alicloud_oss_bucket.backup.bucket
}
