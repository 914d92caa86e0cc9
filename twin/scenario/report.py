"""Scenario results for people (a table) and for a bench's CI (JUnit XML).

:func:`format_branch` shows a what-if branch's result beside its parent's: which triggers and
expectations the other decision changed.

JUnit: one ``<testsuite>`` per scenario, one ``<testcase>`` per expectation (classname
``scenario.<name>``), a ``<failure>`` whose message is the rule and whose text gives the measured
values; one more testcase, ``commands accepted``, fails if the command path refused any of the
scenario's actions. Time is the run's wall time, on the suite.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from twin.scenario.runner import ScenarioResult


def format_result(r: ScenarioResult) -> str:
    lines = [f"scenario {r.name} ({r.source}), seed {r.seed}: "
             f"{r.duration_s / 3600:.2f} h simulated in {r.wall_s:.2f} s, "
             f"{r.frames_recorded} frames recorded, {r.frames_checked} checked"]
    for name, times in r.fired.items():
        lines.append(f"  trigger {name}: " + (", ".join(f"fired at {t:g} s" for t in times)
                                               if times else "did not fire"))
    refused = [a for a in r.actions if not a.ok]
    for a in refused:
        lines.append(f"  REFUSED {a.key} at {a.t_s:g} s: {a.status}: {a.message}")
    for e in r.expectations:
        mark = "PASS" if e.passed else "FAIL"
        lines.append(f"  {mark}  {e.name}: {e.rule} — {e.measured}")
    n_fail = sum(not e.passed for e in r.expectations)
    verdict = "passed" if r.passed else (
        f"FAILED ({n_fail} of {len(r.expectations)} expectations"
        + (f", {len(refused)} commands refused" if refused else "") + ")")
    documented = "" if r.as_documented else f" — documented outcome is {r.outcome!r}"
    if not r.passed and r.outcome == "fail":
        documented = " — as documented: this scenario fails on purpose"
    lines.append(f"  {verdict}{documented}")
    return "\n".join(lines)


def format_branch(r: ScenarioResult, parent: Mapping[str, Any] | None) -> str:
    """A branch's result (:func:`twin.replay.fork` of a scenario run), with the parent's stored
    result (``meta.extra["scenario_result"]``) beside each trigger and expectation."""
    fork = f" forked at {r.fork_t_s:g} s" if r.fork_t_s is not None else ""
    lines = [f"scenario {r.name} on the branch{fork}, seed {r.seed}: judged on the branch "
             f"({r.duration_s / 3600:.2f} h, {r.frames_checked} frames checked)"]
    parent = parent or {}
    p_fired = parent.get("fired") or {}
    p_exp = {e.get("name"): e for e in parent.get("expectations") or []}

    def fired(times: Sequence[float]) -> str:
        return ", ".join(f"fired at {t:g} s" for t in times) if times else "did not fire"

    for name, times in r.fired.items():
        was = f" (parent: {fired(p_fired[name])})" if name in p_fired else ""
        lines.append(f"  trigger {name}: {fired(times)}{was}")
    for a in (a for a in r.actions if not a.ok):
        lines.append(f"  REFUSED {a.key} at {a.t_s:g} s: {a.status}: {a.message}")
    for e in r.expectations:
        mark = "PASS" if e.passed else "FAIL"
        pe = p_exp.get(e.name)
        was = ""
        if pe is not None:
            was = f"  [parent: {'PASS' if pe.get('passed') else 'FAIL'}]"
            if bool(pe.get("passed")) != e.passed:
                was += " ← changed"
        lines.append(f"  {mark}  {e.name}: {e.rule} — {e.measured}{was}")
    verdict = "branch passed" if r.passed else (
        f"branch FAILED ({sum(not e.passed for e in r.expectations)} of "
        f"{len(r.expectations)} expectations)")
    if "passed" in parent:
        verdict += f"; the parent {'passed' if parent['passed'] else 'failed'}"
        if bool(parent["passed"]) != r.passed:
            verdict += (": this decision would have passed" if r.passed
                        else ": this decision would have failed")
    lines.append(f"  {verdict}")
    return "\n".join(lines)


def junit_tree(results: Sequence[ScenarioResult]) -> ET.ElementTree:
    root = ET.Element("testsuites")
    for r in results:
        refused = [a for a in r.actions if not a.ok]
        cases = len(r.expectations) + 1
        failures = sum(not e.passed for e in r.expectations) + bool(refused)
        suite = ET.SubElement(root, "testsuite", name=r.name, tests=str(cases),
                              failures=str(failures), errors="0", skipped="0",
                              time=f"{r.wall_s:.3f}")
        props = ET.SubElement(suite, "properties")
        for k, v in (("source", r.source), ("seed", str(r.seed)),
                     ("duration_s", f"{r.duration_s:g}"), ("documented_outcome", r.outcome)):
            ET.SubElement(props, "property", name=k, value=v)
        for e in r.expectations:
            case = ET.SubElement(suite, "testcase", classname=f"scenario.{r.name}",
                                 name=e.name, time="0")
            if not e.passed:
                fail = ET.SubElement(case, "failure", message=f"expected {e.rule}",
                                     type="ExpectationFailed")
                fail.text = f"expected {e.rule}\nmeasured {e.measured}" + (
                    f"\nnote: {e.note}" if e.note else "")
            else:
                ET.SubElement(case, "system-out").text = f"measured {e.measured}"
        case = ET.SubElement(suite, "testcase", classname=f"scenario.{r.name}",
                             name="commands accepted", time="0")
        if refused:
            fail = ET.SubElement(case, "failure", message=f"{len(refused)} commands refused",
                                 type="CommandRefused")
            fail.text = "\n".join(f"{a.key} at {a.t_s:g} s: {a.command} {a.args}: {a.status}: "
                                  f"{a.message}" for a in refused)
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(results: Sequence[ScenarioResult], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    junit_tree(results).write(path, encoding="utf-8", xml_declaration=True)
    return path
