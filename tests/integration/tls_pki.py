"""Certificates for the TLS tests, made with the `openssl` command line: one test CA and leaf certificates
(ECDSA P-256 or RSA 2048) with the SANs asked for, signed by it, and the CA's certificate revocation lists
(`openssl ca -revoke` / `-gencrl`). Files land in a directory of the caller's."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path


@dataclass
class Cert:
    cert: Path
    key: Path

    @property
    def cert_pem(self) -> str:
        return self.cert.read_text()

    @property
    def key_pem(self) -> str:
        return self.key.read_text()


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


class Pki:
    def __init__(self, directory: Path, name: str = "ca"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca = Cert(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", str(self.ca.key), "-out", str(self.ca.cert), "-days", "30", "-subj", f"/CN=Tollgate test {name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        self._serial = 1

    def issue(self, name: str, sans: list[str], key_type: str = "ec", days: int = 30, client: bool = False,
              not_after_past: bool = False) -> Cert:
        """A leaf certificate for sans (DNS names; "IP:..." entries are IP SANs), CN = name."""
        out = Cert(self.dir / f"{name}.crt", self.dir / f"{name}.key")
        csr = self.dir / f"{name}.csr"
        newkey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"] if key_type == "ec" else \
            ["-newkey", "rsa:2048"]
        _run("openssl", "req", "-new", *newkey, "-nodes", "-keyout", str(out.key), "-out", str(csr),
             "-subj", f"/CN={name}")
        ext = self.dir / f"{name}.ext"
        alt = ",".join(s if s.startswith("IP:") else f"DNS:{s}" for s in sans)
        usage = "clientAuth" if client else "serverAuth"
        ext.write_text(f"subjectAltName={alt}\nextendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n"
                       if alt else f"extendedKeyUsage={usage}\nbasicConstraints=CA:FALSE\n")
        self._serial += 1
        argv = ["openssl", "x509", "-req", "-in", str(csr), "-CA", str(self.ca.cert), "-CAkey", str(self.ca.key),
                "-set_serial", str(self._serial), "-out", str(out.cert), "-extfile", str(ext)]
        if not_after_past:
            argv += ["-days", "-1"]  # notAfter a day before notBefore: expired from the start
        else:
            argv += ["-days", str(days)]
        _run(*argv)
        return out

    def crl(self, name: str, revoked: list[Cert] = (), expired: bool = False) -> Path:
        """A CRL of this CA (PEM, at DIR/name.crl) listing the certificates of revoked: valid from now for a week,
        or with expired, issued two days ago and due a day ago (past its nextUpdate). Each CRL is made with a
        database of its own, so it lists exactly what it is given."""
        db = self.dir / f"{name}-crl-db"
        db.mkdir()
        (db / "index.txt").write_text("")
        (db / "crlnumber").write_text("01\n")
        conf = db / "ca.cnf"
        conf.write_text(f"[ca]\ndefault_ca = test_ca\n[test_ca]\ndatabase = {db}/index.txt\n"
                        f"crlnumber = {db}/crlnumber\ncertificate = {self.ca.cert}\nprivate_key = {self.ca.key}\n"
                        "default_md = sha256\ndefault_crl_days = 7\n")
        for cert in revoked:
            _run("openssl", "ca", "-config", str(conf), "-revoke", str(cert.cert))
        out = self.dir / f"{name}.crl"
        times = []
        if expired:
            now = datetime.now(timezone.utc)
            times = ["-crl_lastupdate", (now - timedelta(days=2)).strftime("%Y%m%d%H%M%SZ"),
                     "-crl_nextupdate", (now - timedelta(days=1)).strftime("%Y%m%d%H%M%SZ")]
        _run("openssl", "ca", "-config", str(conf), "-gencrl", "-out", str(out), *times)
        return out
