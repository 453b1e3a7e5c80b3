"""`fastip info`: a bundle's manifest as readable lines (weights, validation, INT8 candidates, versions)."""

from __future__ import annotations

import json
import sys

from fastip.manifest import Manifest

UNTRAINED_WARNING = ("{root} holds an UNTRAINED {model} (exported with --weights none): its outputs are not meaningful; "
                     "re-export with trained weights (`fastip models -v` lists them)")


def weights_line(m: Manifest) -> str:
    """Which weights the bundle holds, in words."""
    if m.untrained:
        return "none: UNTRAINED (exported with --weights none)"
    weights = m.source.get("weights")
    if m.source.get("kind") == "onnx":
        return f"from the imported ONNX file {m.source.get('file', '')}".rstrip()
    if weights is None:
        return "as built by " + str(m.source.get("builder", m.model))
    return str(weights)


def candidate_lines(m: Manifest) -> list[str]:
    """One line per reduced-precision candidate the quality gate measured, with the chosen one marked."""
    record = m.extra.get("quantization") or {}
    chosen = set((record.get("chosen") or {}).values())
    lines = []
    for c in record.get("candidates") or []:
        metrics = c.get("metrics") or {}
        shown = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items() if isinstance(v, (int, float)) and v is not None)
        verdict = f"failed: {c['error']}" if c.get("error") else ("passed" if c.get("passed") else "below the gate")
        mark = " [kept]" if c.get("name") in chosen else ""
        lines.append(f"    {c.get('name')} on {c.get('backend')}: {verdict}{mark}" + (f" ({shown})" if shown else ""))
    if record.get("fallback"):
        lines.append(f"    none passed: shipped {record['fallback']} ({record.get('reason', '')})")
    return lines


def info_lines(root, m: Manifest) -> list[str]:
    """What `fastip info` prints for a bundle."""
    lines = [f"{root}: {m.model} ({m.family}), precision {m.precision}", f"  weights: {weights_line(m)}"]
    lines += [f"  input  {t.name} {t.dtype} {t.layout} {list(t.shape)}" for t in m.inputs]
    lines += [f"  output {t.name} {t.dtype} {t.layout} {list(t.shape)}" for t in m.outputs]
    lines.append(f"  artifacts: {', '.join(f'{k}={v}' for k, v in m.artifacts.items())}")
    for v in m.validation:
        lines.append(f"  validated {v.artifact} on {v.backend} with {v.image}: max abs error {v.max_abs_error:.2e}, "
                     f"PSNR {v.psnr:.1f} dB")
    record = m.extra.get("quantization")
    if record:
        gate = ", ".join(f"{k} {v}" for k, v in (record.get("thresholds") or {}).items())
        lines.append(f"  {record.get('precision', m.precision)} candidates (gate: {gate}, measured on {record.get('measured_on')}):")
        lines += candidate_lines(m)
    lines.append(f"  versions: {json.dumps(m.versions)}")
    return lines


def warn_if_untrained(bundle_path) -> None:
    """Print a warning on stderr when the bundle at `bundle_path` holds an untrained model."""
    from fastip.bundle import Bundle

    bundle = Bundle.load(bundle_path, verify=False)  # the runtime that opens it verifies every file
    if bundle.manifest.untrained:
        print("warning: " + UNTRAINED_WARNING.format(root=bundle.root, model=bundle.manifest.model), file=sys.stderr)
