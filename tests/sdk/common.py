"""Shared by the SDK scripts: the service's address and the test account
from the environment (set by tests/sdk.rs), clients of the official SDKs
pointed at it with nothing patched but their endpoint, and `check`, which
prints one `ok <name>` line per passed check (the Rust test asserts on
them) and stops at the first failure."""

import json
import os
import sys
import urllib.request

from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.vod.v20180717 import models, vod_client

ADDR = os.environ["VODFS_ADDR"]  # 127.0.0.1:PORT
HOST, PORT = ADDR.rsplit(":", 1)
PORT = int(PORT)
SECRET_ID = os.environ["VODFS_SECRET_ID"]
SECRET_KEY = os.environ["VODFS_SECRET_KEY"]
SUB_APP_ID = 1500000001


def vod(secret_id=SECRET_ID, secret_key=SECRET_KEY, token=None, method="POST", sign_method=None):
    hp = HttpProfile(endpoint=ADDR, protocol="http", reqMethod=method)
    cp = ClientProfile(httpProfile=hp)
    if sign_method:
        cp.signMethod = sign_method
    return vod_client.VodClient(credential.Credential(secret_id, secret_key, token), "ap-guangzhou", cp)


def request(cls, **fields):
    r = cls()
    r.from_json_string(json.dumps(fields))
    return r


def check(name, cond, detail=""):
    if not cond:
        print(f"FAIL {name} {detail}", flush=True)
        sys.exit(1)
    print(f"ok {name}", flush=True)


def sdk_error(call):
    """The TencentCloudSDKException a call raises (None if it succeeds)."""
    try:
        call()
    except TencentCloudSDKException as e:
        return e
    return None


def expect_code(name, call, code):
    e = sdk_error(call)
    got = e.get_code() if e else None
    check(name, got == code and (e.get_request_id() or ""), f"expected {code}, got {got}: {e}")
    return e


def admin(path, body=None, method=None):
    # The admin door wants this header (a web page could not send it
    # without a preflight).
    req = urllib.request.Request(
        f"http://{ADDR}{path}", data=body, method=method, headers={"X-Vodfs-Admin": "1"}
    )
    with urllib.request.urlopen(req) as r:
        return r.read()


def fetch(url):
    with urllib.request.urlopen(url) as r:
        return r.read()
