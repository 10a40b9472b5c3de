"""A throw-away PKI and kubeconfigs for the local test cluster, made with the openssl CLI.

Why generate locally: the API server must run with real TLS, client-certificate
authentication and RBAC/Node authorization, as in production, so that the e2e tests see
real 401/403 answers. Every identity (admin, controller-manager, scheduler, kwok) gets its
own client certificate; the CA lives only in the cluster's state directory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SERVICE_IP = "10.96.0.1"  # first address of --service-cluster-ip-range (virtual, never dialled)
NODE_GATEWAY = "10.88.0.1"  # this host on the real node's Pod bridge (node.GATEWAY)
CONTEXT = "holon-e2e"  # the context name the e2e tests insist on

# name -> (CN, O) of each client certificate
CLIENTS = {
    "admin": ("holon-admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kwok": ("holon-kwok", "system:masters"),
}


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _leaf(pki: Path, name: str, subject: str, extensions: str) -> None:
    """An EC key + a certificate signed by the cluster CA (EC: fast to generate)."""
    (pki / f"{name}.ext").write_text(extensions)
    _openssl(
        "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=pki,
    )  # fmt: skip
    _openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "365", "-sha256", "-extfile", f"{name}.ext",
        "-out", f"{name}.crt", cwd=pki,
    )  # fmt: skip
    (pki / f"{name}.csr").unlink()
    (pki / f"{name}.ext").unlink()


def make_pki(pki: Path) -> None:
    """CA, API server serving cert, client certs and the service-account key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    pki.chmod(0o700)
    _openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", "ca.key", "-out", "ca.crt", "-days", "3650", "-subj", "/CN=holon-e2e-ca",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", cwd=pki,
    )  # fmt: skip
    sans = ",".join(
        [
            "IP:127.0.0.1",
            f"IP:{SERVICE_IP}",
            f"IP:{NODE_GATEWAY}",
            "DNS:localhost",
            "DNS:kubernetes",
            "DNS:kubernetes.default",
            "DNS:kubernetes.default.svc",
            "DNS:kubernetes.default.svc.cluster.local",
        ]
    )
    _leaf(
        pki,
        "apiserver",
        "/CN=kube-apiserver",
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n",
    )
    for name, (cn, org) in CLIENTS.items():
        client_cert(pki, name, cn, org)
    _openssl("genrsa", "-out", "sa.key", "2048", cwd=pki)
    _openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)


def client_cert(pki: Path, name: str, cn: str, org: str = "") -> None:
    """A client certificate NAME.crt/.key for identity CN (group ORG) signed by the CA."""
    subject = (f"/O={org}" if org else "") + f"/CN={cn}"
    _leaf(
        pki,
        name,
        subject,
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
    )


def serving_cert(pki: Path, name: str, cn: str, ips: list[str]) -> None:
    """A serving certificate NAME.crt/.key for the given IP addresses."""
    sans = ",".join(f"IP:{ip}" for ip in ips)
    _leaf(
        pki,
        name,
        f"/CN={cn}",
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n",
    )


def kubeconfig(pki: Path, server: str, client: str, context: str = CONTEXT) -> str:
    """A kubeconfig using file references (so the PKI stays in one place)."""
    return f"""apiVersion: v1
kind: Config
clusters:
- name: {context}
  cluster:
    server: {server}
    certificate-authority: {pki / "ca.crt"}
users:
- name: {context}-{client}
  user:
    client-certificate: {pki / f"{client}.crt"}
    client-key: {pki / f"{client}.key"}
contexts:
- name: {context}
  context:
    cluster: {context}
    user: {context}-{client}
current-context: {context}
"""
