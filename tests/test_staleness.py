"""The one staleness recipe (inputs to a key, is current, record, publish staged) and the one
folder hash, as the data sets, the coverage product and the reports use them."""

from __future__ import annotations

import shutil

from immune_recovery import staleness
from immune_recovery.checksums import folder_sha256
from immune_recovery.datasets import STAMP, replace_if_changed


def test_the_folder_hash_follows_content_not_place_or_hidden_files(tmp_path):
    a = tmp_path / "a"
    (a / "sub").mkdir(parents=True)
    (a / "x.csv").write_text("1\n")
    (a / "sub" / "y.csv").write_text("2\n")
    key = folder_sha256(a)
    shutil.copytree(a, tmp_path / "b")
    assert folder_sha256(tmp_path / "b") == key, "the same files elsewhere: the same hash"
    (a / ".stamp").write_text("anything")
    assert folder_sha256(a) == key, "hidden files (Make's stamps) are left out"
    (a / "sub" / "y.csv").write_text("3\n")
    assert folder_sha256(a) != key
    (a / "sub" / "y.csv").write_text("2\n")
    (a / "sub" / "y.csv").rename(a / "sub" / "z.csv")
    assert folder_sha256(a) != key, "a renamed file changes the hash"


def test_record_then_is_current_until_an_input_or_output_changes(tmp_path):
    key = staleness.key_of({"data": "abc", "settings": {"seed": 1}})
    assert key == staleness.key_of({"settings": {"seed": 1}, "data": "abc"}), "order-free"
    out = tmp_path / "product"
    out.mkdir()
    (out / "table.csv").write_text("x\n")
    record = out / "settings.json"
    assert not staleness.is_current(record, key)
    written = staleness.record(record, key, {"seed": 1})
    assert list(written) == ["seed", "key"]
    assert staleness.is_current(record, key, [out / "table.csv"])
    assert not staleness.is_current(record, staleness.key_of({"data": "abd"}))
    assert not staleness.is_current(record, key, [out / "missing.csv"])
    record.write_text("not json")
    assert staleness.recorded_key(record) is None


def test_publish_staged_replaces_the_whole_folder(tmp_path):
    target, staged = tmp_path / "out", tmp_path / "staged"
    target.mkdir()
    (target / "old.csv").write_text("old")
    staged.mkdir()
    (staged / "new.csv").write_text("new")
    staleness.publish_staged(staged, target)
    assert sorted(p.name for p in target.iterdir()) == ["new.csv"] and not staged.exists()
    assert not list(tmp_path.glob(".*old"))


def test_a_data_set_is_replaced_only_when_a_table_changed(tmp_path):
    target = tmp_path / "data" / "cohort"

    def stage(content: str):
        staging = tmp_path / f"staging-{content}"
        staging.mkdir()
        (staging / "tblBAS.csv").write_text(content)
        return staging

    assert replace_if_changed(stage("1"), target)
    stamp = (target / STAMP).read_text()
    assert staleness.recorded_key(target / STAMP) == folder_sha256(target)
    assert not replace_if_changed(stage("1"), target), "same tables: nothing rewritten"
    assert (target / STAMP).read_text() == stamp
    assert replace_if_changed(stage("2"), target)
    assert (target / "tblBAS.csv").read_text() == "2"
