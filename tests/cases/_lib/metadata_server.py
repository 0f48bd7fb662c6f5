#!/usr/bin/python3
"""A local stand-in for the clouds' metadata services, for the metadata VM case.

  metadata_server.py serve DIR    HTTP, Scaleway and HTTPS listeners on 127.0.0.1; their
                                  ports go to DIR/ports, requests to DIR/requests.log
  metadata_server.py relay PORT   copies stdin/stdout to 127.0.0.1:PORT (QEMU's
                                  guestfwd=...-cmd: runs it for each guest connection)

DIR holds key.pub (served as every provider's SSH key), mac (the guest's MAC, for Equinix
Metal's bonding), and for HTTPS srv.crt/srv.key. GET /_mode/NAME switches what the shared
AWS-style paths answer (aws: IMDSv2 token required; openstack; hetzner) or makes every
listener stall (silent).
"""
import http.server
import json
import os
import select
import socket
import socketserver
import ssl
import sys
import threading
import time

STATE = {"mode": "aws"}
LOCK = threading.Lock()


def dataset(d):
    key = open(os.path.join(d, "key.pub")).read().strip()
    mac = open(os.path.join(d, "mac")).read().strip()
    aws_ud = json.dumps({"aws": {"entries": {"marker": {"perm": "0600", "content": "aws-userdata"}}}})
    imds = {
        "aws": {
            "hostname": "aws-vm", "public-ipv4": "203.0.113.10", "local-ipv4": "169.254.0.15",
            "placement/availability-zone": "az-test-1a", "instance-type": "t3.test",
            "instance-id": "i-0test", "local-hostname": "aws-local",
            "public-keys/0/openssh-key": key + "\n", "user-data": aws_ud,
        },
        "openstack": {
            "hostname": "openstack-vm", "instance-id": "os-1", "local-hostname": "os-local",
            "public-keys/0/openssh-key": key + "\n", "user-data": "openstack-userdata",
        },
        "hetzner": {
            "hostname": "hetzner-vm", "instance-id": "hz-1", "public-ipv4": "198.51.100.1",
            "public-keys": json.dumps([key]), "user-data": "hetzner-userdata",
        },
    }
    fixed = {
        "/computeMetadata/v1/instance/hostname": "gcp-vm",
        "/computeMetadata/v1/project/attributes/ssh-keys": "root:" + key + "\n",
        "/computeMetadata/v1/instance/attributes/user-data": "gcp-userdata",
        "/v1/": "{}", "/v1/hostname": "vultr-vm", "/v1/region/regioncode": "AMS",
        "/v1/public-keys": key + "\n",
        "/metadata/v1/": "id\nhostname\n", "/metadata/v1/hostname": "do-vm",
        "/metadata/v1/region": "ams3", "/metadata/v1/public-keys": key + "\n",
        "/metadata/v1/user-data": "do-userdata",
        "/get/meta/hostname": "metaldata-vm", "/get/meta/machine-type": "m.test",
        "/get/meta/authorized-keys": key + "\n", "/get/user": "metaldata-userdata",
    }
    scaleway = {
        "/conf": "HOSTNAME=scaleway-vm\nID=scw-1\nLOCATION_ZONE_ID=par1\nPRIVATE_IP=10.1.0.5\n"
                 "SSH_PUBLIC_KEYS=1\nSSH_PUBLIC_KEYS_0_KEY='" + key + "'\n",
        "/user_data/cloud-init": "scaleway-userdata",
    }
    equinix = {
        "/metadata": json.dumps({
            "id": "em-1", "hostname": "equinix-vm", "ssh_keys": [key],
            "network": {
                "bonding": {"mode": 1},
                "interfaces": [{"name": "eth0", "mac": mac}],
                "addresses": [{"address_family": 4, "public": True, "address": "169.254.0.15",
                               "cidr": 16, "gateway": "169.254.0.2"}],
            },
        }),
        "/userdata": "equinix-userdata",
    }
    return imds, fixed, scaleway, equinix


def handler_class(d, kind, data, log):
    imds, fixed, scaleway, equinix = data

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def answer(self, status, body=""):
            b = body.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

        def record(self):
            flags = [h for h in ("Metadata-Flavor", "X-aws-ec2-metadata-token",
                                 "X-aws-ec2-metadata-token-ttl-seconds") if self.headers.get(h)]
            with LOCK:
                with open(log, "a") as f:
                    f.write("%s %s %s %s %s host=%s\n" % (kind, self.command, self.path,
                            self.request_version, ",".join(flags) or "-",
                            self.headers.get("Host", "-")))

        def do_PUT(self):
            self.record()
            if STATE["mode"] == "silent":
                time.sleep(60)
                return
            if kind == "http" and self.path == "/latest/api/token" and STATE["mode"] == "aws":
                return self.answer(200, "tok-" + str(int(time.time())))
            self.answer(404)

        def do_GET(self):
            self.record()
            if self.path.startswith("/_mode/"):
                STATE["mode"] = self.path[len("/_mode/"):]
                return self.answer(200, STATE["mode"])
            if STATE["mode"] == "silent":
                time.sleep(60)
                return
            if kind == "scaleway":
                body = scaleway.get(self.path)
            elif kind == "https":
                body = equinix.get(self.path)
            elif self.path.startswith("/computeMetadata/"):
                if self.headers.get("Metadata-Flavor") != "Google":
                    return self.answer(403)
                body = fixed.get(self.path)
            elif self.path.startswith("/latest/"):
                mode = STATE["mode"]
                if mode == "aws" and not self.headers.get("X-aws-ec2-metadata-token", "").startswith("tok-"):
                    return self.answer(401)
                rel = self.path[len("/latest/meta-data/"):] if self.path.startswith("/latest/meta-data/") else self.path[len("/latest/"):]
                body = imds.get(mode, {}).get(rel)
            elif self.path.startswith("/get/") and self.headers.get("Host") != "metaldata":
                body = None
            else:
                body = fixed.get(self.path)
            if body is None:
                return self.answer(404)
            self.answer(200, body)

    return H


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(d):
    data = dataset(d)
    log = os.path.join(d, "requests.log")
    ports = {}
    servers = []
    for kind in ("http", "scaleway", "https"):
        s = Server(("127.0.0.1", 0), handler_class(d, kind, data, log))
        if kind == "https":
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(d, "srv.crt"), os.path.join(d, "srv.key"))
            s.socket = ctx.wrap_socket(s.socket, server_side=True)
        ports[kind] = s.server_address[1]
        servers.append(s)
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(os.path.join(d, "ports.tmp"), "w") as f:
        f.write(" ".join(str(ports[k]) for k in ("http", "scaleway", "https")) + "\n")
    os.rename(os.path.join(d, "ports.tmp"), os.path.join(d, "ports"))
    while True:
        time.sleep(3600)


def relay(port):
    s = socket.create_connection(("127.0.0.1", int(port)))
    fds = [0, s.fileno()]
    while fds:
        r, _, _ = select.select(fds, [], [])
        for fd in r:
            if fd == 0:
                b = os.read(0, 65536)
                if not b:
                    s.shutdown(socket.SHUT_WR)
                    fds.remove(0)
                else:
                    s.sendall(b)
            else:
                b = s.recv(65536)
                if not b:
                    return
                while b:
                    b = b[os.write(1, b):]


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    elif sys.argv[1] == "relay":
        relay(sys.argv[2])
