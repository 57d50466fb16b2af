# EcoGate staging: network, KMS, OSS, RDS PostgreSQL with read replicas, cloud replicas behind SLB.
locals {
  tags = {
    project     = "ecogate"
    environment = "staging"
  }
}

module "network" {
  source    = "../../modules/network"
  name      = var.name
  zones     = var.zones
  vpc_cidr  = "10.20.0.0/16"
  app_cidrs = ["10.20.1.0/24", "10.20.2.0/24"]
  db_cidrs  = ["10.20.11.0/24", "10.20.12.0/24"]
  tags      = local.tags
}

module "secrets" {
  source = "../../modules/secrets"
  name   = var.name
  tags   = local.tags
}

module "storage" {
  source     = "../../modules/storage"
  name       = var.name
  kms_key_id = module.secrets.kms_key_id
  tags       = local.tags
}

module "database" {
  source                = "../../modules/database"
  name                  = var.name
  vswitch_ids           = module.network.db_vswitch_ids
  zones                 = var.zones
  allowed_cidrs         = ["10.20.1.0/24", "10.20.2.0/24"]
  instance_type         = "pg.n2.2c.1m"
  replica_instance_type = "pg.n2.2c.1m"
  storage_gb            = 100
  replica_count         = 1
  kms_key_id            = module.secrets.kms_key_id
  tags                  = local.tags
}

module "cluster" {
  source            = "../../modules/cluster"
  name              = var.name
  vpc_id            = module.network.vpc_id
  vswitch_ids       = module.network.app_vswitch_ids
  security_group_id = module.network.app_security_group_id
  image_id          = var.image_id
  container_image   = var.container_image
  instance_type     = "ecs.c7.large"
  min_replicas      = 2
  max_replicas      = 4
  certificate_id    = var.certificate_id
  ram_role_name     = var.ram_role_name
  environment = {
    ECOGATE_BLOB_BACKEND         = "s3"
    ECOGATE_BLOB_BUCKET          = module.storage.evidence_bucket
    ECOGATE_SESSION_SECRET_KMS   = module.secrets.session_secret_name
    ECOGATE_UPLINK_KEY_KMS       = module.secrets.uplink_key_secret_name
    ECOGATE_DATABASE_HOST        = module.database.primary_host
    ECOGATE_DATABASE_REPLICA_HOST = join(",", module.database.replica_hosts)
  }
  tags = local.tags
}
