# Shop edge cache. Owner: platform team (#edge on chat).
# Backends live in backends.vcl; the API is api-1/api-2.internal.example.
vcl 4.1;

import std;
import directors;

include "backends.vcl";

acl purgers {
    "localhost";
    "192.168.40.0"/24;
    "10.0.5.20";            # cache-1
    "cache-admin.internal.example";
}

sub vcl_init {
    new api = directors.round_robin();
    api.add_backend(api1);
    api.add_backend(api2);
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(405, "Not allowed."));
        }
        return (purge);
    }
    /* The API is never cached. */
    if (req.http.host == "shop.example.com" && req.url ~ "^/api/") {
        set req.backend_hint = api.backend();
        return (pass);
    }
    if (req.url ~ "^/static/") {
        set req.backend_hint = static;
        unset req.http.Cookie;
        return (hash);
    }
    set req.backend_hint = web;
}

sub vcl_backend_response {
    if (bereq.url ~ "^/static/") {
        set beresp.ttl = 1h;
    }
}

sub vcl_deliver {
    set resp.http.X-Cache-Node = server.hostname;
    std.log("delivered " + req.url);
}
