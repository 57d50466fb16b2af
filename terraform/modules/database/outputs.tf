output "primary_host" {
  description = "Private connection string of the primary (DATABASE_OWNER_URL, DATABASE_APP_URL)."
  value       = alicloud_db_instance.primary.connection_string
}

output "replica_hosts" {
  description = "Private connection strings of the read-only replicas (DATABASE_REGULATOR_URL, reports)."
  value       = alicloud_db_readonly_instance.replica[*].connection_string
}

output "admin_account" {
  description = "The bootstrap administrator's account name (its password is in the encrypted state only)."
  value       = alicloud_rds_account.admin.account_name
}
