# gunicorn configuration for the API image.
import multiprocessing

bind = "0.0.0.0:8000"
workers = multiprocessing.cpu_count() * 2 + 1
worker_class = "gthread"
threads = 4
timeout = 30
keepalive = 75  # seconds: above the load balancer's 60 s idle timeout
accesslog = "-"
