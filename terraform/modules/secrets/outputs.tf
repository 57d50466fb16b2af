output "kms_key_id" {
  description = "Id of the master key used for OSS, RDS and secret encryption."
  value       = alicloud_kms_key.master.id
}

output "session_secret_name" {
  description = "KMS secret name holding ECOGATE_SESSION_SECRET."
  value       = alicloud_kms_secret.session_secret.secret_name
}

output "uplink_key_secret_name" {
  description = "KMS secret name holding ECOGATE_UPLINK_KEY."
  value       = alicloud_kms_secret.uplink_key.secret_name
}
