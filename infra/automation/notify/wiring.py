"""The notifications of a stack: its `notifications:` channels with the URLs its target holds as secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.automation.errors import InvalidInputError
from infra.automation.notify.channels import Channel, SlackChannel, WebhookChannel
from infra.automation.notify.dispatch import Dispatcher, Policy

if TYPE_CHECKING:
    from infra.automation.targets import Target

KINDS: dict[str, type[SlackChannel] | type[WebhookChannel]] = {
    "slack": SlackChannel,
    "webhook": WebhookChannel,
}


def dispatcher(target: Target) -> Dispatcher | None:
    """None when the stack configures no channel. A configured channel without its URL is bad input."""
    settings = target.cfg.notifications
    wanted = settings.secrets
    if not wanted:
        return None
    urls = target.notification_urls()
    channels: list[Channel] = []
    for name, key in wanted.items():
        url = urls.get(name)
        if not url:
            raise InvalidInputError(f"notifications.{name}: {missing(target, key)}")
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"notifications.{name}: the secret streamgate:{key} is not an http(s) URL"
            )
        events = getattr(settings, name).events
        channels.append(KINDS[name](url=url, events=frozenset(events) if events else None))
    policy = Policy(settings.attempts, settings.backoff_seconds, settings.timeout_seconds)
    return Dispatcher(channels, policy)


def secret_env(key: str) -> str:
    """Where a target without Pulumi secrets (the local platform) reads the secret `key` from."""
    snake = "".join(f"_{c}" if c.isupper() else c for c in key)
    return f"STREAMGATE_{snake.upper()}"


def missing(target: Target, key: str) -> str:
    if target.cfg.kind.cloud:
        return (
            f"its URL, the secret streamgate:{key}, is not in the stack outputs: set it with `pulumi config "
            f"set --secret streamgate:{key} ... -s {target.cfg.stack}`, `pulumi up`, and pass --outputs"
        )
    return f"its URL, the secret streamgate:{key}, is not set: export {secret_env(key)}=<URL>"


def drain(dispatcher: Dispatcher, seconds: float) -> None:
    """Close `dispatcher`, saying on stderr what could not be delivered (the operation's outcome stands)."""
    from infra import clikit

    for problem in dispatcher.close(seconds):
        clikit.err_console.print(f"warning: {problem}", highlight=False, markup=False)
