"""Rebuild the MMMOS-lite real-audio corpus from its manifest into a cache folder.

    python -m scripts.build_lite_corpus                  # build into $MMMOS_HOME/lite-corpus
    python -m scripts.build_lite_corpus --out DIR        # somewhere else
    python -m scripts.build_lite_corpus --check-manifest # only check the manifest's own rules
    python -m scripts.build_lite_corpus --write-manifest --unpacked DIR   # maintainers: re-pick

Needs Debian's apt (``apt-get download`` as root, ``dpkg -x``) for the packages and the
``fluidsynth`` program (``apt-get install fluidsynth``) for the rendered MIDI ensembles;
decoding uses soundfile (libsndfile >= 1.1 for Opus and MP3). Downloaded .deb files are
kept in ``<out>/debs`` so that a second build needs no network; extraction folders are
temporary. Every missing, undecodable or mismatching file is named in the report; the build
goes on past them and exits 1 if any recording is absent (see mmmos_core/lite/corpus_build.py).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmmos_core.lite.corpus_build import DebianStore, DirectoryStore, build_corpus
from mmmos_core.lite.sources import MANIFEST_PATH, check_manifest, corpus_dir, read_manifest, write_manifest
from mmmos_core.paths import shared_audio_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=None, help="corpus folder (default $MMMOS_HOME/lite-corpus)")
    ap.add_argument("--manifest", type=Path, default=MANIFEST_PATH)
    ap.add_argument("--check-manifest", action="store_true", help="check the manifest's rules and stop")
    ap.add_argument("--write-manifest", action="store_true", help="re-pick the recordings and rewrite the manifest")
    ap.add_argument("--unpacked", type=Path, default=None,
                    help="packages already unpacked as DIR/<package> (instead of apt-get download + dpkg -x)")
    args = ap.parse_args(argv)
    out = args.out or corpus_dir()

    if args.write_manifest:
        from mmmos_core.lite.source_picks import assemble, pick_debian, pick_shared

        store = DirectoryStore(args.unpacked) if args.unpacked else DebianStore(out / "debs")
        manifest = assemble(pick_debian(store) + pick_shared(shared_audio_dir()))
        if problems := check_manifest(manifest):
            print("\n".join(problems), file=sys.stderr)
            return 1
        write_manifest(manifest, args.manifest)
        print(f"wrote {len(manifest.records)} records to {args.manifest}")
        return 0

    manifest = read_manifest(args.manifest)
    if problems := check_manifest(manifest):
        print(f"{args.manifest}: {len(problems)} problems:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    if args.check_manifest:
        print(f"{args.manifest}: {len(manifest.records)} records, rules hold")
        return 0
    store = DirectoryStore(args.unpacked) if args.unpacked else DebianStore(out / "debs")
    report = build_corpus(manifest.records, store, out, progress=lambda s: print(s, flush=True))
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
