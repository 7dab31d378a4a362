"""Medians over runs, durably's advantage over the peer, and the markdown table."""

from __future__ import annotations

import re
import statistics
from typing import Any

from benchmarks.workloads import BY_NAME, Metric, Workload

SYSTEM_LABELS = {"durably": "durably", "dbos": "DBOS"}


def aggregate(runs: list[dict[str, Any]], workload: Workload) -> dict[str, Any]:
    """Median, min, max and all values of each figure over the successful runs."""
    good = [r["figures"] for r in runs if "figures" in r]
    summary: dict[str, Any] = {}
    keys = {m.key for m in workload.metrics} | {k for g in good for k in g}
    for key in sorted(keys):
        values = [g[key] for g in good if isinstance(g.get(key), int | float)]
        if values:
            summary[key] = {
                "median": statistics.median(values),
                "min": min(values),
                "max": max(values),
                "all": values,
            }
    return summary


def advantage(metric: Metric, ours: float | None, peer: float | None) -> float | None:
    """How many times better durably's figure is than the peer's (> 1: durably wins)."""
    if metric.better is None or ours is None or peer is None or ours <= 0 or peer <= 0:
        return None
    return ours / peer if metric.better == "higher" else peer / ours


def _median(result: dict[str, Any], system: str, key: str) -> float | None:
    figure = result.get(system, {}).get("summary", {}).get(key)
    return None if figure is None else float(figure["median"])


def _cell(metric: Metric, result: dict[str, Any], system: str) -> str:
    if system not in result:
        return "-"
    summary = result[system].get("summary", {})
    figure = summary.get(metric.key)
    if figure is None:
        return "failed" if result[system].get("errors") else "-"
    text = metric.fmt.format(figure["median"])
    if len(figure["all"]) > 1:
        text += f" ({metric.fmt.format(figure['min'])}..{metric.fmt.format(figure['max'])})"
    return text


def table_rows(doc: dict[str, Any]) -> list[list[str]]:
    store = doc["store"]["kind"]
    peers = "dbos" in doc["systems"]
    rows = []
    for name, result in doc["workloads"].items():
        workload = BY_NAME[name]
        for i, metric in enumerate(workload.metrics):
            ours = _median(result, "durably", metric.key)
            peer = _median(result, "dbos", metric.key)
            adv = advantage(metric, ours, peer)
            met = metric.target.met(ours, adv, store) if metric.target else None
            row = [
                f"**{name}**" if i == 0 else "",
                f"{metric.label} ({metric.unit})",
                _cell(metric, result, "durably"),
            ]
            if peers:
                row += [_cell(metric, result, "dbos"), "-" if adv is None else f"{adv:.1f}x"]
            row += [
                metric.target.describe(metric.unit) if metric.target else "",
                {True: "yes", False: "**no**", None: ""}[met],
            ]
            rows.append(row)
    return rows


def markdown(doc: dict[str, Any]) -> str:
    machine = doc["machine"]
    store = doc["store"]
    peers = "dbos" in doc["systems"]
    lines = [
        f"# durably benchmarks: {store['title']}, {machine['date'][:10]}",
        "",
        f"- **Durability**: durably: {store['durability']['durably']}"
        + (f"; DBOS {doc.get('dbos_version', '')}: {store['durability']['dbos']}" if peers else ""),
        f"- **Machine**: {machine['cores']} cores ({machine['cpu']}), "
        f"{machine.get('memory_gb')} GB; {machine['os']}",
        f"- **Versions**: Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {machine.get('postgresql') or 'not used'}, durably {machine['durably']} "
        f"({machine.get('durably_commit') or 'unknown commit'})"
        + (f", DBOS {doc.get('dbos_version')}" if peers else ""),
        f"- **Runs**: {doc['runs']} per workload (median shown, min..max in brackets when more "
        "than one), each in a fresh process on a fresh store"
        + (", durably and DBOS interleaved run by run" if peers else ""),
        f"- **Machine limit** (measured before and after): {_anchor(doc)}",
        f"- **Date**: {machine['date']}; command: `{doc['command']}`",
        "",
    ]
    header = ["workload", "figure", "durably"]
    if peers:
        header += ["DBOS", "durably advantage"]
    header += ["target", "met"]
    lines.append("| " + " | ".join(header) + " |")
    align = ["---", "---", "---:"] + (["---:", "---:"] if peers else []) + ["---", "---"]
    lines.append("| " + " | ".join(align) + " |")
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(doc)]
    lines += ["", "Workloads (payload: an int; the activity is `add_one(x) = x + 1`; every "]
    lines[-1] += "result is checked):"
    lines.append("")
    for name in doc["workloads"]:
        workload = BY_NAME[name]
        note = f" {workload.peer_notes}." if peers and workload.peer_notes else ""
        lines.append(f"- **{name}**: {workload.summary}.{note}")
    failures = [
        (name, system, error)
        for name, result in doc["workloads"].items()
        for system, data in result.items()
        for error in data.get("errors", [])
    ]
    if failures:
        lines += ["", "Failed runs:", ""]
        lines += [f"- {name} on {system}: {_gist(error)}" for name, system, error in failures]
    return "\n".join(lines) + "\n"


def _gist(error: str) -> str:
    """The failure's first line (exit code, log path) and its last exception line."""
    head = re.match(r"(exit -?\d+ \(full output: [^)]*\)|timed out after \d+ s)", error)
    found = re.findall(r"^.*\b\w+(?:Error|Exception)\b.*$", error, flags=re.M)
    tail = found[-1].strip() if found else error.strip().splitlines()[-1]
    return f"{head.group(1) if head else 'failed'}: `{tail[:240]}`"


def _anchor(doc: dict[str, Any]) -> str:
    anchor = {k: v for k, v in (doc.get("anchor") or {}).items() if v is not None}
    if not anchor:
        return "not measured"
    store = doc["store"]
    what = (
        "single-row PostgreSQL commits/s on one connection"
        if store["kind"] == "postgres"
        else f"single-row {store['title']} commits/s on the scratch disk"
    )
    return what + ": " + ", ".join(f"{when} {rate:,.0f}" for when, rate in anchor.items())
