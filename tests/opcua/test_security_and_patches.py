"""Encrypted endpoints, the closed unsecured-channel hole, first-start users, the pinned patches
(server and client; the client patches themselves: test_client_patches.py)."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import asyncua
import pytest
from _opcua import connect, free_port
from asyncua import ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from twin.config import load_satellite
from twin.errors import TwinError
from twin.opcua import asyncua_patches
from twin.opcua.server import ServerOptions, TwinServer
from twin.opcua.users import UserStore, first_start_users
from twin.runtime import Twin

SIGN_AND_ENCRYPT = (ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,)


async def client_certificate(directory: Path) -> str:
    cert, key = directory / "client_cert.der", directory / "client_key.pem"
    await setup_self_signed_certificate(key, cert, "urn:orbital-twin:test-client", "localhost",
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "test"})
    return f"{cert},{key}"


async def test_only_sign_and_encrypt_refuses_sessions_on_the_unsecured_channel(tmp_path):
    twin = Twin(load_satellite().config, state_dir=tmp_path)
    opts = ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/twin/", state_dir=tmp_path,
                         policies=SIGN_AND_ENCRYPT)
    async with TwinServer(twin, opts) as srv:
        engineer = srv.created_users["engineer"]
        with pytest.raises(ua.UaStatusCodeError) as refused:
            async with connect(srv.url, "engineer", engineer):
                pass
        certs = await client_certificate(tmp_path)
        trusted = tmp_path / "pki" / "trusted"
        shutil.copy(tmp_path / "client_cert.der", trusted / "test-client.der")
        async with connect(srv.url, "engineer", engineer,
                           f"Basic256Sha256,SignAndEncrypt,{certs}") as c:
            assert await c.get_node("ns=2;s=sim").call_method("2:Pause") == "Pause done"
            endpoints = await c.get_endpoints()
    assert refused.value.code == ua.StatusCodes.BadSecurityPolicyRejected
    assert {e.SecurityMode for e in endpoints} == {ua.MessageSecurityMode.SignAndEncrypt}
    assert twin.commands.log[-1].user == "engineer"


async def test_the_none_policy_is_refused_on_a_non_loopback_endpoint(tmp_path):
    twin = Twin(load_satellite().config, state_dir=tmp_path)
    opts = ServerOptions(endpoint="opc.tcp://0.0.0.0:4840/twin/", state_dir=tmp_path,
                         allow_none=True)
    with pytest.raises(TwinError, match="loopback"):
        await TwinServer(twin, opts).start()


def test_first_start_creates_an_operator_and_an_engineer_in_a_private_file(tmp_path):
    _store, created = first_start_users(tmp_path)
    again, created_again = first_start_users(tmp_path)
    path = tmp_path / "users.json"
    assert set(created) == {"operator", "engineer"} and created_again == {}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert created["operator"] not in path.read_text()
    assert again.authenticate("engineer", created["engineer"]).twin_role == "engineer"
    assert again.authenticate("engineer", created["operator"]) is None
    assert again.authenticate(None, None) is None


def test_anonymous_is_a_viewer_when_enabled():
    store = UserStore(anonymous=True)
    assert store.authenticate(None, None).twin_role == "viewer"


def test_the_patched_asyncua_functions_are_the_ones_pinned():
    """Fails when an asyncua upgrade changes a function twin.opcua.asyncua_patches replaces or
    reproduces (server and client): re-read the new code, port the patch (or drop it if fixed
    upstream), update PINNED."""
    assert asyncua.__version__ == asyncua_patches.ASYNCUA_VERSION
    assert asyncua_patches.check() == []


def test_patches_refuse_to_apply_on_another_asyncua_version(monkeypatch, caplog):
    asyncua_patches.revert()
    monkeypatch.setattr(asyncua, "__version__", "2.2.0")
    assert asyncua_patches.apply() is False
    assert asyncua_patches.apply_client() is False
    assert "not patching asyncua's server" in caplog.text
    assert "not patching asyncua's client" in caplog.text
    assert not asyncua_patches.applied() and not asyncua_patches.client_applied()
    monkeypatch.undo()
    assert asyncua_patches.apply() is True
    assert asyncua_patches.apply_client() is True


def test_patches_refuse_to_apply_when_a_pinned_function_changed(monkeypatch):
    from asyncua.client.ua_session import UaSession

    asyncua_patches.revert()
    stock = UaSession.publish
    monkeypatch.setitem(asyncua_patches.PINNED, "session:UaSession.publish", "0" * 16)
    assert any("UaSession.publish changed" in p for p in asyncua_patches.check())
    assert asyncua_patches.apply_client() is False and UaSession.publish is stock
    monkeypatch.undo()
    assert asyncua_patches.apply_client() is True and UaSession.publish is not stock
    asyncua_patches.apply()


def test_patched_monitored_items_share_immutable_values_and_copy_mutable_ones():
    from asyncua.server.monitored_item_service import MonitoredItemValues

    asyncua_patches.apply()
    scalar = ua.DataValue(ua.Variant(1.5))
    array = ua.DataValue(ua.Variant([1.0, 2.0]))
    mv = MonitoredItemValues()
    mv.set_current_datavalue(scalar)
    assert mv.get_current_datavalue() is scalar
    mv.set_current_datavalue(array)
    assert mv.get_current_datavalue() == array and mv.get_current_datavalue() is not array
    assert mv.get_old_datavalue() is scalar


async def test_untrusted_client_certificates_are_refused_and_kept_for_review(tmp_path):
    """Trust list: an unknown client certificate is refused (BadCertificateUntrusted) and saved
    under pki/rejected/; moved to pki/trusted/ it is accepted without a restart; with
    trust_new (first use) it is accepted and remembered."""
    twin = Twin(load_satellite().config, state_dir=tmp_path)
    opts = ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/twin/", state_dir=tmp_path,
                         policies=SIGN_AND_ENCRYPT)
    certs = await client_certificate(tmp_path)
    security = f"Basic256Sha256,SignAndEncrypt,{certs}"
    async with TwinServer(twin, opts) as srv:
        engineer = srv.created_users["engineer"]
        with pytest.raises(ua.UaStatusCodeError) as refused:
            async with connect(srv.url, "engineer", engineer, security):
                pass
        assert refused.value.code == ua.StatusCodes.BadCertificateUntrusted
        rejected = list((tmp_path / "pki" / "rejected").iterdir())
        assert len(rejected) == 1 and rejected[0].suffix == ".der"
        rejected[0].rename(tmp_path / "pki" / "trusted" / rejected[0].name)
        async with connect(srv.url, "engineer", engineer, security) as c:
            assert await c.get_node("ns=2;s=sim.time_s").read_value() == 0.0

    other = tmp_path / "first-use"
    other.mkdir()
    opts = ServerOptions(endpoint=f"opc.tcp://127.0.0.1:{free_port()}/twin/", state_dir=other,
                         policies=SIGN_AND_ENCRYPT, trust_new=True)
    async with TwinServer(Twin(load_satellite().config, state_dir=other), opts) as srv:
        engineer = srv.created_users["engineer"]
        async with connect(srv.url, "engineer", engineer, security) as c:
            assert await c.get_node("ns=2;s=sim.time_s").read_value() == 0.0
    assert len(list((other / "pki" / "trusted").iterdir())) == 1
