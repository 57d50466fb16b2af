# Stateless cloud replicas in an auto-scaling group behind an SLB with TLS. Agent websockets and the portal
# share the HTTPS listener; a replica that fails its health check is replaced, and its agents reconnect
# through the balancer to the others (issue 20).
resource "alicloud_slb_load_balancer" "this" {
  load_balancer_name   = "${var.name}-slb"
  address_type         = "internet"
  load_balancer_spec   = "slb.s2.medium"
  vswitch_id           = var.vswitch_ids[0]
  delete_protection    = "on"
  tags                 = var.tags
}

resource "alicloud_slb_listener" "https" {
  load_balancer_id          = alicloud_slb_load_balancer.this.id
  frontend_port             = 443
  backend_port              = 8000
  protocol                  = "https"
  bandwidth                 = -1
  server_certificate_id     = var.certificate_id
  tls_cipher_policy         = "tls_cipher_policy_1_2_strict"
  sticky_session            = "off"
  health_check              = "on"
  health_check_uri          = "/health"
  health_check_connect_port = 8000
  healthy_threshold         = 2
  unhealthy_threshold       = 3
  health_check_timeout      = 5
  health_check_interval     = 5
  idle_timeout              = 60
  request_timeout           = 120
  x_forwarded_for {
    retrive_slb_ip = true
    retrive_slb_id = true
  }
}

# Plain HTTP only redirects to HTTPS.
resource "alicloud_slb_listener" "http_redirect" {
  load_balancer_id = alicloud_slb_load_balancer.this.id
  frontend_port    = 80
  protocol         = "http"
  listener_forward = "on"
  forward_port     = 443
  bandwidth        = -1
}

resource "alicloud_ess_scaling_group" "cloud" {
  scaling_group_name = "${var.name}-cloud"
  min_size           = var.min_replicas
  max_size           = var.max_replicas
  vswitch_ids        = var.vswitch_ids
  loadbalancer_ids   = [alicloud_slb_load_balancer.this.id]
  removal_policies   = ["OldestScalingConfiguration", "OldestInstance"]
  health_check_type  = "LOAD_BALANCER"
  default_cooldown   = 300
  depends_on         = [alicloud_slb_listener.https]
}

resource "alicloud_ess_scaling_configuration" "cloud" {
  scaling_group_id     = alicloud_ess_scaling_group.cloud.id
  image_id             = var.image_id
  instance_type        = var.instance_type
  security_group_id    = var.security_group_id
  role_name            = var.ram_role_name
  system_disk_category = "cloud_essd"
  system_disk_size     = 40
  system_disk_encrypted = true
  internet_max_bandwidth_out = 0
  active               = true
  enable               = true
  force_delete         = true
  tags                 = var.tags
  user_data = base64encode(templatefile("${path.module}/cloud-init.sh.tftpl", {
    container_image = var.container_image
    environment     = var.environment
  }))
}

# Scale on CPU: the hub's ingest and the portal are CPU-bound (docs/benchmarks.md).
resource "alicloud_ess_scaling_rule" "cpu" {
  scaling_group_id  = alicloud_ess_scaling_group.cloud.id
  scaling_rule_type = "TargetTrackingScalingRule"
  metric_name       = "CpuUtilization"
  target_value      = 60
  estimated_instance_warmup = 120
}
