"""The optional reference peer (Meta's Audiobox Aesthetics) through the package's own loader.

Architecture-true with random weights: checkpoints are built from the package's
`AesMultiOutput` and written in the published ``checkpoint.pt`` layout (``state_dict`` with
``model.``-prefixed keys, ``model_cfg``, ``target_transform``), then loaded through
`load_reference`, which calls the package's `AesPredictor`. `AesMultiOutput` hard-codes its
WavLM size in ``audiobox_aesthetics.model.aes.DEFAULT_AUDIO_CFG`` (12 layers x 768, 95M
parameters); most tests shrink that one constant (same conv strides, gated relative
positions and layer-weighted sum, 2 narrow layers) so that a load takes milliseconds, and
one test runs the published size.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from mmmos_core.axes import AXES
from mmmos_core.batch import CSV_HEAD
from mmmos_core.cli import main
from mmmos_core.errors import AudioInputError, ModelLoadError
from mmmos_core.model.audio import load_audio
from mmmos_core.peers.audiobox import CHECKPOINT, load_reference

HAVE_PACKAGE = importlib.util.find_spec("audiobox_aesthetics") is not None
needs_package = pytest.mark.skipif(not HAVE_PACKAGE, reason="optional extra: pip install -r requirements-audiobox.txt")
# The package's WavLM and Gradio's queue warn about their own deprecations; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*weight_norm", "ignore:.*mismatched key_padding_mask",
                                        "ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

SR = 16000
# The published model_cfg fields `AesPredictor` reads; nth_layer counts the CNN output plus every layer.
PUBLISHED_CFG = dict(proj_num_layer=1, proj_ln=False, proj_act_fn="gelu", proj_dropout=0.0, nth_layer=13,
                     use_weighted_layer_sum=True, precision="32", normalize_embed=True, output_dim=1)
SMALL_WAVLM = dict(encoder_layers=2, encoder_embed_dim=64, encoder_ffn_embed_dim=128, encoder_attention_heads=4,
                   conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2", conv_pos=16,
                   conv_pos_groups=4)
SMALL_CFG = {**PUBLISHED_CFG, "nth_layer": SMALL_WAVLM["encoder_layers"] + 1}
# The package's axis order is CE, CU, PC, PQ; distinct statistics catch any mix-up with ours.
TARGETS = {"CE": {"mean": 5.2, "std": 1.4}, "CU": {"mean": 5.8, "std": 1.6}, "PC": {"mean": 3.1, "std": 1.9},
           "PQ": {"mean": 6.9, "std": 1.2}}


def save_checkpoint(model, path: Path, cfg: dict, targets: dict = TARGETS) -> Path:
    """The published checkpoint.pt layout, as the package's AesPredictor reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "model_cfg": dict(cfg),
                "target_transform": targets}, path)
    return path


@pytest.fixture
def small_wavlm(monkeypatch):
    """Shrink the WavLM the package builds, for saving and loading alike."""
    aes = pytest.importorskip("audiobox_aesthetics.model.aes")
    from audiobox_aesthetics.model.wavlm import WavLMConfig

    small = WavLMConfig(dict(aes.DEFAULT_AUDIO_CFG.__dict__))
    small.update(SMALL_WAVLM)
    monkeypatch.setattr(aes, "DEFAULT_AUDIO_CFG", small)
    return aes


@pytest.fixture
def checkpoint(small_wavlm, tmp_path) -> Path:
    torch.manual_seed(3)
    model = small_wavlm.AesMultiOutput(**SMALL_CFG, target_transform=TARGETS)
    return save_checkpoint(model, tmp_path / "audiobox" / CHECKPOINT, SMALL_CFG)


