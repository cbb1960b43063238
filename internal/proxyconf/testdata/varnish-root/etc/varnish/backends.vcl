vcl 4.1;

probe healthz {
    .request =
        "GET /healthz HTTP/1.1"
        "Host: api.internal.example"
        "Connection: close"
        "User-Agent: varnish-probe";
    .interval = 5s;
    .timeout = 1s;
    .window = 5;
    .threshold = 3;
}

backend api1 {
    .host = "api-1.internal.example";
    .port = "8080";
    .probe = healthz;
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
    .host_header = "api.internal.example";
}

backend api2 {
    .host = "api-2.internal.example";
    .port = "8080";
    .probe = healthz;
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
}

backend static {
    .host = "10.0.3.17";
    .port = "80";
    .max_connections = 100;
}

backend web {
    .host = "192.168.40.12";
    .port = "8000";
    .proxy_header = 1;
    .probe = {
        .url = "/";
        .interval = 10s;
    }
}
