resource "aws_lb" "web" {
  idle_timeout = 120
}

resource "aws_lb" "api" {
  idle_timeout = 30
}
