"""FAQ entries: list, search, create, edit, hide, restore, history. Every save takes effect at once."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from bot.store import faq_edits, proposals
from bot.web.admin.groups import folded
from bot.web.admin.state import ADMIN, StaffSession, staff_only
from bot.web.app import RUNTIME
from faq.content import Entry, Source

FIELDS = ("id", "domain", "title", "short", "questions", "keywords", "synonyms", "answer", "source_title",
          "source_url", "source_checked", "related", "proposal_id")
_SPLIT = re.compile(r"[\n,;]+")
MAX_FIELD = 5000


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/faq", staff_only(faq_list))
    app.router.add_get("/admin/faq/new", staff_only(new_form))
    app.router.add_post("/admin/faq/new", staff_only(create))
    app.router.add_get("/admin/faq/{faq_id}", staff_only(edit_form))
    app.router.add_post("/admin/faq/{faq_id}", staff_only(update))
    app.router.add_get("/admin/faq/{faq_id}/history", staff_only(history))
    app.router.add_post("/admin/faq/{faq_id}/history/{edit_id:\\d+}", staff_only(reuse))


def _value(form: MultiDictProxy[Any], key: str) -> str:
    value = form.get(key)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def _lines(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(" ".join(line.split()) for line in text.splitlines() if line.strip()))


def _list(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(part.strip() for part in _SPLIT.split(text) if part.strip()))


def entry_from_form(form: dict[str, str]) -> Entry:
    return Entry(
        id=form["id"].strip(),
        domain=form["domain"].strip(),
        title=" ".join(form["title"].split()),
        short=" ".join(form["short"].split()),
        questions=_lines(form["questions"]),
        keywords=_list(form["keywords"]),
        synonyms=_list(form["synonyms"]),
        # Answers keep their line breaks (numbered steps); Windows line ends become plain ones.
        answer="\n".join(line.rstrip() for line in form["answer"].replace("\r\n", "\n").strip().split("\n")),
        source=Source(form["source_title"].strip(), form["source_url"].strip(), form["source_checked"].strip()),
        related=_list(form["related"]),
    )


def form_from_entry(entry: Entry) -> dict[str, str]:
    return {
        "id": entry.id, "domain": entry.domain, "title": entry.title, "short": entry.short,
        "questions": "\n".join(entry.questions), "keywords": "\n".join(entry.keywords),
        "synonyms": "\n".join(entry.synonyms), "answer": entry.answer, "source_title": entry.source.title,
        "source_url": entry.source.url, "source_checked": entry.source.checked,
        "related": ", ".join(entry.related), "proposal_id": "",
    }


def _blank(request: web.Request) -> dict[str, str]:
    runtime = request.app[RUNTIME]
    form = dict.fromkeys(FIELDS, "")
    form["domain"] = runtime.content.domains[0].id if runtime.content.domains else ""
    form["source_title"] = runtime.settings.commune_name
    form["source_checked"] = runtime.now().astimezone(runtime.settings.timezone).strftime("%Y-%m")
    return form


def _render_form(request: web.Request, staff: StaffSession, form: dict[str, str], *, new: bool,
                 errors: list[str] | None = None, status: int = 200, hidden: bool = False,
                 saved: bool = False, edited: bool = False, packaged: bool = False) -> web.Response:
    runtime = request.app[RUNTIME]
    return request.app[ADMIN].render(
        "faq_form.html", staff, status=status, nav="faq", form=form, new=new, errors=errors or [],
        domains=[(d.id, d.title) for d in runtime.content.domains], hidden=hidden, saved=saved, edited=edited,
        packaged=packaged,
    )


async def faq_list(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    dashboard = request.app[ADMIN]
    query = request.query.get("q", "").strip()[:200]
    words = folded(query).split()
    async with runtime.sessions() as session:
        latest = await faq_edits.latest_edits(session)
    rows = []
    for domain in runtime.content.domains:
        for entry in domain.entries:
            haystack = folded(" ".join((entry.id, entry.title, entry.short, *entry.questions, *entry.keywords,
                                        *entry.synonyms)))
            if all(w in haystack for w in words):
                rows.append((domain.title, entry, entry.id in latest, entry.id not in dashboard.packaged.by_id))
    hidden = sorted(faq_id for faq_id, edit in latest.items() if edit.entry.get("hidden"))
    return dashboard.render("faq_list.html", staff, nav="faq", rows=rows, query=query, hidden=hidden,
                            total=len(runtime.content.entries))


async def new_form(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    return _render_form(request, staff, _blank(request), new=True)


async def create(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    """`action=draft` opens the form prefilled (from a group of questions or a proposal) without saving;
    `action=save` saves. Drafts go by POST so residents' questions never appear in a URL or an access log."""
    posted = await request.post()
    form = _blank(request)
    for key in FIELDS:
        if key in posted:
            form[key] = _value(posted, key)
    if _value(posted, "action") != "save":
        if "domain" not in posted:
            # A draft from a group of questions names no domain: take it from the suggested id's prefix.
            prefix = form["id"].partition(".")[0]
            if prefix in {d.id for d in request.app[RUNTIME].content.domains}:
                form["domain"] = prefix
        return _render_form(request, staff, form, new=True)
    return await _save(request, staff, form, new=True)


