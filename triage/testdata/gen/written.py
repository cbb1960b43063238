#!/usr/bin/env python3
"""Writes the triage fixtures for the formats racelab cannot run here
(ALB, Google Cloud LB, Envoy, HAProxy httplog, Caddy), from their
documented line formats (docs/triage.md cites them). Every file holds one
busy target and one quiet one behind a backend whose keep-alive is 5s:
requests at idle gaps from 0.2s to 7s, race failures only at gaps just
past 5s (the natural race: a gap well past it finds the connection closed
and opens a new one), and a backend 500, a 504 and a 503 as negative
controls. NAME.want lists the class of each request line, in order.

    python3 triage/testdata/gen/written.py   (from the repository root)
"""
import datetime, json, os

OUT = "triage/testdata/written"
T0 = datetime.datetime(2026, 12, 5, 10, 0, 0, tzinfo=datetime.timezone.utc)
# (gap before this request in seconds, outcome) per target.
PLAN = [(0.2, "ok"), (1, "ok"), (2, "ok"), (3, "ok"), (4, "ok"), (4.5, "ok"),
        (4.9, "ok"), (4.95, "ok"), (5.0006, "race"), (0.3, "backend_5xx"),
        (4.97, "ok"), (5.0012, "race"), (7, "ok"), (4.99, "ok"), (5.0009, "race"),
        (1, "timeout"), (2, "ok"), (5.002, "race"), (4.8, "ok"), (5.0015, "race"),
        (0.5, "capacity"), (6, "ok"), (4.98, "ok"), (5.0007, "race"), (3, "ok")]
TARGETS = [("10.0.0.1", 8080), ("10.0.0.2", 8080)]


def events():
    evs = []
    for i, (ip, port) in enumerate(TARGETS):
        t = T0 + datetime.timedelta(seconds=i * 0.37)
        for n, (gap, out) in enumerate(PLAN):
            t = t + datetime.timedelta(seconds=gap)
            evs.append((t, ip, port, out, n))
    evs.sort(key=lambda e: e[0])
    return evs


def iso(t, digits=6):
    s = t.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return s[: len(s) - (6 - digits)] + "Z"


def alb(t, ip, port, out, n):
    target, tstat, tproc, elb = f"{ip}:{port}", "200", "0.004", "200"
    if out == "race":
        tstat, tproc, elb = "-", "-1", "502"
    elif out == "backend_5xx":
        tstat, elb = "500", "500"
    elif out == "timeout":
        tstat, tproc, elb = "-", "-1", "504"
    elif out == "capacity":
        target, tstat, tproc, elb = "-", "-", "-1", "503"
    recv = iso(t + datetime.timedelta(milliseconds=5))
    return (f'http {recv} app/my-alb/50dc6c495c0c9188 203.0.113.7:{40000+n} {target} 0.000 {tproc} 0.000 '
            f'{elb} {tstat} 140 {0 if elb != "200" else 512} "GET http://shop.example.com:80/api/orders/{n} HTTP/1.1" '
            f'"curl/8.5.0" - - arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/api/73e2d6bc24d8a067 '
            f'"Root=1-6751a0b0-0123456789abcdef0123456{n % 10}" "-" "-" 0 {iso(t)} "forward" "-" "-" '
            f'"{target}" "{tstat}" "-" "-"')


def gclb(t, ip, port, out, n):
    status, det = 200, "response_sent_by_backend"
    if out == "race":
        status, det = 502, "backend_connection_closed_before_data_sent_to_client"
    elif out == "backend_5xx":
        status = 500
    elif out == "timeout":
        status, det = 504, "backend_timeout"
    elif out == "capacity":
        status, det = 503, "failed_to_pick_backend"
    e = {"insertId": f"1x{n}{ip[-1]}", "jsonPayload": {
        "@type": "type.googleapis.com/google.cloud.loadbalancing.type.LoadBalancerLogEntry",
        "statusDetails": det},
        "httpRequest": {"requestMethod": "GET", "requestUrl": f"https://shop.example.com/api/orders/{n}",
                        "status": status, "remoteIp": "203.0.113.7", "latency": "0.004s"},
        "resource": {"type": "http_load_balancer", "labels": {"backend_service_name": "api"}},
        "timestamp": iso(t), "severity": "INFO" if status < 500 else "WARNING"}
    if out != "capacity":
        e["httpRequest"]["serverIp"] = ip
    return json.dumps(e, separators=(",", ":"))


