"""Rebuilding the corpus on a tiny fake source tree: good files arrive checked, and every
bad input (missing source, missing file, undecodable file, checksum mismatch) is one
message naming the file while the build goes on. No package is downloaded."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile

import pytest
import soundfile as sf

from mmmos_core.lite.corpus_build import DirectoryStore, build_corpus, convert
from mmmos_core.lite.sources import CorpusRecord, Manifest, audio_sha256, write_manifest
from scripts import build_lite_corpus


def _record(source, member, data, *, container="file", start_s=0.0, duration_s=2.0, **kw) -> CorpusRecord:
    """A manifest row whose checksums come from converting ``data`` the builder's way."""
    draft = CorpusRecord(kw.pop("id", f"{source}-{len(member)}"), source, "1.0", member, container, "GPL-2.0+",
                         "sound", "sound", "train", start_s, duration_s, 1, 1, hashlib.sha256(data).hexdigest(), "")
    pcm, sr = convert(data, draft, None)
    return dataclasses.replace(draft, sample_rate=sr, channels=pcm.shape[1], sha256=audio_sha256(pcm, sr), **kw)


@pytest.fixture
def tree(tmp_path, clips):
    """fake-pkg with a real WAV, a real clip inside a pk3 (zip) and a file that is not audio."""
    root = tmp_path / "unpacked"
    sounds = root / "fake-pkg" / "usr/share/sounds"
    sounds.mkdir(parents=True)
    real = clips[0].read_bytes()
    (sounds / "real.wav").write_bytes(real)
    with zipfile.ZipFile(sounds / "data.pk3", "w") as z:
        z.writestr("music/inner.wav", clips[1].read_bytes())
    (sounds / "broken.ogg").write_bytes(b"OggS" + b"\x00" * 200)
    good = _record("fake-pkg", "usr/share/sounds/real.wav", real, id="good")
    zipped = _record("fake-pkg", "usr/share/sounds/data.pk3!music/inner.wav", clips[1].read_bytes(),
                     container="zip", start_s=0.5, duration_s=1.0, id="zipped")
    return root, good, zipped


def test_good_recordings_are_converted_trimmed_and_verified(tree, tmp_path):
    root, good, zipped = tree
    out = tmp_path / "corpus"
    report = build_corpus([good, zipped], DirectoryStore(root), out)
    assert report.ok and sorted(report.built) == ["good", "zipped"]
    pcm, sr = sf.read(out / zipped.file_name, dtype="int16", always_2d=True)
    assert sr == zipped.sample_rate and pcm.shape[0] == round(1.0 * sr)
    assert audio_sha256(pcm, sr) == zipped.sha256
    # a second build trusts only what still matches: a damaged cache file is rebuilt
    (out / good.file_name).write_bytes(b"RIFF garbage")
    again = build_corpus([good, zipped], DirectoryStore(root), out)
    assert again.ok and again.built == ["good"] and again.already == ["zipped"]
    # a file an older manifest listed is named, not silently mixed in
    left = build_corpus([good], DirectoryStore(root), out)
    assert left.ok and left.strays == ["sound/zipped.wav"] and "sound/zipped.wav" in left.summary()


def test_each_bad_input_is_named_and_the_build_goes_on(tree, tmp_path):
    root, good, _ = tree
    data = (root / "fake-pkg/usr/share/sounds/broken.ogg").read_bytes()
    broken = dataclasses.replace(good, id="broken", member="usr/share/sounds/broken.ogg",
                                 source_sha256=hashlib.sha256(data).hexdigest())
    records = [
        dataclasses.replace(good, id="gone", member="usr/share/sounds/gone.wav"),
        broken,
        dataclasses.replace(good, id="changed-source", source_sha256="0" * 64),
        dataclasses.replace(good, id="other-decoder", sha256="f" * 64),
        dataclasses.replace(good, id="no-package", source="absent-pkg"),
        good,
    ]
    out = tmp_path / "corpus"
    report = build_corpus(records, DirectoryStore(root), out)
    assert report.built == ["good"] and not report.ok
    kinds = {p.record: (p.kind, p.file, str(p)) for p in report.problems}
    assert kinds["gone"][:2] == ("missing file", "fake-pkg:usr/share/sounds/gone.wav")
    assert kinds["broken"][:2] == ("undecodable", "fake-pkg:usr/share/sounds/broken.ogg")
    assert kinds["changed-source"][0] == "checksum mismatch" and "source bytes" in kinds["changed-source"][2]
    assert kinds["other-decoder"][0] == "checksum mismatch" and "not written" in kinds["other-decoder"][2]
    assert kinds["no-package"][0] == "missing source" and "absent-pkg" in kinds["no-package"][2]
    assert len(report.problems) == 5  # one message per bad recording, nothing dropped silently
    assert not (out / "sound/other-decoder.wav").exists() and not (out / "sound/changed-source.wav").exists()
    assert "Traceback" not in report.summary()


def test_the_script_exits_1_and_names_every_missing_file(tree, tmp_path, capsys):
    root, good, _ = tree
    good = dataclasses.replace(good, split="check")  # the only source of its domain: held out by the rule
    manifest = tmp_path / "m.json"
    gone = dataclasses.replace(good, id="gone", member="x/gone.wav", sha256="e" * 64)
    write_manifest(Manifest("test", "rule", [good, gone]), manifest)
    rc = build_lite_corpus.main(["--manifest", str(manifest), "--unpacked", str(root),
                                 "--out", str(tmp_path / "corpus")])
    out = capsys.readouterr().out
    assert rc == 1
    assert "1 built" in out and "fake-pkg:x/gone.wav: missing file" in out


def test_the_script_refuses_a_manifest_that_breaks_its_rules(tree, tmp_path, capsys):
    root, good, _ = tree
    manifest = tmp_path / "m.json"
    write_manifest(Manifest("test", "rule", [dataclasses.replace(good, split="train", licence="CC-BY-NC-3.0")]),
                   manifest)
    rc = build_lite_corpus.main(["--manifest", str(manifest), "--unpacked", str(root), "--check-manifest"])
    err = capsys.readouterr().err
    assert rc == 1 and "licence 'CC-BY-NC-3.0'" in err and "held-out rule says 'check'" in err


def test_the_rendered_midi_path_needs_fluidsynth_or_says_so(tmp_path, monkeypatch):
    from mmmos_core.lite import corpus_build

    monkeypatch.setattr(corpus_build.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="fluidsynth program is not installed"):
        corpus_build.render_midi(b"MThd", tmp_path / "font.sf2")
