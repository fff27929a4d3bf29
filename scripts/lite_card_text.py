"""MMMOS-lite's MODEL_CARD.md, written from a build's manifest and its held-out checks."""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path
from typing import Any


def _pct(s: dict[str, Any], key: str) -> str:
    return f"{s[f'{key}_passed']}/{s[f'{key}_total']} ({100 * s[f'{key}_rate']:.1f}%)"


def _mark(s: dict[str, Any], key: str) -> str:
    met = s["met"].get(key)
    return "yes" if met else ("n/a" if met is None else "**no**")


def _training_lines(members: list[dict[str, Any]], axes: list[str]) -> list[str]:
    """How the members were trained, from what each member's config recorded (not from the build
    script's constants, which may have moved on since)."""
    blocks = [m.get("training", {}) for m in members]
    if not blocks or not all(blocks):
        return []
    first = blocks[0]
    shared = {k: first[k] for k in ("epochs", "optimiser", "lr", "weight_decay", "batch_size")
              if k in first and all(b.get(k) == first[k] for b in blocks)}
    lines = [f"- Training: {shared.get('epochs', '?')} epochs, {shared.get('optimiser', '?')} at lr "
             f"{shared.get('lr', '?')} (weight decay {shared.get('weight_decay', '?')}), batches of "
             f"{shared.get('batch_size', '?')}."]
    cross = {b.get("cross_group_pair_weight") for b in blocks}
    if len(cross) == 1 and None not in cross:
        lines.append(f"  In the pairwise losses a pair of two different recordings counts {cross.pop()} of a pair of"
                     " versions of one recording.")
    terms = [b["order_term"] for b in blocks if b.get("order_term")]
    if terms:
        t = terms[0]
        on = ", ".join(axes[a] for a in t.get("axes", [0]))
        # The two forms differ in when they stop pushing: "reach" at a share of the label's gap,
        # "softplus" never (it only weakens once the order is right).
        when = (f"predicted less than {t.get('reach', 1)} of its label gap above a worse one" if t.get("form") == "reach"
                else "not predicted above a worse one (softplus of the wrong-way gap)")
        lines.append(f"  Members marked *order term* ({len(terms)} of {len(members)}) also pay, on {on}, when a "
                     f"better version of a crop is {when} (`training.losses.OrderTerm`, weight {t.get('weight')}, "
                     f"labels more than {t.get('min_gap')} apart).")
    return lines


def _member_line(m: dict[str, Any]) -> str:
    v = m.get("validation", {})
    return (f"  - `{m['name']}` (validation SRCC {v.get('natural', {}).get('SRCC', float('nan')):.3f}, "
            f"proxy SRCC {v.get('proxy', {}).get('SRCC', float('nan')):.3f})"
            + ("; *order term*" if m.get("training", {}).get("order_term") else ""))


def _routing_lines(manifest: dict[str, Any], routed: list[dict[str, Any]]) -> list[str]:
    """The members that score only some domains, the order term they were trained with, and the
    router that weighs them (mmmos_core.model.router)."""
    if not routed or not manifest.get("router"):
        return []
    domains = " and ".join(routed[0]["domains"])
    router = manifest["router"]
    lines = [f"- {len(routed)} more members for {domains} clips, trained on every training item with an order term "
             "set per domain:"]
    lines += [_member_line(m) for m in routed]
    term = routed[0].get("training", {}).get("order_term") or {}
    if term.get("by_domain"):
        per = "; ".join(f"{d} weight {w} reach {r}" for d, w, r in term["by_domain"])
        lines.append(f"  They pay when a better version of a crop is predicted less than the reach times its label gap "
                     f"above a worse one ({per}; `training.losses.OrderTerm.by_domain`).")
    accuracy = router.get("validation", {}).get("natural", {})
    heard = ", ".join(f"{d} {100 * accuracy[d]:.0f}%" for d in router["domains"] if d in accuracy)
    lines.append(f"- A router (a logistic regression on the clip's mean descriptors, `mmmos_core/model/router.py`) "
                 f"gives each clip the probability of {', '.join(router['domains'])}. The {domains} members share "
                 f"p({' or '.join(routed[0]['domains'])}) of the clip's {', '.join(router.get('axes', []))} and the "
                 "general members the rest"
                 + (f"; {', '.join(a for a in manifest['axes'] if a not in router.get('axes', []))} is the general "
                    "members' alone on every clip" if len(router.get("axes", [])) < len(manifest["axes"]) else "")
                 + ". A prediction records what the router heard (`domain`) and each member's share (`weight`).")
    if accuracy.get("items"):
        lines.append(f"  On the {accuracy['items']} natural validation items of one domain it names the domain of "
                     f"{100 * accuracy['accuracy']:.0f}% ({heard}).")
    return lines


