variable "region" {
  type        = string
  description = "Alibaba Cloud region (e.g. cn-wuhan-lr for Hubei tenants, cn-hangzhou)."
}

variable "name" {
  type        = string
  description = "Name prefix of every resource of this environment."
}

variable "zones" {
  type        = list(string)
  description = "Two availability zones of the region."
}

variable "image_id" {
  type        = string
  description = "ECS image with a container runtime."
}

variable "container_image" {
  type        = string
  description = "The cloud's container image pinned by digest."
}

variable "certificate_id" {
  type        = string
  description = "SLB server certificate id of the public hostname."
}

variable "ram_role_name" {
  type        = string
  description = "RAM role of the cloud replicas (KMS secrets read, OSS read/write)."
}
