resource "aws_lb" "web" {
  name               = "web"
  internal           = false
  load_balancer_type = "application"
  subnets            = var.public_subnets

  idle_timeout = 120

  enable_deletion_protection = true
}
