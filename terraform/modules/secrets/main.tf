# KMS: one customer master key encrypts the buckets, the database disks and the secrets below.
# The cloud reads ECOGATE_SESSION_SECRET and ECOGATE_UPLINK_KEY from these KMS secrets at start
# (production mode refuses to start without them, issue 17). Values are generated here, never typed
# into a tfvars file; the state that holds them lives in an encrypted, private OSS backend.
resource "alicloud_kms_key" "master" {
  description            = "${var.name} master key (OSS, RDS, secrets)"
  key_usage              = "ENCRYPT/DECRYPT"
  key_spec               = "Aliyun_AES_256"
  origin                 = "Aliyun_KMS"
  protection_level       = "SOFTWARE"
  automatic_rotation     = "Enabled"
  rotation_interval      = var.key_rotation_interval
  pending_window_in_days = var.deletion_window_days
  status                 = "Enabled"
  tags                   = var.tags
}

resource "random_password" "session_secret" {
  length  = 64
  special = false
}

resource "random_password" "uplink_key" {
  length  = 64
  special = false
}

resource "alicloud_kms_secret" "session_secret" {
  secret_name                   = "${var.name}-session-secret"
  description                   = "ECOGATE_SESSION_SECRET: signs portal and API sessions"
  secret_data                   = random_password.session_secret.result
  version_id                    = "v1"
  encryption_key_id             = alicloud_kms_key.master.id
  force_delete_without_recovery = false
  recovery_window_in_days       = var.deletion_window_days
  tags                          = var.tags
}

resource "alicloud_kms_secret" "uplink_key" {
  secret_name                   = "${var.name}-uplink-key"
  description                   = "ECOGATE_UPLINK_KEY: master key wrapping regulator-platform credentials"
  secret_data                   = random_password.uplink_key.result
  version_id                    = "v1"
  encryption_key_id             = alicloud_kms_key.master.id
  force_delete_without_recovery = false
  recovery_window_in_days       = var.deletion_window_days
  tags                          = var.tags
}