def noise(seconds: float, seed: int = 0, sr: int = SR, channels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (int(seconds * sr),) if channels == 1 else (int(seconds * sr), channels)
    t = np.arange(shape[0]) / sr
    tone = 0.3 * np.sin(2 * np.pi * (180 + 40 * seed) * t)  # so windows differ from one another
    return (0.05 * rng.standard_normal(shape) + (tone if channels == 1 else tone[:, None])).astype(np.float32)


# ---- the real loading path --------------------------------------------------------------------

@needs_package
def test_axes_are_mapped_by_name_from_the_packages_order(small_wavlm, tmp_path):
    """Heads set to constants: each axis's score is known exactly, so CE/CU/PC/PQ cannot be swapped."""
    want = {"PQ": 7.25, "PC": 2.5, "CE": 5.75, "CU": 9.0}
    model = small_wavlm.AesMultiOutput(**SMALL_CFG, target_transform=TARGETS)
    with torch.no_grad():
        for axis, head in model.proj_layer.items():
            head[0].weight.zero_()
            head[0].bias.fill_((want[axis] - TARGETS[axis]["mean"]) / TARGETS[axis]["std"])
    path = save_checkpoint(model, tmp_path / CHECKPOINT, SMALL_CFG)
    scores = load_reference(path=path).predict((SR, noise(12.5)))
    assert list(scores.scores) == list(AXES)
    for axis in AXES:
        assert scores[axis] == pytest.approx(want[axis], abs=1e-5)
    assert scores.windows == 2
    assert scores.to_record() == {"model": "audiobox-aesthetics", **want}


@needs_package
@pytest.mark.parametrize("seconds", [0.4, 3.0, 10.0, 20.0, 23.7])
def test_windows_and_padding_match_the_packages_own_inference(checkpoint, seconds):
    """Ours (MMMOS decoding, our batching of windows) against AesPredictor.forward on the same file."""
    from audiobox_aesthetics.infer import AesPredictor

    samples = noise(seconds, seed=int(seconds * 10))
    ours = load_reference(path=checkpoint).predict((SR, samples))
    theirs = AesPredictor(str(checkpoint)).forward([{"path": torch.from_numpy(samples)[None], "sample_rate": SR}])[0]
    assert ours.windows == max(1, int(np.ceil(seconds / 10)))
    for axis in AXES:
        assert ours[axis] == pytest.approx(theirs[axis], abs=1e-5)


@needs_package
def test_stereo_44k_and_a_batch_of_clips_match_the_package(checkpoint):
    """Resampling to 16 kHz and downmixing, and several clips of different lengths at once."""
    from audiobox_aesthetics.infer import AesPredictor

    reference = load_reference(path=checkpoint)
    predictor = AesPredictor(str(checkpoint))
    stereo = noise(11.0, seed=4, sr=44100, channels=2)
    ours = reference.predict((44100, stereo))
    theirs = predictor.forward([{"path": torch.from_numpy(stereo.T.copy()), "sample_rate": 44100}])[0]
    for axis in AXES:
        assert ours[axis] == pytest.approx(theirs[axis], abs=1e-5)

    lengths = [2.0, 31.0, 9.5, 14.0, 0.7]  # 9 windows: several passes of our window batches
    audios = [load_audio((SR, noise(s, seed=k))) for k, s in enumerate(lengths)]
    batch = reference.score(audios)
    theirs = predictor.forward([{"path": torch.from_numpy(a.samples)[None], "sample_rate": SR} for a in audios])
    assert [b.windows for b in batch] == [1, 4, 1, 2, 1]
    for ours, them in zip(batch, theirs):
        for axis in AXES:
            assert ours[axis] == pytest.approx(them[axis], abs=1e-5)


@needs_package
def test_scores_are_deterministic_and_independent_of_the_batch(checkpoint):
    reference = load_reference(path=checkpoint)
    assert not reference.model.training and next(reference.model.parameters()).dtype == torch.float32
    clip = load_audio((SR, noise(13.0, seed=7)))
    first = reference.score([clip])[0]
    again = load_reference(path=checkpoint).score([clip])[0]
    assert first.scores == again.scores
    reference.windows_per_pass = 3  # as on a GPU: windows of several clips share a forward pass
    beside = reference.score([load_audio((SR, noise(25.0, seed=8))), clip])[1]
    for axis in AXES:
        assert beside[axis] == pytest.approx(first[axis], abs=1e-5)
    assert len(set(first.scores.values())) == 4  # random weights, distinct targets: a real output per axis


@needs_package
def test_inputs_come_through_the_mmmos_front_door(checkpoint, tmp_path):
    reference = load_reference(path=checkpoint)
    wav = tmp_path / "clip.wav"
    sf.write(wav, noise(4.0, seed=2), SR)
    from_file = reference.predict(str(wav))
    from_bytes = reference.predict(wav.read_bytes(), name="clip.wav")
    assert from_file.scores == pytest.approx(from_bytes.scores, abs=1e-6)
    with pytest.raises(AudioInputError, match="file not found"):
        reference.predict(str(tmp_path / "missing.wav"))
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioInputError, match="cannot decode"):
        reference.predict(str(tmp_path / "text.wav"))


@needs_package
def test_the_published_size_loads_and_scores(tmp_path):
    """Full 12 x 768 WavLM, random weights, in the published layout: shapes and finiteness only (~5 s)."""
    from audiobox_aesthetics.model.aes import AesMultiOutput

    torch.manual_seed(0)
    model = AesMultiOutput(**PUBLISHED_CFG, target_transform=TARGETS)
    assert sum(p.numel() for p in model.parameters()) > 90e6
    path = save_checkpoint(model, tmp_path / CHECKPOINT, PUBLISHED_CFG)
    del model
    try:
        reference = load_reference(path=tmp_path)  # the folder holding checkpoint.pt
        assert reference.checkpoint == path
        assert reference.model.wavlm_model.cfg.encoder_layers == 12
        scores = reference.predict((SR, noise(3.0)))
        assert scores.windows == 1 and all(np.isfinite(scores[a]) for a in AXES)
    finally:
        path.unlink()  # 380 MB


