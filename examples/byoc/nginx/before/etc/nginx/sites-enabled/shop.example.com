server {
    listen 80;
    listen [::]:80;
    server_name shop.example.com www.shop.example.com;
    return 301 https://$host$request_uri;
}

server {
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name shop.example.com www.shop.example.com;

    ssl_certificate /etc/letsencrypt/live/shop.example.com/fullchain.pem;
    ssl_certificate_key /etc/letsencrypt/live/shop.example.com/privkey.pem;
    ssl_stapling on;

    access_log /var/log/nginx/shop.access.log main;
    error_log /var/log/nginx/shop.error.log warn;

    root /var/www/shop;
    index index.html;

    location / {
        try_files $uri $uri/ /index.html;
    }

    location ~* \.(?:css|js|png|jpg|svg)$ {
        expires 7d;
        proxy_pass http://static_backend;
    }

    location /api/ {
        include /etc/nginx/snippets/proxy-common.conf;
        proxy_pass http://api_backend;
    }

    location /auth/ {
        include /etc/nginx/snippets/proxy-common.conf;
        proxy_pass http://auth_backend/;
    }

    location /metrics {
        allow 10.0.0.0/8;
        deny all;
        proxy_pass http://metrics.internal.example:9100/metrics;
    }

    location /legacy/ {
        proxy_pass https://legacy.internal.example;
    }
}
