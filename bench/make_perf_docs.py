"""Regenerate the performance pages of the documentation from a benchmark run on this machine.

    python bench/make_perf_docs.py                          # every suite, full timing schedule
    python bench/make_perf_docs.py --suites quick --quick   # a short run (validation only)
    python bench/make_perf_docs.py --from-json              # re-render the pages, no timing

For each suite it runs fastconv's own benchmark command, unchanged,

    python -m fastconv.cli bench --suite SUITE --json .../SUITE.json --plot .../SUITE.png

(every available implementation and installed peer, interleaved, best call; see README
"Benchmarks"), then writes

    docs/performance/<machine>.md          header (CPU, ISA, measured peak, versions, date, the
                                           command), per suite a roofline and a table, and the
                                           rows where fastconv loses
    docs/performance/<machine>/SUITE.json  the raw results (fastconv bench --json)
    docs/performance/<machine>/SUITE.png   the roofline (fastconv bench --plot)
    docs/performance/<machine>/summary.json  what the index needs
    docs/performance/index.md              every machine's latest page and where fastconv loses

<machine> is the CPU model and the active ISA (``amd-epyc-avx512``): a run on the same machine
replaces its page; other machines' pages stay. The history is in git.

"Loses" is read from the data: a row where the fastest fastconv implementation takes longer
than the fastest peer (time ratio > 1).
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import re
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "docs", "performance")
# The model tables of fastconv.testing.SUITES plus the quick suite, in the order a reader meets
# them: the quick overview first, then dense CNNs, depthwise, large kernels, signals, filters.
DEFAULT_SUITES = ("quick", "resnet50", "vgg16", "mobilenet_v2", "shufflenet_v1",
                  "squeezenet1_1", "convnext_dw", "large_kernel", "audio", "image_filter")
# distribution names of the peers (and of what runs them), for the page's version line
PEER_DISTRIBUTIONS = (("torch", "torch"), ("onnxruntime", "onnxruntime"), ("onnx", "onnx"),
                      ("scipy", "scipy"), ("opencv", "opencv-python-headless"),
                      ("opencv", "opencv-python"), ("numba", "numba"), ("numpy", "numpy"),
                      ("matplotlib", "matplotlib"))


# ---- the machine ------------------------------------------------------------------------------
def machine_slug() -> str:
    """``<cpu model>-<active ISA>``, lower case, [a-z0-9-] only."""
    from fastconv.backends import c
    from fastconv.machine import cpu_model
    isa = "noc" if c.unavailable_reason() else c.active_isa()
    model = re.sub(r"\((r|tm)\)|\bcpu\b|@.*$|\bprocessor\b|\d+-core", " ", cpu_model().lower())
    slug = re.sub(r"[^a-z0-9]+", "-", f"{model} {isa}").strip("-")
    return re.sub(r"-+", "-", slug)


def versions() -> dict[str, str]:
    """fastconv (with the git commit, when run from a clone) and every peer installed."""
    import fastconv
    out = {"fastconv": fastconv.__version__}
    commit = git_commit()
    if commit:
        out["fastconv"] += f" (git {commit})"
    out["python"] = sys.version.split()[0]
    for label, dist in PEER_DISTRIBUTIONS:
        if label in out:
            continue
        try:
            out[label] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT, text=True,
                             capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True).stdout.strip()
        return rev + ("+uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return ""


# ---- running ----------------------------------------------------------------------------------
# --isa: the bench process caps the C kernels first (fastconv.backends.c.set_isa), then runs the
# unchanged command line
ISA_BOOT = ("import sys; import fastconv.backends.c as c; c.set_isa(sys.argv[1]); "
            "from fastconv.cli import main; sys.exit(main(sys.argv[2:]))")


def bench_command(suite: str, data_dir: str, args) -> list[str]:
    cmd = [sys.executable, "-m", "fastconv.cli"]
    if args.isa:
        cmd = [sys.executable, "-c", ISA_BOOT, args.isa]
    cmd += ["bench", "--suite", suite, "--quiet",
            "--json", os.path.join(data_dir, f"{suite}.json"),
            "--plot", os.path.join(data_dir, f"{suite}.png")]
    if args.quick:
        cmd.append("--quick")
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if args.compare:
        cmd += ["--compare", args.compare]
    if args.impl:
        cmd += ["--impl", *args.impl]
    return cmd


def run_suites(suites, data_dir: str, args) -> None:
    os.makedirs(data_dir, exist_ok=True)
    for suite in suites:
        cmd = bench_command(suite, data_dir, args)
        print(f"make_perf_docs: {' '.join(shlex.quote(c) for c in cmd)}", flush=True)
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=ROOT)
        print(f"make_perf_docs: {suite} took {time.perf_counter() - start:.0f} s", flush=True)


# ---- reading the results ------------------------------------------------------------------------
def load(data_dir: str, suites) -> list[dict]:
    docs = []
    for suite in suites:
        path = os.path.join(data_dir, f"{suite}.json")
        if not os.path.exists(path):
            raise SystemExit(f"make_perf_docs: {path} is missing (run without --from-json)")
        with open(path) as f:
            docs.append(json.load(f))
    return docs


def layer_rows(results: list[dict]) -> list[dict]:
    """One row per layer: GFLOP/s per contender, fastconv's best, the fastest peer, and the time
    ratio t(fastconv best) / t(fastest peer) (> 1: fastconv loses; same flops, so it is the
    inverse GFLOP/s ratio)."""
    layers: dict[str, dict] = {}
    for r in results:
        row = layers.setdefault(r["layer"], dict(layer=r["layer"], problem=r["problem"],
                                                 flops=r["flops"], count=r.get("count", 1),
                                                 rates={}, kinds={}, skipped={}))
        row["kinds"][r["implementation"]] = r["kind"]
        if r.get("gflops") is not None:
            row["rates"][r["implementation"]] = r["gflops"]
        elif r.get("skipped"):
            row["skipped"][r["implementation"]] = r["skipped"]
    rows = []
    for row in layers.values():
        ours = {n: g for n, g in row["rates"].items() if row["kinds"][n] == "fastconv"}
        theirs = {n: g for n, g in row["rates"].items() if row["kinds"][n] == "peer"}
        row["ours"] = max(ours, key=ours.get) if ours else None
        row["peer"] = max(theirs, key=theirs.get) if theirs else None
        row["ratio"] = (theirs[row["peer"]] / ours[row["ours"]]
                        if row["ours"] and row["peer"] else None)
        rows.append(row)
    return rows


def fmt_rate(g) -> str:
    if g is None:
        return "-"
    return f"{g:.0f}" if g >= 100 else f"{g:.3g}"


def geomean(values) -> float | None:
    values = [v for v in values if v]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def suite_section(suite: str, doc: dict, slug: str) -> tuple[str, list[dict]]:
    rows = layer_rows(doc["results"])
    contenders = list(dict.fromkeys(r["implementation"] for r in doc["results"]
                                    if r.get("gflops") is not None))
    contenders.sort(key=lambda n: doc_kind(doc, n) == "peer")  # ours first, then the peers
    lines = [f"### {suite}", "",
             f"![roofline of the {suite} suite]({slug}/{suite}.png)", "",
             "GFLOP/s (2 x multiply-adds of the direct definition / best call); **bold**: the "
             "fastest of the row; *t ratio* = time of fastconv's best / time of the fastest "
             "peer (> 1: fastconv loses).", ""]
    # a zero-width space after "algo:" lets a narrow column break "im2col:numba" there
    header = ["layer", "GFLOP"] + [f"{n} (peer)" if doc_kind(doc, n) == "peer" else
                                   n.replace(":", ":\u200b") for n in contenders]
    header += ["fastconv best", "t ratio"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    for row in rows:
        fastest = max(row["rates"], key=row["rates"].get) if row["rates"] else None
        cells = [f"`{row['layer']}`", fmt_rate(row["flops"] / 1e9)]
        for n in contenders:
            text = fmt_rate(row["rates"].get(n))
            cells.append(f"**{text}**" if n == fastest else text)
        cells.append(row["ours"] or "-")
        ratio = row["ratio"]
        cells.append("-" if ratio is None else
                     (f"**{ratio:.2f}**" if ratio > 1 else f"{ratio:.2f}"))
        lines.append("| " + " | ".join(cells) + " |")
    geo = geomean(r["ratio"] for r in rows)
    lines.append("")
    if geo is not None:
        lost = sum(1 for r in rows if r["ratio"] and r["ratio"] > 1)
        compared = sum(1 for r in rows if r["ratio"])
        lines.append(f"Geometric mean of the time ratio over {compared} layer(s): "
                     f"**{geo:.2f}**; fastconv is slower than the fastest peer on {lost} of "
                     f"them.")
        lines.append("")
    total = net_total(rows)
    if total:
        lines += [total, ""]
    skipped = sorted({(n, why) for r in rows for n, why in r["skipped"].items()})
    if skipped:
        reasons: dict[str, set] = {}
        for n, why in skipped:
            reasons.setdefault(n, set()).add(why)
        lines.append("Not timed on some layers: " + "; ".join(
            f"{n} ({' / '.join(sorted(w))})" for n, w in sorted(reasons.items())) + ".")
        lines.append("")
    for row in rows:
        row["suite"] = suite
    return "\n".join(lines), rows


def net_total(rows: list[dict]) -> str:
    """The whole net's time: each layer's best call x how often it occurs in the net, for
    fastconv's best implementation per layer and for each peer, over the layers all of them
    ran ("" when no peer ran)."""
    peers = sorted({n for r in rows for n, k in r["kinds"].items()
                    if k == "peer" and n in r["rates"]})
    if not peers:
        return ""
    ours, theirs, count = 0.0, dict.fromkeys(peers, 0.0), 0
    for r in rows:
        if not r["ours"] or any(p not in r["rates"] for p in peers):
            continue
        seconds = lambda name: r["flops"] / (r["rates"][name] * 1e9)  # noqa: E731
        ours += r["count"] * seconds(r["ours"])
        for p in peers:
            theirs[p] += r["count"] * seconds(p)
        count += r["count"]
    if not count:
        return ""
    return (f"Whole net ({count} convolutions, each layer's best call times its count): "
            f"fastconv {ours * 1e3:.2f} ms; " + "; ".join(
                f"{p} {t * 1e3:.2f} ms (fastconv / {p}: **{ours / t:.2f}**)"
                for p, t in theirs.items()) + ".")


def doc_kind(doc: dict, name: str) -> str:
    for r in doc["results"]:
        if r["implementation"] == name:
            return r["kind"]
    return "fastconv"


# ---- writing ----------------------------------------------------------------------------------
def losses_table(rows: list[dict], link: str = "") -> list[str]:
    lost = sorted((r for r in rows if r["ratio"] and r["ratio"] > 1),
                  key=lambda r: -r["ratio"])
    if not any(r["ratio"] for r in rows):
        return ["No layer was timed with a peer beside fastconv, so nothing to compare."]
    if not lost:
        return ["fastconv's best implementation is at least as fast as the fastest peer on "
                "every layer compared."]
    lines = ["| suite | layer | fastconv best | fastest peer | t ratio |",
             "|---|---|---|---|---:|"]
    for r in lost:
        lines.append(f"| {r['suite']} | `{r['layer']}` | {r['ours']} "
                     f"({fmt_rate(r['rates'][r['ours']])} GFLOP/s) | {r['peer']} "
                     f"({fmt_rate(r['rates'][r['peer']])} GFLOP/s) | {r['ratio']:.2f} |")
    return lines


def write_machine_page(out_dir: str, slug: str, suites, docs, command: str, info: dict) -> dict:
    first = docs[0]
    m, settings = first["machine"], first["settings"]
    quick = any(d["settings"].get("quick") for d in docs)
    capped = bool(m.get("cpu_isas")) and m.get("isa") != m["cpu_isas"][-1]
    created = min(d["created"] for d in docs)
    sections, all_rows = [], []
    for suite, doc in zip(suites, docs):
        text, rows = suite_section(suite, doc, slug)
        sections.append(text)
        all_rows += rows
    peak = (f"{m['fma_peak_gflops']:.1f} GFLOP/s float32 FMA, {m['bandwidth_gbs']:.1f} GB/s "
            f"triad" if "fma_peak_gflops" in m else "not measured (C extension not built)")
    isa = m.get("isa", "-")
    ver = info["versions"]
    lost = [r for r in all_rows if r["ratio"] and r["ratio"] > 1]
    compared = [r for r in all_rows if r["ratio"]]
    geo = geomean(r["ratio"] for r in compared)
    title = f"{m['cpu']} ({isa}, {settings['threads']} threads)"
    # the tables are wide: the theme's right-hand sidebar is left out on this page (docs/conf.py
    # leaves out the left-hand one on every performance page)
    lines = ["---", "html_theme.sidebar_secondary.remove: true", "---", "", f"# {title}", ""]
    if quick:
        lines += ["```{note}", "This page comes from the short timing schedule (`--quick`: two "
                  "rounds of bursts per contender), a check that the page generator works, "
                  "not a final measurement.", "```", ""]
    lines += [
        "| | |", "|---|---|",
        f"| CPU | {m['cpu']} ({m.get('machine', '')}) |",
        f"| ISA | {isa} (the CPU reports {', '.join(m.get('cpu_isas', [])) or '-'})"
        + (f"; fastconv's C kernels capped at {isa} (`--isa`), the peers not capped |"
           if capped else " |"),
        f"| measured peak | {peak}, {settings['threads']} thread(s) (`fastconv.machine.peak`) |",
        f"| threads | {settings['threads']} for fastconv and every peer |",
        f"| timing | {'quick' if quick else 'full'} schedule: "
        f"{settings['timing']['rounds']} rounds of a burst (at least "
        f"{settings['timing']['burst']} calls and 5 ms) per contender, interleaved, best call |",
        "| versions | " + ", ".join(f"{k} {v}" for k, v in ver.items()) + " |",
        f"| date | {created[:16].replace('T', ' ')} UTC |",
        *([f"| load average | {info['load']} |"] if info.get("load", "-") != "-" else []),
        f"| command | `{command}` |",
        "",
        f"Each suite below is one `fastconv bench --suite SUITE{' --quick' if quick else ''} "
        f"--json ... --plot ...` run by `bench/make_perf_docs.py`; the raw results (every "
        f"timed call) are in `docs/performance/{slug}/SUITE.json`.",
        "",
        "## Where fastconv loses",
        "",
    ]
    if geo is not None:
        lines += [f"Over {len(compared)} layers, the geometric mean of t(fastconv best) / "
                  f"t(fastest peer) is **{geo:.2f}**; fastconv is slower on {len(lost)} of "
                  f"them, slowest first:", ""]
    lines += losses_table(all_rows) + ["", "## Suites", ""]
    lines += sections
    with open(os.path.join(out_dir, f"{slug}.md"), "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    summary = dict(slug=slug, title=title, cpu=m["cpu"], isa=isa, threads=settings["threads"],
                   created=created, quick=quick, command=command, geomean=geo,
                   compared=len(compared), suites=list(suites), versions=info["versions"],
                   load=info.get("load", "-"),
                   losses=[dict(suite=r["suite"], layer=r["layer"], ours=r["ours"],
                                peer=r["peer"], ratio=r["ratio"]) for r in
                           sorted(lost, key=lambda r: -r["ratio"])])
    with open(os.path.join(out_dir, slug, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return summary


def write_index(out_dir: str) -> None:
    summaries = []
    for name in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, name, "summary.json")
        if os.path.isfile(path):
            with open(path) as f:
                summaries.append(json.load(f))
    lines = ["# Performance", "",
             "Measured pages, one per machine, each the latest run there, regenerated by "
             "`python bench/make_perf_docs.py` (the command is at the top of each page); "
             "earlier runs are in git history. Why each algorithm wins where it does: "
             "[performance design notes](design.md).", "",
             "GFLOP/s count the direct definition's 2 x multiply-adds whatever the algorithm; "
             "peers run in the same process, interleaved with fastconv's implementations, "
             "on the same threads.", "",
             "| machine | ISA | threads | date | layers | geomean t ratio | fastconv slower on |",
             "|---|---|---:|---|---:|---:|---:|"]
    for s in summaries:
        geo = "-" if s["geomean"] is None else f"{s['geomean']:.2f}"
        lines.append(f"| [{s['cpu']}]({s['slug']}.md){' (quick run)' if s['quick'] else ''} "
                     f"| {s['isa']} | {s['threads']} | {s['created'][:10]} | {s['compared']} "
                     f"| {geo} | {len(s['losses'])} |")
    lines += ["", "*t ratio* = time of fastconv's fastest implementation / time of the "
              "fastest peer on the same layer: below 1 fastconv is faster.", ""]
    lines += ["## Where fastconv loses", ""]
    if not summaries:
        lines.append("No machine measured yet.")
    for s in summaries:
        verdict = (f"slower than the fastest peer on {len(s['losses'])} of {s['compared']} "
                   f"layers:" if s["losses"] else
                   "never slower than the fastest peer." if s["compared"] else
                   "no layer compared with a peer.")
        lines += [f"**{s['cpu']} ({s['isa']}, {s['threads']} threads)**: {verdict}", ""]
        for loss in s["losses"]:
            lines.append(f"- {loss['suite']} `{loss['layer']}`: {loss['ours']} takes "
                         f"{loss['ratio']:.2f}x the time of {loss['peer']}")
        lines.append("")
    lines += ["```{toctree}", ":hidden:", ":maxdepth: 1", ""]
    lines += [s["slug"] for s in summaries] + ["design", "```", ""]
    with open(os.path.join(out_dir, "index.md"), "w") as f:
        f.write("\n".join(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default=",".join(DEFAULT_SUITES),
                        help="comma-separated suites (default: %(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="short timing schedule (a check of this script, not figures)")
    parser.add_argument("--threads", type=int, help="threads (default: fastconv's default)")
    parser.add_argument("--compare", help="peers, as fastconv bench --compare (default: all)")
    parser.add_argument("--impl", nargs="+", help="implementations, as fastconv bench --impl")
    parser.add_argument("--isa", choices=("scalar", "avx2", "avx512"),
                        help="cap fastconv's C kernels at this ISA (an AVX2 page on an AVX-512 "
                             "machine); the peers are not capped")
    parser.add_argument("--out", default=DEFAULT_OUT, help="default: docs/performance")
    parser.add_argument("--slug", help="page name (default: CPU model and ISA)")
    parser.add_argument("--from-json", action="store_true",
                        help="no timing: re-render the pages from the JSON already there")
    args = parser.parse_args(argv)
    suites = [s.strip() for s in args.suites.split(",") if s.strip()]
    if args.isa:
        from fastconv.backends import c
        c.set_isa(args.isa)  # the page's name and header follow the capped ISA
    slug = args.slug or machine_slug()
    data_dir = os.path.join(args.out, slug)
    if args.from_json:
        summary_path = os.path.join(data_dir, "summary.json")
        with open(summary_path) as f:
            old = json.load(f)
        command, suites, ver = old["command"], old["suites"], old["versions"]
        load_text = old.get("load", "-")
    else:
        shown = [a for a in (argv if argv is not None else sys.argv[1:])]
        command = " ".join(["python bench/make_perf_docs.py"] + [shlex.quote(a) for a in shown])
        ver = versions()
        before = os.getloadavg()[0]
        run_suites(suites, data_dir, args)
        # other jobs on the machine lower every figure: the page says how busy it was
        load_text = (f"{before:.1f} before the run, {os.getloadavg()[0]:.1f} after (1-minute; "
                     f"{os.cpu_count()} logical CPUs)")
    docs = load(data_dir, suites)
    summary = write_machine_page(args.out, slug, suites, docs, command,
                                 dict(versions=ver, load=load_text))
    write_index(args.out)
    print(f"make_perf_docs: wrote {os.path.join(args.out, slug + '.md')} "
          f"({summary['compared']} layers, fastconv slower on {len(summary['losses'])}) and "
          f"{os.path.join(args.out, 'index.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
