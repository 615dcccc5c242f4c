"""`dialog train intent`."""

from __future__ import annotations

from dialog_core.cli import load_settings, out


def train_intent() -> None:
    """Train the intent classifier; print accuracy and macro-F1 on the held-out split."""
    from dialog.understanding.intent import train_and_report
    from skills.registry import SkillRegistry

    settings = load_settings()
    model, report = train_and_report(settings.home, SkillRegistry.discover(settings))
    out.print(f"intent model: {len(model.labels)} labels, {report.train_size} training examples")
    out.print(f"held-out ({report.heldout_size} examples): accuracy {report.accuracy:.4f}, "
              f"macro-F1 {report.macro_f1:.4f}")  # fmt: skip
    for label, score in report.per_label_f1.items():
        out.print(f"  F1 {label}: {score:.4f}")
