# VPC with two tiers per zone: application (cloud replicas, load balancer) and database (RDS).
resource "alicloud_vpc" "this" {
  vpc_name   = var.name
  cidr_block = var.vpc_cidr
  tags       = var.tags
}

resource "alicloud_vswitch" "app" {
  count        = length(var.zones)
  vswitch_name = "${var.name}-app-${count.index}"
  vpc_id       = alicloud_vpc.this.id
  cidr_block   = var.app_cidrs[count.index]
  zone_id      = var.zones[count.index]
  tags         = var.tags
}

resource "alicloud_vswitch" "db" {
  count        = length(var.zones)
  vswitch_name = "${var.name}-db-${count.index}"
  vpc_id       = alicloud_vpc.this.id
  cidr_block   = var.db_cidrs[count.index]
  zone_id      = var.zones[count.index]
  tags         = var.tags
}

# Cloud replicas: HTTPS/websocket traffic only from inside the VPC (the load balancer), nothing else inbound.
resource "alicloud_security_group" "app" {
  security_group_name = "${var.name}-app"
  vpc_id              = alicloud_vpc.this.id
  description         = "EcoGate cloud replicas: port 8000 from the VPC (load balancer) only"
  tags                = var.tags
}

resource "alicloud_security_group_rule" "app_from_vpc" {
  type              = "ingress"
  ip_protocol       = "tcp"
  port_range        = "8000/8000"
  security_group_id = alicloud_security_group.app.id
  cidr_ip           = var.vpc_cidr
  policy            = "accept"
  description       = "cloud HTTP and agent websockets from the load balancer"
}
