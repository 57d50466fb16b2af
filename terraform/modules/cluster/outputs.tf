output "load_balancer_address" {
  description = "Public address of the load balancer (point the DNS name of the certificate here)."
  value       = alicloud_slb_load_balancer.this.address
}

output "scaling_group_id" {
  description = "The cloud replicas' scaling group."
  value       = alicloud_ess_scaling_group.cloud.id
}
