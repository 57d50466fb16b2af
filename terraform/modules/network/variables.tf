variable "name" {
  type        = string
  description = "Name prefix of every resource (e.g. ecogate-prod)."
}

variable "vpc_cidr" {
  type        = string
  description = "CIDR block of the VPC."
  default     = "10.20.0.0/16"
}

variable "zones" {
  type        = list(string)
  description = "Availability zones, one vSwitch per zone per tier (at least two for RDS high availability)."
}

variable "app_cidrs" {
  type        = list(string)
  description = "CIDR of the application vSwitch in each zone (same order as zones)."
}

variable "db_cidrs" {
  type        = list(string)
  description = "CIDR of the database vSwitch in each zone (same order as zones)."
}

variable "admin_cidrs" {
  type        = list(string)
  description = "Operator networks allowed to reach the load balancer's admin paths; empty means none."
  default     = []
}

variable "tags" {
  type        = map(string)
  description = "Tags put on every resource (project, environment, owner)."
  default     = {}
}
