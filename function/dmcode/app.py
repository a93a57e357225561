"""Builds everything an instance needs, once, from the environment.

A misconfigured function still starts: it answers every request with `config_error`
naming the variables, instead of crashing in a loop where only FC's logs would tell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dmcode import settings as settings_module
from dmcode import templates
from dmcode.errors import ConfigError
from dmcode.mailer import Mailer
from dmcode.settings import Settings

if TYPE_CHECKING:
    from dmcode.store import Store


@dataclass(frozen=True)
class App:
    settings: Settings
    templates: templates.TemplateSet
    mailer: Mailer
    # Limits, attempts and single use; only when something needs it (the Redis client
    # is imported only then).
    store: Store | None


def build(environ: Mapping[str, str], code_dir: Path) -> App:
    """The instance's parts, or ConfigError with every problem found."""
    problems: list[tuple[str, str]] = []
    try:
        settings = settings_module.load(environ)
    except ConfigError as error:
        problems.extend(error.problems)
        # Templates are still checked so that one deploy shows every problem.
        settings = Settings(
            account_name="",
            templates_json=environ.get("DM_TEMPLATES") or None,
            templates_file=environ.get("DM_TEMPLATES_FILE") or None,
            default_locale=environ.get("DEFAULT_LOCALE") or "en",
        )
    try:
        template_set = templates.load(settings, code_dir)
    except ConfigError as error:
        problems.extend(error.problems)
    if problems:
        raise ConfigError(problems)
    store: Store | None = None
    if settings.public_flow_enabled or settings.send_rate_limits:
        # Imported only when configured, like everything the public flow needs.
        from dmcode.store import open_store  # noqa: PLC0415

        store = open_store(settings)
    return App(settings, template_set, Mailer(settings), store)
