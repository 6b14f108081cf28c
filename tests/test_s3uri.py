"""S3 URIs are parsed strictly; keys stay inside their prefix and cache folders inside the cache."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from reranker.config import Settings
from reranker.s3uri import S3Location, cache_folder_name, check_model_uri, parse_s3_uri


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix"),
    [
        ("s3://my-models/root/tiny-ce/1", "my-models", "root/tiny-ce/1"),
        ("s3://my-models/root/tiny-ce/1/", "my-models", "root/tiny-ce/1"),
        ("s3://a.b-c/x", "a.b-c", "x"),
        ("s3://abc/team=search/bge@v2/2024.1", "abc", "team=search/bge@v2/2024.1"),
    ],
)
def test_valid_uris_split_into_bucket_and_prefix(uri: str, bucket: str, prefix: str) -> None:
    assert parse_s3_uri(uri) == S3Location(bucket, prefix)
    assert parse_s3_uri(uri).uri == f"s3://{bucket}/{prefix}"


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("https://bucket/x", "must start with s3://"),
        ("s3://Bucket/x", "not a valid S3 bucket name"),
        ("s3://ab/x", "not a valid S3 bucket name"),
        ("s3://a..b/x", "not a valid S3 bucket name"),
        ("s3://-abc/x", "not a valid S3 bucket name"),
        ("s3://192.168.1.1/x", "must not be an IP address"),
        ("s3://bucket", "must name a prefix"),
        ("s3://bucket/", "must name a prefix"),
        ("s3://bucket/../other", "segment '..'"),
        ("s3://bucket/a/../../b", "segment '..'"),
        ("s3://bucket/a/./b", "segment '.'"),
        ("s3://bucket/a//b", "segment ''"),
        ("s3://bucket//a", "segment ''"),
        ("s3://bucket/a\\..\\b", "segment 'a\\\\..\\\\b'"),
        ("s3://bucket/a?versionId=1", "segment 'a?versionId=1'"),
        ("s3://bucket/a b", "segment 'a b'"),
        ("s3://bucket/a\nb", "segment 'a\\nb'"),
        ("s3://bucket/" + "x" * 800, "at most 768"),
    ],
)
def test_malformed_uris_are_refused_with_the_reason(uri: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_s3_uri(uri)


def test_a_root_may_be_the_bucket_itself_for_publish_and_list() -> None:
    assert parse_s3_uri("s3://bucket", require_prefix=False) == S3Location("bucket", "")
    assert S3Location("bucket", "").child("m", "1") == S3Location("bucket", "m/1")
    with pytest.raises(ValueError, match=r"segment '\.\.'"):
        S3Location("bucket", "root").child("..", "1")


@pytest.mark.parametrize(
    "name", ["../x", "a/../../x", "/etc/passwd", "a\\b", "./a", "a//b", "", "a/", "a\x00b"]
)
def test_a_file_key_cannot_leave_its_prefix(name: str) -> None:
    with pytest.raises(ValueError, match="relative path inside the model prefix"):
        S3Location("bucket", "root/m/1").key(name)


def test_file_keys_sit_under_the_prefix() -> None:
    location = S3Location("bucket", "root/m/1")
    assert location.key("model.json") == "root/m/1/model.json"
    assert location.key("onnx/model.onnx") == "root/m/1/onnx/model.onnx"


@pytest.mark.parametrize(
    "uri",
    ["s3://bucket/root/m/1", "s3://bucket/root/../../../etc", "s3://bucket/..", "s3://bucket/.../x/y"],
)
def test_cache_folder_names_stay_inside_the_cache_whatever_the_uri(uri: str, tmp_path: Path) -> None:
    try:
        location = parse_s3_uri(uri)
    except ValueError:
        # Refused URIs never reach the cache; build the location by hand to check the name alone.
        location = S3Location("bucket", uri.removeprefix("s3://bucket/"))
    name = cache_folder_name(location, "int8")
    assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert (tmp_path / name).resolve().parent == tmp_path.resolve()


def test_cache_folder_name_depends_on_location_and_variant() -> None:
    one = cache_folder_name(S3Location("bucket", "root/tiny-ce/1"), "int8")
    assert one == cache_folder_name(S3Location("bucket", "root/tiny-ce/1"), "int8")
    assert one.endswith("-tiny-ce-1") and len(one.split("-", 1)[0]) == 24
    assert one != cache_folder_name(S3Location("bucket", "root/tiny-ce/1"), "fp32")
    assert one != cache_folder_name(S3Location("other", "root/tiny-ce/1"), "int8")
    assert one != cache_folder_name(S3Location("bucket", "root/tiny-ce/2"), "int8")


def test_model_uris_are_checked_by_scheme() -> None:
    check_model_uri("/opt/models/tiny")
    check_model_uri("file:///opt/models/tiny")
    check_model_uri("s3://bucket/root/tiny/1")
    with pytest.raises(ValueError, match="scheme 'gs' is not served"):
        check_model_uri("gs://bucket/root/tiny/1")


def test_settings_refuse_a_bad_s3_uri_at_start_naming_the_model() -> None:
    with pytest.raises(ValidationError, match=r"model 'tiny': .*segment '\.\.'"):
        Settings(models={"tiny": "s3://bucket/root/../x"})
    assert Settings(models={"tiny": "s3://bucket/root/tiny/1"}).models == {"tiny": "s3://bucket/root/tiny/1"}
