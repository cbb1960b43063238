vcl 4.1;

backend default {
    .host = "127.0.0.1";
    .port = "8080";
    .first_byte_timeout = 60s;
}

sub vcl_recv {
    if (req.url ~ "^/admin") {
        return (pass);
    }
}