# ---- where the checkpoint comes from, and what is said when it is missing -----------------------

@pytest.fixture
def empty_places(tmp_path, monkeypatch):
    """No checkpoint anywhere: an empty MMMOS_HOME and Hugging Face cache, hub offline."""
    import huggingface_hub.constants

    monkeypatch.setenv("MMMOS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return tmp_path / "home"


@needs_package
def test_missing_weights_name_the_checkpoint_and_the_fetch_command(empty_places):
    with pytest.raises(ModelLoadError) as err:
        load_reference()
    message = str(err.value)
    assert "Audiobox Aesthetics weights (facebook/audiobox-aesthetics) are missing" in message
    folder = empty_places / "reference" / "audiobox-aesthetics"
    # one file, not the whole repository
    assert f"hf download facebook/audiobox-aesthetics --include checkpoint.pt --local-dir {folder}" in message
    assert "HF_HUB_OFFLINE" in message and "--reference-path" in message and "encoder config" not in message


@needs_package
def test_explicit_paths_that_do_not_hold_a_checkpoint(empty_places, tmp_path):
    with pytest.raises(ModelLoadError, match=r"nope\.pt: Audiobox Aesthetics weights not found \(--reference-path"):
        load_reference(path=tmp_path / "nope.pt")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ModelLoadError, match="not a complete Audiobox Aesthetics checkpoint, missing checkpoint.pt"):
        load_reference(path=tmp_path / "folder")
    torn = tmp_path / "torn.pt"
    torn.write_bytes(b"PK\x03\x04 not really a checkpoint")
    with pytest.raises(ModelLoadError, match=r"torn\.pt: not a usable Audiobox Aesthetics checkpoint"):
        load_reference(path=torn)
    with pytest.raises(ModelLoadError, match="unknown reference model 'mos'"):
        load_reference("mos")


@needs_package
def test_mmmos_home_is_searched(empty_places, checkpoint):
    home = empty_places / "reference" / "audiobox-aesthetics"
    home.mkdir(parents=True)
    (home / CHECKPOINT).write_bytes(checkpoint.read_bytes())
    assert load_reference().checkpoint == home / CHECKPOINT


