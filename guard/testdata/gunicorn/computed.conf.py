import os
bind = "0.0.0.0:8000"
keepalive = int(os.environ.get("KEEPALIVE", "75"))
