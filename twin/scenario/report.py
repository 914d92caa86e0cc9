"""Scenario results for people (a table) and for a bench's CI (JUnit XML).

JUnit: one ``<testsuite>`` per scenario, one ``<testcase>`` per expectation (classname
``scenario.<name>``), a ``<failure>`` whose message is the rule and whose text gives the measured
values; one more testcase, ``commands accepted``, fails if the command path refused any of the
scenario's actions. Time is the run's wall time, on the suite.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

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