async def _save(request: web.Request, staff: StaffSession, form: dict[str, str], *, new: bool) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    dashboard = request.app[ADMIN]
    entry = entry_from_form(form)
    errors = faq_edits.problems(entry, runtime.content, new=new)
    proposal_id = int(form["proposal_id"]) if form.get("proposal_id", "").isdigit() else None
    if errors:
        return _render_form(request, staff, form, new=new, errors=errors, status=400)
    async with runtime.sessions() as session, session.begin():
        faq_edits.save_entry(session, entry, staff.actor, runtime.now())
        if proposal_id is not None:
            await proposals.decide(session, proposal_id, True, staff.actor)
    await faq_edits.reload(runtime.sessions, runtime.knowledge, dashboard.packaged)
    if proposal_id is not None:
        raise web.HTTPSeeOther("/admin/proposals?done=accepted")
    raise web.HTTPSeeOther(f"/admin/faq/{entry.id}?saved=1")


async def _stored(request: web.Request, faq_id: str) -> tuple[Entry | None, bool, bool]:
    """(the entry as staff last saw it, hidden?, edited?) — a hidden entry is shown from its last version."""
    runtime = request.app[RUNTIME]
    current = runtime.content.by_id.get(faq_id)
    async with runtime.sessions() as session:
        versions = await faq_edits.history(session, faq_id)
    if current is not None:
        return current, False, bool(versions)
    for version in versions:
        if not (version.entry.get("hidden") or version.entry.get("restored")):
            try:
                return faq_edits.entry_from_json(version.entry), True, True
            except (KeyError, TypeError, ValueError):
                continue
    packaged = request.app[ADMIN].packaged.by_id.get(faq_id)
    return packaged, packaged is not None, bool(versions)


async def edit_form(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    faq_id = request.match_info["faq_id"]
    entry, hidden, edited = await _stored(request, faq_id)
    if entry is None:
        return request.app[ADMIN].render("error.html", staff, status=404, message="Không có mục hỏi đáp này.")
    return _render_form(request, staff, form_from_entry(entry), new=False, hidden=hidden,
                        saved=request.query.get("saved") == "1", edited=edited,
                        packaged=faq_id in request.app[ADMIN].packaged.by_id)


async def update(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    dashboard = request.app[ADMIN]
    faq_id = request.match_info["faq_id"]
    entry, _, _ = await _stored(request, faq_id)
    if entry is None:
        return dashboard.render("error.html", staff, status=404, message="Không có mục hỏi đáp này.")
    posted = await request.post()
    action = _value(posted, "action")
    if action in ("hide", "restore"):
        async with runtime.sessions() as session, session.begin():
            if action == "hide":
                faq_edits.hide_entry(session, faq_id, staff.actor, runtime.now())
            else:
                faq_edits.restore_entry(session, faq_id, staff.actor, runtime.now())
        await faq_edits.reload(runtime.sessions, runtime.knowledge, dashboard.packaged)
        raise web.HTTPSeeOther(f"/admin/faq/{faq_id}?saved=1")
    form = {key: _value(posted, key) for key in FIELDS}
    form["id"] = faq_id  # the id names the entry; renaming would orphan its history
    return await _save(request, staff, form, new=False)


async def history(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    runtime = request.app[RUNTIME]
    faq_id = request.match_info["faq_id"]
    async with runtime.sessions() as session:
        versions = await faq_edits.history(session, faq_id)
    packaged = request.app[ADMIN].packaged.by_id.get(faq_id)
    if not versions and packaged is None:
        return request.app[ADMIN].render("error.html", staff, status=404, message="Không có mục hỏi đáp này.")
    shown = []
    for version in versions:
        try:
            entry = None if version.entry.get("hidden") or version.entry.get("restored") else \
                faq_edits.entry_from_json(version.entry)
        except (KeyError, TypeError, ValueError):
            entry = None
        shown.append((version, entry))
    return request.app[ADMIN].render("faq_history.html", staff, nav="faq", faq_id=faq_id, versions=shown,
                                     packaged=packaged)


async def reuse(request: web.Request, staff: StaffSession) -> web.StreamResponse:
    """Bring back an older version: stored as a new edit, so the history stays complete."""
    runtime = request.app[RUNTIME]
    faq_id = request.match_info["faq_id"]
    edit_id = int(request.match_info["edit_id"])
    async with runtime.sessions() as session:
        versions = await faq_edits.history(session, faq_id)
    version = next((v for v in versions if v.id == edit_id), None)
    try:
        entry = faq_edits.entry_from_json(version.entry) if version is not None else None
    except (KeyError, TypeError, ValueError):
        entry = None
    if entry is None:
        return request.app[ADMIN].render("error.html", staff, status=404, message="Không có phiên bản này.")
    return await _save(request, staff, {**form_from_entry(entry), "proposal_id": ""}, new=False)
