# RDS PostgreSQL, high-availability pair across two zones, disks encrypted with the KMS key, reachable only
# from the application tier, SSL required. `ecogate db bootstrap` (run once with the admin account below)
# creates the owner, app (NOSUPERUSER NOBYPASSRLS) and regulator roles that the cloud uses (ARCHITECTURE.md
# "Tenant isolation"); the cloud never connects as the admin account.
resource "alicloud_db_instance" "primary" {
  engine                   = "PostgreSQL"
  engine_version           = var.engine_version
  instance_type            = var.instance_type
  instance_storage         = var.storage_gb
  db_instance_storage_type = "cloud_essd"
  instance_charge_type     = "Postpaid"
  category                 = "HighAvailability"
  instance_name            = "${var.name}-pg"
  vswitch_id               = join(",", var.vswitch_ids)
  zone_id                  = var.zones[0]
  zone_id_slave_a          = var.zones[1]
  security_ips             = var.allowed_cidrs
  encryption_key           = var.kms_key_id
  ssl_action               = "Open"
  deletion_protection      = true
  auto_upgrade_minor_version = "Auto"
  # SQL audit (SQL collector) kept a year: who ran what, for the security review.
  sql_collector_status       = "Enabled"
  sql_collector_config_value = 365
  tags                     = var.tags

  # Audit trail of connections and slow statements (等保 2.0 level 2 asks for database audit records).
  parameters {
    name  = "log_connections"
    value = "on"
  }

  parameters {
    name  = "log_disconnections"
    value = "on"
  }

  parameters {
    name  = "log_duration"
    value = "on"
  }

  parameters {
    name  = "log_min_duration_statement"
    value = "1000"
  }

  # RLS policies read these per transaction (set_config(..., true)); fail closed if unset.
  parameters {
    name  = "row_security"
    value = "on"
  }

  # Short transactions everywhere (uplink claims, ingest): an idle transaction is a bug, end it.
  parameters {
    name  = "idle_in_transaction_session_timeout"
    value = "60000"
  }
}

resource "alicloud_db_backup_policy" "primary" {
  instance_id             = alicloud_db_instance.primary.id
  preferred_backup_period = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
  preferred_backup_time   = "18:00Z-19:00Z"
  backup_retention_period = var.backup_retention_days
  enable_backup_log       = true
  log_backup_retention_period = var.backup_retention_days
}

resource "alicloud_db_database" "ecogate" {
  instance_id    = alicloud_db_instance.primary.id
  data_base_name = "ecogate"
  character_set  = "UTF8"
}

resource "random_password" "admin" {
  length  = 32
  special = false
}

# Bootstrap-only administrator; its password stays in the encrypted state and is rotated after bootstrap.
resource "alicloud_rds_account" "admin" {
  db_instance_id   = alicloud_db_instance.primary.id
  account_name     = "ecogate_admin"
  account_password = random_password.admin.result
  account_type     = "Super"
}

# Read-only replicas for the regulator's region views and the reports (staleness bound in docs/scale.md).
resource "alicloud_db_readonly_instance" "replica" {
  count                 = var.replica_count
  master_db_instance_id = alicloud_db_instance.primary.id
  engine_version        = var.engine_version
  instance_type         = var.replica_instance_type
  instance_storage      = var.storage_gb
  instance_name         = "${var.name}-pg-ro-${count.index}"
  vswitch_id            = var.vswitch_ids[count.index % length(var.vswitch_ids)]
  zone_id               = var.zones[count.index % length(var.zones)]
  security_ips          = var.allowed_cidrs
  ssl_enabled           = 1
  deletion_protection   = true
  tags                  = var.tags
}
