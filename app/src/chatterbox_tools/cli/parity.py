"""chatterbox-parity: prove Titan speaks like Panda, and keep proving it.

  chatterbox-parity bench     ...   latency/RTF/GPU memory (shim-bench; --url for an endpoint)
  chatterbox-parity baseline  --url URL --out DIR            Panda's answers for the 10 sentences
  chatterbox-parity contract  record --url URL --out FILE    Panda's exact response contract
  chatterbox-parity contract  check  --url URL --record FILE every difference from the record
  chatterbox-parity identity  A B --json FILE [--html FILE]  speaker similarity, pairwise
  chatterbox-parity verdict   ...                            the canary's dated verdict

The token comes from --token-file or CHATTERBOX_TOKEN, never from the command line.
Exit status: 0 pass, 1 a check failed (drift, a contract difference), 2 bad usage or unreachable.
docs/PARITY.md has the whole procedure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

from chatterbox_panda_kit import contract_spec
from chatterbox_panda_kit.exchange import ExchangeError, read_token
from chatterbox_tools.cli import bench


def _token_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token-file", type=Path, help="file holding the token (default: CHATTERBOX_TOKEN)")


def _write_json(path: Path | None, data: Any) -> None:
    text = json.dumps(data, indent=2) + "\n"
    if path is None:
        sys.stdout.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def cmd_baseline(args: argparse.Namespace) -> int:
    from chatterbox_tools.parity.baseline import BaselineError, capture_baseline

    sentences = bench.default_sentences()
    if args.sentences:
        sentences = [s.strip() for s in args.sentences.read_text(encoding="utf-8").splitlines() if s.strip()]
    try:
        folder = capture_baseline(
            args.url, read_token(args.token_file), sentences, args.out, voice=args.voice, seed=args.seed
        )
    except (ExchangeError, BaselineError) as error:
        print(f"chatterbox-parity baseline: {error}", file=sys.stderr)
        return 2
    print(f"baseline of {len(sentences)} utterances from {args.url} in {folder}")
    return 0


def cmd_contract(args: argparse.Namespace) -> int:
    return contract_spec.run(args)


def cmd_identity(args: argparse.Namespace) -> int:
    from chatterbox_tools.parity.identity import IdentityError, score_folders, write_html

    try:
        report = score_folders(args.a, args.b)
    except IdentityError as error:
        print(f"chatterbox-parity identity: {error}", file=sys.stderr)
        return 2
    _write_json(args.json, report)
    if args.html:
        write_html(report, args.html)
    print(
        f"identity over {report['n']} pairs: mean {report['mean']:.4f}, min {report['min']:.4f}, "
        f"spread {report['spread']:.4f}",
        file=sys.stderr,
    )
    return 0


def cmd_verdict(args: argparse.Namespace) -> int:
    from chatterbox_tools.parity import verdict as v

    try:
        thresholds = v.load_thresholds(args.thresholds)
        bench_report = json.loads(args.bench.read_text(encoding="utf-8"))
        identity = json.loads(args.identity.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        print(f"chatterbox-parity verdict: {error}", file=sys.stderr)
        return 2
    primary = bench_report["modes"].get("http") or bench_report["modes"]["in_process"]
    measured = {
        "image": args.image,
        "weights_ok": args.weights_ok == "true",
        "weights_detail": args.weights_detail,
        "freeze_sha256": args.freeze_sha256,
        "driver": args.driver or None,
        "voice_sha256": args.voice_sha256 or None,
        "bench": {
            "p50_s": primary["latency_s"]["p50"],
            "p95_s": primary["latency_s"]["p95"],
            "rtf_p50": primary["rtf"]["p50"],
            "runs": bench_report["runs"],
            "sentences": bench_report["sentences"],
        },
        "identity": {k: identity[k] for k in ("mean", "min", "spread", "n", "encoder")},
    }
    now = dt.datetime.now(dt.UTC)
    decided = v.decide(measured, thresholds, v.last_clean(args.verdicts), now)
    path = v.write_verdict(args.verdicts, decided)
    print(f"{decided['verdict']} -> {path}")
    for trigger in decided["triggers"]:
        print(f"  trigger: {trigger}")
    for failure in decided["failures"]:
        print(f"  FAILED: {failure}")
    return 1 if decided["failures"] else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatterbox-parity", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("bench", help="latency, RTF and GPU memory (shim-bench's options)", add_help=False)

    baseline = sub.add_parser("baseline", help="capture an endpoint's answers to the benchmark sentences")
    baseline.add_argument("--url", required=True)
    baseline.add_argument("--out", type=Path, required=True, help="a dated folder is created inside")
    baseline.add_argument("--voice")
    baseline.add_argument("--seed", type=int, help="ask for seed+index per sentence (if the endpoint accepts it)")
    baseline.add_argument("--sentences", type=Path)
    _token_option(baseline)

    contract = sub.add_parser("contract", help="record an endpoint's response contract, or check against one")
    contract_spec.add_arguments(contract)

    identity = sub.add_parser("identity", help="speaker similarity between two folders of WAVs")
    identity.add_argument("a", type=Path)
    identity.add_argument("b", type=Path)
    identity.add_argument("--json", type=Path, help="default: stdout")
    identity.add_argument("--html", type=Path, help="also write a listening page")

    verdict = sub.add_parser("verdict", help="the canary's verdict from its measurements")
    verdict.add_argument("--bench", type=Path, required=True, help="shim-bench JSON")
    verdict.add_argument("--identity", type=Path, required=True, help="identity JSON")
    verdict.add_argument("--thresholds", type=Path, required=True, help="thresholds JSON")
    verdict.add_argument("--verdicts", type=Path, required=True, help="folder of dated verdicts")
    verdict.add_argument("--image", required=True)
    verdict.add_argument("--weights-ok", choices=("true", "false"), required=True)
    verdict.add_argument("--weights-detail", default="")
    verdict.add_argument("--freeze-sha256", required=True)
    verdict.add_argument("--driver", default="")
    verdict.add_argument("--voice-sha256", default="")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "bench":
        return bench.main(argv[1:])
    args = build_parser().parse_args(argv)
    handlers = {"baseline": cmd_baseline, "contract": cmd_contract, "identity": cmd_identity, "verdict": cmd_verdict}
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
