variable "name" {
  type        = string
  description = "Name prefix of every resource."
}

variable "vpc_id" {
  type        = string
  description = "VPC of the replicas and the load balancer."
}

variable "vswitch_ids" {
  type        = list(string)
  description = "Application vSwitches (one per zone) the replicas spread over."
}

variable "security_group_id" {
  type        = string
  description = "Security group of the cloud replicas."
}

variable "image_id" {
  type        = string
  description = "ECS image with a container runtime (e.g. Alibaba Cloud Linux 3 with Docker)."
}

variable "container_image" {
  type        = string
  description = "The cloud's container image in ACR, pinned by digest (built from infra/container/Dockerfile)."
}

variable "instance_type" {
  type        = string
  description = "ECS instance type of one cloud replica."
}

variable "min_replicas" {
  type        = number
  description = "Fewest cloud replicas (at least 2: one may die or be replaced at any time)."
  default     = 2
  validation {
    condition     = var.min_replicas >= 2
    error_message = "Run at least two replicas."
  }
}

variable "max_replicas" {
  type        = number
  description = "Most cloud replicas the scaling group may start."
}

variable "certificate_id" {
  type        = string
  description = "SLB server certificate id of the public hostname (TLS for the portal, the API and agent websockets)."
}

variable "ram_role_name" {
  type        = string
  description = "RAM role of the replicas: read the KMS secrets, read/write the OSS buckets, nothing else."
}

variable "environment" {
  type        = map(string)
  description = "Non-secret environment of the cloud (DATABASE_*_URL without passwords, bucket names, secret names)."
  default     = {}
}

variable "tags" {
  type        = map(string)
  description = "Tags put on every resource."
  default     = {}
}
