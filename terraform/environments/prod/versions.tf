terraform {
  required_version = ">= 1.6"
  required_providers {
    alicloud = {
      source  = "aliyun/alicloud"
      version = "~> 1.240"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds generated secrets: an encrypted, private OSS bucket with a lock table, created once by hand
  # (docs/deploy.md), never a local file.
  backend "oss" {
    bucket              = "ecogate-terraform-state"
    prefix              = "prod"
    key                 = "terraform.tfstate"
    region              = "cn-hangzhou"
    encrypt             = true
    acl                 = "private"
    tablestore_endpoint = "https://ecogate-tf-lock.cn-hangzhou.ots.aliyuncs.com"
    tablestore_table    = "terraform_lock"
  }
}

provider "alicloud" {
  region = var.region
}
