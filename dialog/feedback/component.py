"""Feedback as a component: `dialog corpus add-from-feedback` (approved replies into the corpus).
`dialog train ranker --with-feedback` is core chat's command."""

from __future__ import annotations

from dialog_core.component import BaseComponent, CommandLine


class FeedbackComponent(BaseComponent):
    name = "feedback"
    order = 60

    def add_commands(self, cli: CommandLine) -> None:
        from dialog.chat.cli import corpus_app

        cli.add("corpus", corpus_app)
