output "vpc_id" {
  description = "The VPC id."
  value       = alicloud_vpc.this.id
}

output "app_vswitch_ids" {
  description = "Application vSwitch ids, one per zone."
  value       = alicloud_vswitch.app[*].id
}

output "db_vswitch_ids" {
  description = "Database vSwitch ids, one per zone."
  value       = alicloud_vswitch.db[*].id
}

output "app_security_group_id" {
  description = "Security group of the cloud replicas."
  value       = alicloud_security_group.app.id
}

output "vpc_cidr" {
  description = "The VPC CIDR (database access lists admit it)."
  value       = alicloud_vpc.this.cidr_block
}
