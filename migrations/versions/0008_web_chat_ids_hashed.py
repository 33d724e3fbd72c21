"""web chat ids hashed: a web chat is known by a one-way hash of its cookie, never by the cookie itself

The cookie is the secret that opens a conversation; until now it was the identity's external id, so the audit
log, exports, the outbox and the dashboard carried it. Every stored copy becomes `h.` + the first 128 bits of its
SHA-256 (URL-safe base64), as bot.channels.webchat.external_id computes it; the browser keeps its cookie, so a
returning resident finds their conversation.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 09:00:00
"""

import base64
import hashlib
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PREFIX = "h."  # never in a cookie (URL-safe base64 has no "."): what is already hashed is left alone
TOKEN = r"[A-Za-z0-9_-]{20,64}"  # every cookie the web chat ever accepted
# An address as the product writes it: "web:<token>", or with a role before it ("volunteer:web:<token>").
ADDRESS = re.compile(rf"((?:[a-z]+:)?web:)({TOKEN})")

# Where an address may be stored as text: who did something, whom it was about, who holds a ticket, who wrote.
ADDRESS_COLUMNS = (
    ("audit_log", "actor"), ("audit_log", "target"), ("tickets", "owner"), ("messages", "author"),
    ("faq_proposals", "proposed_by"), ("faq_proposals", "decided_by"), ("campaigns", "author"),
    ("faq_edits", "author"), ("roles", "granted_by"),
)


def hashed(token: str) -> str:
    """bot.channels.webchat.external_id as of this revision, frozen here: a later change there needs its own
    migration (tests/test_webchat_privacy.py checks that both agree)."""
    digest = hashlib.sha256(token.encode()).digest()[:16]
    return PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _address(value: str) -> str:
    match = ADDRESS.fullmatch(value)
    return match.group(1) + hashed(match.group(2)) if match else value


def _in_json(value: Any) -> Any:
    """Addresses inside a JSON value (the audit log's details, such as a reassigned ticket's previous owner)."""
    if isinstance(value, str):
        return _address(value)
    if isinstance(value, list):
        return [_in_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _in_json(item) for key, item in value.items()}
    return value


def _raw(column: sa.ColumnElement[str]) -> sa.ColumnElement[bool]:
    return sa.not_(column.startswith(PREFIX, autoescape=True))


def _set(bind: sa.Connection, table: sa.TableClause, column: str, changes: list[dict[str, Any]]) -> None:
    """One executemany of `{"row": id, "new": value}`: a commune's thousands of rows in one round trip."""
    if changes:
        bind.execute(table.update().where(table.c.id == sa.bindparam("row")).values({column: sa.bindparam("new")}),
                     changes)


def _identities(bind: sa.Connection) -> None:
    identities = sa.table("identities", sa.column("id"), sa.column("channel"), sa.column("external_id"))
    web = identities.c.channel == "web"
    taken = dict(bind.execute(sa.select(identities.c.external_id, identities.c.id).where(web)).all())
    rows = bind.execute(sa.select(identities.c.id, identities.c.external_id)
                        .where(web, _raw(identities.c.external_id))).all()
    changes = [{"row": identity_id, "new": hashed(token)} for identity_id, token in rows]
    # Hashed already by an earlier upgrade, then the downgraded code met the same cookie again: the raw identity is
    # the recent conversation and gets the id; the older one is kept for the record but can no longer be reached
    # by a cookie (a "." after the hash: no cookie hashes to it).
    retired = [{"row": taken[c["new"]], "new": f"{c['new']}.{taken[c['new']]}"} for c in changes if c["new"] in taken]
    _set(bind, identities, "external_id", retired)
    _set(bind, identities, "external_id", changes)


def _roles(bind: sa.Connection) -> None:
    """A role granted to a web chat (unusual, but `troly role grant` allows it)."""
    roles = sa.table("roles", sa.column("id"), sa.column("channel"), sa.column("external_id"), sa.column("role"))
    web = roles.c.channel == "web"
    held = {(external_id, role) for external_id, role in
            bind.execute(sa.select(roles.c.external_id, roles.c.role).where(web)).all()}
    for role_id, token, role in bind.execute(
        sa.select(roles.c.id, roles.c.external_id, roles.c.role).where(web, _raw(roles.c.external_id))
    ).all():
        new = hashed(token)
        if (new, role) in held:  # the same grant under its hashed id: this copy only repeats it
            bind.execute(roles.delete().where(roles.c.id == role_id))
        else:
            bind.execute(roles.update().where(roles.c.id == role_id).values(external_id=new))
            held.add((new, role))


def _outbox(bind: sa.Connection) -> None:
    """Pending and past deliveries: the recipient, and the message's own copy of it in the payload."""
    outbox = sa.table("outbox", sa.column("id"), sa.column("channel"), sa.column("recipient"),
                      sa.column("payload", sa.JSON()))
    recipients: list[dict[str, Any]] = []
    payloads: list[dict[str, Any]] = []
    for row_id, recipient, payload in bind.execute(
        sa.select(outbox.c.id, outbox.c.recipient, outbox.c.payload).where(outbox.c.channel == "web")
    ).all():
        if not recipient.startswith(PREFIX):
            recipients.append({"row": row_id, "new": hashed(recipient)})
        user_id = payload.get("user_id") if isinstance(payload, dict) else None
        if isinstance(user_id, str) and not user_id.startswith(PREFIX):
            payloads.append({"row": row_id, "new": {**payload, "user_id": hashed(user_id)}})
    _set(bind, outbox, "recipient", recipients)
    _set(bind, outbox, "payload", payloads)


def _address_columns(bind: sa.Connection) -> None:
    for table_name, column_name in ADDRESS_COLUMNS:
        table = sa.table(table_name, sa.column("id"), sa.column(column_name))
        column = table.c[column_name]
        rows = bind.execute(sa.select(table.c.id, column).where(column.contains("web:"))).all()
        _set(bind, table, column_name,
             [{"row": row_id, "new": new} for row_id, value in rows if (new := _address(value)) != value])


def _audit_details(bind: sa.Connection) -> None:
    audit = sa.table("audit_log", sa.column("id"), sa.column("details", sa.JSON()))
    as_text = sa.cast(audit.c.details, sa.Text())
    rows = bind.execute(sa.select(audit.c.id, audit.c.details).where(as_text.contains("web:"))).all()
    _set(bind, audit, "details",
         [{"row": row_id, "new": new} for row_id, details in rows if (new := _in_json(details)) != details])


def upgrade() -> None:
    bind = op.get_bind()
    _identities(bind)
    _roles(bind)
    _outbox(bind)
    _address_columns(bind)
    _audit_details(bind)
    # Per-chat send slots ("chat:web:<token>") are pacing hints that expire within a minute: dropped, not rewritten.
    slots = sa.table("rate_slots", sa.column("key"))
    op.execute(slots.delete().where(slots.c.key.startswith("chat:web:", autoescape=True)))


def downgrade() -> None:
    # Nothing to undo, and nothing that can be: a hash does not give back the cookie it came from. The ids stay
    # hashed, so under the older code every web chat starts a new conversation (the old ones stay stored, and
    # upgrading again hands each cookie its most recent one). No schema changed, so the revisions below still
    # apply, and `troly db downgrade -1` works as for any other revision.
    pass
