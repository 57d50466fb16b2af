variable "name" {
  type        = string
  description = "Name prefix of every resource (e.g. ecogate-prod)."
}

variable "key_rotation_interval" {
  type        = string
  description = "Automatic rotation interval of the master key (KMS syntax, e.g. 8760h for a year)."
  default     = "8760h"
}

variable "deletion_window_days" {
  type        = number
  description = "Days a scheduled key or secret deletion waits (7 to 30): time to notice a mistake."
  default     = 30
}

variable "tags" {
  type        = map(string)
  description = "Tags put on every resource."
  default     = {}
}
