resource "aws_lb" "web" {
  idle_timeout = var.idle_timeout
}