def envoy(t, ip, port, out, n):
    status, flags, details, host = 200, "-", "via_upstream", f"{ip}:{port}"
    if out == "race":
        status, flags, details = 503, "UC", "upstream_reset_before_response_started{connection_termination}"
    elif out == "backend_5xx":
        status = 500
    elif out == "timeout":
        status, flags, details = 504, "UT", "response_timeout"
    elif out == "capacity":
        status, flags, details, host = 503, "UO", "upstream_reset_before_response_started{overflow}", "-"
    if n % 2:  # Istio's format: details after the flags
        return (f'[{iso(t, 3)}] "GET /api/orders/{n} HTTP/1.1" {status} {flags} {details} - "-" 0 19 4 3 "-" '
                f'"curl/8.5.0" "a1b2c3d4-{n:04d}" "shop.example.com" "{host}" '
                f'outbound|8080||api.default.svc.cluster.local 10.0.0.9:51234 10.0.0.9:15001 10.0.0.5:40000 - default')
    return (f'[{iso(t, 3)}] "GET /api/orders/{n} HTTP/1.1" {status} {flags} 0 19 4 3 "-" "curl/8.5.0" '
            f'"a1b2c3d4-{n:04d}" "shop.example.com" "{host}"')


def haproxy(t, ip, port, out, n):
    srv = "api/srv1" if ip.endswith("1") else "api/srv2"
    timers, status, ts, size = "0/0/0/4/4", 200, "----", 512
    if out == "race":
        timers, status, ts, size = "0/0/0/-1/0", 502, "SH--", 209
    elif out == "backend_5xx":
        timers, status = "0/0/0/12/12", 500
    elif out == "timeout":
        timers, status, ts, size = "0/0/0/-1/30001", 504, "sH--", 198
    elif out == "capacity":
        srv, timers, status, ts, size = "api/<NOSRV>", "0/1000/-1/-1/1000", 503, "sQ--", 217
    date = t.strftime("%d/%b/%Y:%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
    sys = t.strftime("%b %d %H:%M:%S")
    return (f'{sys} lb1 haproxy[14389]: 203.0.113.7:{40000+n} [{date}] http-in {srv} {timers} {status} {size} '
            f'- - {ts} 3/3/1/1/0 0/0 "GET /api/orders/{n} HTTP/1.1"')


def caddy(t, ip, port, out, n):
    status, err = 200, None
    if out == "race":
        status, err = 502, "EOF"
    elif out == "backend_5xx":
        status = 500
    elif out == "timeout":
        status, err = 504, "net/http: timeout awaiting response headers"
    elif out == "capacity":
        status, err = 503, "no upstreams available"
    req = {"remote_ip": "203.0.113.7", "remote_port": str(40000 + n), "client_ip": "203.0.113.7",
           "proto": "HTTP/1.1", "method": "GET", "host": "shop.example.com", "uri": f"/api/orders/{n}{ip[-1]}"}
    ts = t.timestamp()
    lines = []
    if err:
        lines.append(json.dumps({"level": "error", "ts": ts - 0.0005, "logger": "http.log.error.log0", "msg": err,
                                 "request": req, "duration": 0.001, "status": status, "err_id": f"e{n}",
                                 "err_trace": "reverseproxy.statusError (reverseproxy.go:1299)"}, separators=(",", ":")))
    lines.append(json.dumps({"level": "info" if status < 500 else "error", "ts": ts, "logger": "http.log.access.log0",
                             "msg": "handled request", "request": req, "bytes_read": 0, "user_id": "",
                             "duration": 0.001, "size": 0 if status >= 500 else 512, "status": status,
                             "resp_headers": {}}, separators=(",", ":")))
    return "\n".join(lines)


os.makedirs(OUT, exist_ok=True)
for name, fn in [("alb", alb), ("gclb", gclb), ("envoy", envoy), ("haproxy", haproxy), ("caddy", caddy)]:
    evs = events()
    with open(f"{OUT}/{name}.log", "w") as f, open(f"{OUT}/{name}.want", "w") as w:
        for e in evs:
            f.write(fn(*e) + "\n")
            w.write(e[3] + "\n")
