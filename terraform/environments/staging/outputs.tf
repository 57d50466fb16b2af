output "load_balancer_address" {
  description = "Public address of the portal, the API and the agent websocket endpoint."
  value       = module.cluster.load_balancer_address
}

output "database_primary_host" {
  description = "Private host of the PostgreSQL primary."
  value       = module.database.primary_host
}

output "evidence_bucket" {
  description = "Bucket of photos and documents."
  value       = module.storage.evidence_bucket
}