def card_text(model_dir: Path, s: dict[str, Any]) -> str:
    from mmmos_core.lite.corpus import DEFAULT_LABELS_DIR
    from mmmos_core.lite.priors import compute_priors, describe_priors
    from mmmos_core.lite.real_corpus import DEFECT_SEVERITY, PRODUCTION_PERCENTILE
    from mmmos_core.lite.recipe import CONTENT_OFFSETS, DAMAGE_SHARE
    from mmmos_core.lite.sources import read_manifest
    from mmmos_core.lite.teacher import OVRL_WEIGHT, STUDIO_SCORE, TEACHER_WEIGHT

    manifest = json.loads((model_dir / "mmmos.json").read_text())
    lite = manifest["extra"]["lite"]
    general = [m for m in manifest["members"] if not m.get("domains")]
    corpus = read_manifest()  # the build recorded this manifest's sha256 (lite.corpus_manifest_sha256)
    priors = compute_priors(DEFAULT_LABELS_DIR)
    n_feat = len(manifest["encoders"]["acoustic"]["config"]["feature_names"])
    version = manifest["encoders"]["acoustic"]["config"]["version"]
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file() and p.name != "MODEL_CARD.md")
    splits = lite["source_splits"]
    sp = {k[len("speech_"):]: v for k, v in s.items() if k.startswith("speech_")}
    res = s.get("resources", {})
    today = datetime.date.today().isoformat()
    # The model this one replaced, measured on the same clips (older reports named it "lite1").
    base = s.get("previous") or s.get("lite1")
    base_name = (base or {}).get("model", "lite 1" if s.get("lite1") else "previous model")
    model_name = manifest["description"].split(":")[0]
    # Measured beside this build (`lite_card --previous`, or an old lite 1 report): the same clips.
    measured_now = ("lite1" in s and not s.get("previous")) or "measured" in (base or {})
    when = "after this build" if measured_now else "when it was built"
    # A re-pick of the corpus changes the check clips; the old report's numbers then describe
    # other recordings, and the card must not call them the same checks.
    same_clips = bool(base) and (measured_now or (base.get("clips_sha256") is not None
                                                  and base["clips_sha256"] == s.get("clips_sha256")))
    if same_clips:
        comparison = (f" The last column is the model this one replaces ({base_name}), measured on the same clips"
                      f" {when}, for comparison only.")
    elif base:
        which = ("which are not these" if base.get("clips_sha256") else
                 "which its report does not identify, so they may not be these")
        comparison = (f" The last column is the model this one replaces ({base_name}), measured when it was built"
                      f" on the check clips of that time ({base.get('recordings', '?')} recordings), {which}: for"
                      " orientation only.")
    lines = [
        f"# {model_name}: the offline default model",
        "",
        f"> {manifest['note']}",
        "",
        "MMMOS-lite is what `mmmos predict` and the app use when no other model is named. It predicts the",
        "four Audiobox-Aesthetics axes (PQ production quality, PC production complexity, CE content",
        "enjoyment, CU content usefulness, 1-10) for speech, music and sound, offline. It is not the",
        "paper's TriEnc model. It has **never seen a human rating of any of its audio**: its speech PQ",
        "targets come from DNSMOS, a judge trained on crowdsourced ratings; everything else comes from a",
        "documented recipe built on the AES human ratings' per-domain statistics.",
        "",
        "## What it is",
        "",
        f"- Encoder `acoustic`, feature version {version}: {n_feat} hand-designed descriptors at 50 frames/s",
        "  from a fixed 16 kHz rate (mmmos_core/encoders/acoustic.py), standardised with the training",
        "  items' statistics, plus a constant channel. No learned weights.",
    ]
    if "melcnn" in manifest["encoders"]:
        lines += [
            "- Encoder `melcnn`: a small CNN over a 64-band log-mel spectrogram at 50 frames/s",
            "  (mmmos_core/encoders/melcnn.py), trained first on the training items' labels",
            "  (mmmos_core/training/front_end.py) and then frozen; every member reads it beside the descriptors.",
        ]
    lines += [
        f"- {len(general)} members chosen by the MMMOS sweep (MLP / BLSTM / BLSTM(t) x 4 losses,",
        "  two-set selection on the validation sources and the synthetic proxy set), scoring every clip:",
    ]
    lines += [_member_line(m) for m in general]
    lines += _routing_lines(manifest, [m for m in manifest["members"] if m.get("domains")])
    lines += _training_lines(general, manifest["axes"])
    lines += [
        f"- Size on disk: {size / 1e6:.2f} MB (member weights stored as {manifest.get('weights_dtype', 'float32')},"
        " computed in float32).",
        "  Rebuild: `make lite-corpus && make lite-model`; check a rebuild",
        "  against these files with `python -m scripts.build_lite_model --check` (every tensor within 1e-6).",
        "",
        "## What it learned from",
        "",
        f"The real-audio corpus (`mmmos_core/lite/corpus_sources.json`, docs/lite.md): {len(corpus.records)} "
        "recordings from",
        f"{len({r.source for r in corpus.records})} sources, split by source name only (`lite/real_corpus.py`):",
        "",
        f"- **fit** ({len(splits['fit'])} sources, trained on): " + ", ".join(splits["fit"]) + ".",
        f"- **val** ({len(splits['val'])} sources, select members, never trained on): " + ", ".join(splits["val"]) + ".",
        f"- **check** ({len(splits['check'])} sources, measured once after the build, below): "
        + ", ".join(splits["check"]) + ".",
        "",
        f"Items: {', '.join(f'{k} {v}' for k, v in lite['corpus_items'].items())}. Each fit recording gives",
        "crops of 3-8 s, clean and through 1-3 transformations of known strength (white/pink/brown noise,",
        "babble of real voices, clipping, low-pass, quantisation, codec stand-in, reverberation, dropouts,",
        "very low level, tilt); mixtures of 2-4 recordings; mixtures of 2-3 dense productions (so PC keeps",
        "rising above a full production); a few synthetic tones, hiss, textures, generated music and",
        f"espeak-ng {lite['espeak_ng']} speech for what the corpus lacks. Other sample rates, random levels.",
        "",
        "## How the targets were made",
        "",
        "AES-natural human ratings (../shared/aes_labels, CC BY 4.0), per domain:",
        "",
        describe_priors(priors),
        "",
        "- **Undamaged recordings** sit on their domain's AES PQ distribution by production, stated per",
        "  source from what the package is (`real_corpus.PROFILES`): "
        + ", ".join(f"{k} = {v}th percentile" for k, v in PRODUCTION_PERCENTILE.items()) + ".",
        "  Documented defects lower them (severities: " + ", ".join(f"{k} {v:.2f}" for k, v in DEFECT_SEVERITY.items())
        + "; low-rate: the low-pass of its band).",
        "- **PQ** = 1 + (PQ0 - 1) * exp(-S), S the summed severity of every transformation (recipe.py);",
        "  noise costs by its SNR, brown noise by the SNR it sounds like (A-weighted: most of its power lies below 20 Hz).",
        f"- **Speech** ({lite['teacher_items']} training items of speech alone): PQ = "
        + ("the teacher's" if TEACHER_WEIGHT == 1.0 else f"{TEACHER_WEIGHT:g} x teacher + {1 - TEACHER_WEIGHT:g} x recipe")
        + f". The teacher is DNSMOS (speechmos, MIT): s = {OVRL_WEIGHT:.2f} OVRL +",
        f"  {1 - OVRL_WEIGHT:.2f} P808, mapped linearly so s = 1 is PQ 1 and s = {STUDIO_SCORE:g} (close-miked studio speech)",
        f"  is the AES speech 75th percentile ({priors['speech'].pq_percentiles[75]:.2f}). Why and how: lite/teacher.py.",
        "- **PC** = PC1 + k log2(layers): one voice at the AES speech PC mean, three layers at the AES music",
        "  mean; rendered MIDI ensembles count their parts; mixtures add their sources' layers.",
        "- **CE, CU** = domain mean + the AES least-squares coefficients on PQ and on PC (damage counts by",
        f"  {DAMAGE_SHARE:g} of the PQ slope: it leaves the content as it was) + a content offset (CE, CU) by kind: " + ", ".join(f"{k} {v}" for k, v in CONTENT_OFFSETS.items()) + ".",
        "",
        f"## Checks on the held-out sources ({today})",
        "",
        f"{s['recordings']} recordings of the check sources, first 10 s, transformed at their own rate",
        "(`mmmos_core/lite/split_checks.py`; `python -m scripts.lite_card`). Nothing was chosen by",
        "looking at them. Targets from issue 11." + (comparison if base else ""),
        "",
    ]
    rows = [
        ("PQ(clean) > PQ(degraded), 9 transformations", lambda x: _pct(x, "degradation"), "≥ 97%", "degradation_rate"),
        ("noise 20 > 10 > 0 dB", lambda x: _pct(x, "monotonic"), "≥ 98%", "monotonic_rate"),
        ("PC(mix of three) > each part", lambda x: _pct(x, "complexity"), "≥ 90%", "complexity_rate"),
        ("stability (rate, ±6 dB, stereo), \\|Δ\\| ≤ 0.3",
         lambda x: f"{_pct(x, 'stability')}, worst {x['stability_worst']:.3f}", "≥ 95%", "stability_rate"),
    ]
    if sp:
        rows += [
            ("speech PQ vs DNSMOS OVRL, pooled", lambda x: f"{x['speech_pooled_OVRL']:.3f}", "≥ 0.75", "speech_pooled_OVRL"),
            ("speech PQ vs DNSMOS OVRL, within clip", lambda x: f"{x['speech_within_OVRL']:.3f}", "≥ 0.75",
             "speech_within_OVRL"),
            ("speech PQ vs DNSMOS P.808, pooled", lambda x: f"{x['speech_pooled_P808']:.3f}", "≥ 0.75", "speech_pooled_P808"),
            ("speech PQ vs DNSMOS P.808, within clip", lambda x: f"{x['speech_within_P808']:.3f}", "≥ 0.75",
             "speech_within_P808"),
            ("speech PQ cost: reverb RT60 0.8 s vs white noise 10 dB",
             lambda x: f"{x['speech_pq_cost_reverb0.8']:.2f} vs {x['speech_pq_cost_noise10']:.2f}", "reverb ≥ noise",
             "reverb_minus_noise10_cost"),
        ]
    rows += [
        ("SRCC(CE, PQ) over all clips and versions", lambda x: f"{x['ce_pq_srcc']:.3f}", "≤ 0.9", "ce_pq_srcc"),
        (f"produced music ({s['produced_clips']} tracks): mean PQ", lambda x: f"{x['produced_mean_PQ']:.2f}", "≥ 6.5",
         "produced_mean_PQ"),
        (f"produced music: mean CE (AES music mean {priors['music'].mean['CE']:.2f})",
         lambda x: f"{x['produced_mean_CE']:.2f}", "within 1", "produced_CE_gap"),
        ("PC(mix of three produced tracks) > each", lambda x: _pct(x, "produced_complexity"), "≥ 90%",
         "produced_complexity_rate"),
    ]
    if base:
        column = f"{base_name}, same clips" if same_clips else f"{base_name}, its own clips"
        lines += [f"| check | {model_name} | target | met | {column} |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {value(s)} | {target} | {_mark(s, key)} | {value(base)} |" for name, value, target, key in rows]
    else:
        lines += ["| check | result | target | met |", "|---|---|---|---|"]
        lines += [f"| {name} | {value(s)} | {target} | {_mark(s, key)} |" for name, value, target, key in rows]
    lines += [
        "",
        "By transformation: " + ", ".join(f"{k} {v}" for k, v in s["degradation_by_kind"].items()) + ".",
        "By domain: " + ", ".join(f"{k} {v}" for k, v in s["degradation_by_domain"].items()) + ".",
    ]
    if sp:
        lines.append(f"DNSMOS OVRL vs P.808 on the same speech versions (pooled SRCC): {sp['judges_pooled']:.3f}; "
                     f"PQ cost of babble at 10 dB {sp['pq_cost_babble10']:.2f}, of white noise at 20 dB "
                     f"{sp['pq_cost_noise20']:.2f}.")
    lines += ["", "Undamaged held-out recordings (min / mean / max):", "",
              "| domain | PQ | PC | CE | CU |", "|---|---|---|---|---|"]
    for domain in ("speech", "music", "sound"):
        c = s.get(f"clean_{domain}")
        if c:
            lines.append(f"| {domain} | " + " | ".join("{} / {} / {}".format(*c[a]) for a in ("PQ", "PC", "CE", "CU"))
                         + " |")
    if res:
        lines += [
            "",
            "## Resources",
            "",
            f"Measured at build time ({today}, {res.get('machine', platform.machine())}, "
            f"{res.get('torch_threads')} torch thread(s), shared 2-core machine): 10 s clip `latency_s`",
            f"{res['latency_s']:.3f} s (target 0.1), `cold_start_s` {res['cold_start_s']:.2f} s (target 5),",
            f"`peak_rss_mb` {res['peak_rss_mb']:.0f} MB (target 900; fresh process: import, load, a 10 s clip,",
            "eight clips of 1-10 s). `mmmos bench --json --model lite` gives the same keys.",
        ]
    lines += [
        "",
        "## What it is not",
        "",
        "- Not trained on human ratings of its audio: absolute CE/CU are the recipe's average listener.",
        "- Blind above 6 kHz (16 kHz internal rate, descriptors stop at 6 kHz).",
        "- Content-blind beyond what level, noise, bandwidth, pitch, rhythm, harmony, rooms and density say.",
        "- Its speech judge is DNSMOS, itself a model: where DNSMOS is wrong (singing, non-speech",
        "  vocalisations), so are the targets it made.",
        "",
    ]
    return "\n".join(lines)


def write_card(model_dir: Path, summary: dict[str, Any]) -> str:
    text = card_text(model_dir, summary)
    (model_dir / "MODEL_CARD.md").write_text(text)
    return text
