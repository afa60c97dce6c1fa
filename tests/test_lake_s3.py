"""The lake on S3-compatible object storage, tested against a real Ceph RGW (tests/s3_fixtures)."""

from __future__ import annotations

import uuid

from tests.s3_fixtures import S3Server


def test_the_session_gateway_stores_and_lists_objects(s3_server: S3Server):
    fs = s3_server.filesystem()
    key = f"{s3_server.bucket}/probe-{uuid.uuid4().hex}/hello.txt"
    fs.pipe(key, b"hello, object storage")
    assert fs.cat(key) == b"hello, object storage"
    assert fs.ls(key.rsplit("/", 1)[0]) == [key]
    fs.rm(key)
    assert not fs.exists(key)
