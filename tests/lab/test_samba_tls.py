"""LDAPS to the lab DC: CA verification is real (right CA binds, wrong CA is refused)."""

import ssl
import subprocess

import ldap3
import pytest
from ldap3.core.exceptions import LDAPSocketOpenError

pytestmark = pytest.mark.samba


def test_ldaps_bind_with_the_dc_ca_succeeds_and_reads_the_administrator(samba_dc):
    conn = samba_dc.connect()
    try:
        assert conn.bound and conn.server.ssl
        conn.search(samba_dc.admin_dn, "(objectClass=user)", search_scope=ldap3.BASE,
                    attributes=["sAMAccountName"])
        assert conn.entries[0].sAMAccountName.value == "Administrator"
    finally:
        conn.unbind()


def test_ldaps_with_an_unrelated_ca_is_refused(samba_dc, tmp_path):
    key, cert = tmp_path / "k.pem", tmp_path / "ca.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(cert), "-days", "1", "-subj", "/CN=Not The Lab CA"],
                   check=True, capture_output=True)
    server = ldap3.Server(samba_dc.address, port=636, use_ssl=True, tls=samba_dc.tls(cert),
                          get_info=ldap3.NONE, connect_timeout=5)
    conn = ldap3.Connection(server, samba_dc.admin_dn, samba_dc.admin_password)
    with pytest.raises(LDAPSocketOpenError) as info:
        conn.open()
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value) or "certificate verify failed" in str(info.value)


def test_ldaps_with_the_right_ca_but_a_wrong_server_name_is_refused(samba_dc):
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(samba_dc.ca_file), valid_names=["evil.example"])
    server = ldap3.Server(samba_dc.address, port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE, connect_timeout=5)
    conn = ldap3.Connection(server, samba_dc.admin_dn, samba_dc.admin_password)
    with pytest.raises(LDAPSocketOpenError):
        conn.open()


def test_wrong_password_is_rejected(samba_dc):
    with pytest.raises(ldap3.core.exceptions.LDAPInvalidCredentialsResult):
        samba_dc.connect(samba_dc.admin_dn, "definitely-not-it")