def test_without_the_package_the_message_says_how_to_install_it(monkeypatch, logmel_model_dir, clips, capsys):
    for name in [m for m in sys.modules if m == "audiobox_aesthetics" or m.startswith("audiobox_aesthetics.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "audiobox_aesthetics", None)  # import now fails as if not installed
    with pytest.raises(ModelLoadError, match=r"pip install audiobox_aesthetics==0\.0\.4 \(or pip install -r "
                                             r"requirements-audiobox\.txt\)"):
        load_reference()
    code = main(["predict", str(clips[0]), "--model", str(logmel_model_dir), "--reference", "audiobox", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "pip install audiobox_aesthetics" in err and "Traceback" not in err


# ---- mmmos predict --reference ----------------------------------------------------------------

@needs_package
def test_cli_adds_the_reference_block_to_jsonl_and_csv(checkpoint, logmel_model_dir, clips, tmp_path, capsys):
    chosen = [str(c) for c in clips[:3]]
    expected = load_reference(path=checkpoint)
    base = ["predict", *chosen, "--model", str(logmel_model_dir), "--quiet"]

    assert main(base + ["--reference", "audiobox", "--reference-path", str(checkpoint)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in records] == chosen
    for record, clip in zip(records, chosen):
        assert record["model"] == "test-logmel" and len(record["members"]) == 4
        block = record["reference"]
        assert list(block) == ["model", *AXES] and block["model"] == "audiobox-aesthetics"
        want = expected.predict(clip)
        assert all(block[a] == pytest.approx(want[a], abs=2e-6) for a in AXES)
        # the ensemble is untouched by the peer
        assert record["PQ"] == pytest.approx(np.mean([m["PQ"] for m in record["members"]]), abs=1e-5)

    out = tmp_path / "scores.csv"
    assert main(base + ["--output", str(out), "--reference-path", str(checkpoint)]) == 0  # a path implies audiobox
    rows = list(csv.DictReader(out.open()))
    header = out.read_text().splitlines()[0].split(",")
    assert header[:len(CSV_HEAD)] == CSV_HEAD
    assert {"reference:model", *(f"reference:{a}" for a in AXES)} <= set(header)
    assert [float(r["reference:CE"]) for r in rows] == pytest.approx([r["reference"]["CE"] for r in records], abs=1e-6)


@needs_package
def test_a_rerun_with_reference_rescores_records_that_lack_it(checkpoint, logmel_model_dir, clips, tmp_path, capsys):
    chosen = [str(c) for c in clips[:2]]
    for out in (tmp_path / "scores.jsonl", tmp_path / "scores.csv"):
        base = ["predict", *chosen, "--model", str(logmel_model_dir), "--output", str(out), "--quiet"]
        assert main(base) == 0
        plain = out.read_text()
        assert "reference" not in plain  # a run without the peer writes what it always wrote
        capsys.readouterr()
        assert main(base + ["--reference", "audiobox", "--reference-path", str(checkpoint)]) == 0
        assert "2 scored, 0 failed, 0 skipped" in capsys.readouterr().err
        assert main(base + ["--reference", "audiobox", "--reference-path", str(checkpoint)]) == 0
        assert "0 scored, 0 failed, 2 skipped" in capsys.readouterr().err  # CSV rows resume too
        assert main(base) == 0  # and a plain rerun keeps the reference scores it finds
        assert "2 skipped" in capsys.readouterr().err and "reference" in out.read_text()


@needs_package
def test_ray_engine_checks_the_reference_before_starting(empty_places, logmel_model_dir, clips, tmp_path, capsys):
    """Workers load their own copy, but a missing checkpoint is said at once, by the driver."""
    out = tmp_path / "o.jsonl"
    code = main(["predict", str(clips[0]), "--model", str(logmel_model_dir), "--engine", "ray", "--output",
                 str(out), "--reference", "audiobox"])
    err = capsys.readouterr().err
    assert code == 2 and "Audiobox Aesthetics weights (facebook/audiobox-aesthetics) are missing" in err
    assert "Traceback" not in err and not out.exists()


# ---- the app ----------------------------------------------------------------------------------

@needs_package
def test_app_shows_the_reference_beside_the_ensemble(checkpoint, logmel_model_dir, clips, tmp_path):
    pytest.importorskip("gradio_client")
    from _app_harness import running_app
    from gradio_client import Client, handle_file

    expected = load_reference(path=checkpoint).predict(str(clips[0]))
    with running_app(tmp_path / "app", logmel_model_dir, clips[:3],
                     env={"MMMOS_REFERENCE_PATH": str(checkpoint)}) as server:
        client = Client(server.url, verbose=False)
        # Its checkpoint is here, so Predict shows it by itself: no box to tick, same record either way.
        plain = client.predict(handle_file(str(clips[0])), api_name="/predict")
        record = client.predict(handle_file(str(clips[0])), True, api_name="/predict")
        assert record["file"] == clips[0].name
        assert all(record["reference"][a] == pytest.approx(expected[a], abs=2e-6) for a in AXES)
        assert {a: record[a] for a in AXES} == {a: plain[a] for a in AXES} and plain["reference"] == record["reference"]
        (opinion,) = [o for o in record["second_opinions"] if o["model"] == "audiobox-aesthetics"]
        assert opinion["scale"] == "1-10" and opinion["PQ"] == record["reference"]["PQ"]
        info = client.predict(api_name="/model_info")
        assert info["reference"]["status"] == "loaded" and "CC-BY-4.0" in info["reference"]["license"]

        _, radar, _, opinions, _, _ = server.app.render_prediction(record, "members as lines")
        names = [t.name for t in radar.data]
        assert "audiobox-aesthetics (reference)" in names and "ensemble mean" in names
        ref_trace = radar.data[names.index("audiobox-aesthetics (reference)")]
        assert list(ref_trace.r[:4]) == [record["reference"][a] for a in AXES]
        assert "Audiobox Aesthetics" in opinions and f"{record['reference']['PQ']:.2f}" in opinions
        assert "CC-BY-4.0" in server.app._about()


def test_app_without_the_reference_shows_a_note_not_an_error(tmp_path, monkeypatch, logmel_model_dir, clips):
    import huggingface_hub.constants
    from _app_harness import running_app

    monkeypatch.setenv("MMMOS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with running_app(tmp_path / "app", logmel_model_dir, clips[:3]) as server:
        record = server.app.predict(str(clips[1]), with_reference=True)
        assert "reference" not in record and all(1 <= record[a] <= 10 for a in AXES)
        why = record["reference_unavailable"]
        assert ("hf download facebook/audiobox-aesthetics" in why) if HAVE_PACKAGE else ("pip install" in why)
        # The page offers nothing that cannot run and never shows the developer's message: About has one line.
        assert not any(o["model"] == "audiobox-aesthetics" for o in record["second_opinions"])
        panel = server.app.render_prediction(record, "members as lines")[3]
        assert why not in panel and "hf download" not in panel
        assert "Not set up here" in server.app._about() and "hf download" not in server.app._about()
        assert "unavailable" in server.app.api_model_info()["reference"]["status"]
