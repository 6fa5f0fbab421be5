"""The console's web application: pages for people, the same data as JSON under `/api/`
for scripts, reviewer steps sent through the claims' own Temporal Updates and validators,
`/healthz` and `/metrics`.

Every request is checked on the server against `mutualaid.access` before anything is read;
a page a role may not see answers 401 (sign in) or 403, never an empty page. Every input is
checked by the core's own rules (claim ids, states, plans, dates) and refused in one line
naming the field and the value; SQL is built by SQLAlchemy from typed values only."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, text
from temporalio.client import Client, WorkflowHandle

from console import claims as claim_views
from console import periods as period_views
from console.auth import (
    PUBLIC,
    SESSION_COOKIE,
    CsrfError,
    ForbiddenError,
    NotSignedInError,
    Viewer,
    check_form,
    request_token,
    require,
    safe_next,
    viewer_for,
)
from console.member import member_page
from console.metrics import ConsoleMetrics
from console.publicity import publicity_case, publicity_lists
from infra.claim_steps import send_step
from infra.config import Settings
from infra.db import reading
from messages import claims as msg
from mutualaid.access import ConsoleRole, Page, may
from mutualaid.calendar import format_moment, parse_date, program_date
from mutualaid.claim import ClaimState
from mutualaid.claim_materials import DocumentKind
from mutualaid.claim_report import check_claim_id
from mutualaid.claim_review import Findings, ReviewOutcome
from mutualaid.claim_roles import Actor, Role
from mutualaid.clock import ProgramClock
from mutualaid.errors import ConflictError, InputError, NotYetError, RefusedError
from mutualaid.plan import Plan
from simulation import actors as people

log = logging.getLogger("mutualaid.console")
access = logging.getLogger("mutualaid.console.access")
HERE = Path(__file__).parent
MAX_TEXT = 2000  # a reason, a summary: longer is refused, not cut


@dataclass(slots=True, kw_only=True)
class ConsoleContext:
    """What the console reads and talks to: SQL, the plans, the program clock, the member
    store, and Temporal (connected on first use, so pages from SQL work while it is away)."""

    settings: Settings
    engine: Engine
    plans: dict[str, Plan]
    clock: ProgramClock
    connect: Callable[[], Awaitable[Client]]
    sdk_metrics_url: str | None = None
    _client: Client | None = field(default=None, init=False)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, init=False)

    def now(self) -> datetime:
        return self.clock.program_now(datetime.now(UTC))

    async def client(self) -> Client:
        async with self._lock:
            if self._client is None:
                self._client = await self.connect()
            return self._client

    def workflow_url(self, workflow_id: str) -> str:
        ns = self.settings.temporal_namespace
        return f"{self.settings.web_ui_url}/namespaces/{ns}/workflows/{workflow_id}"


def create_app(ctx: ConsoleContext) -> FastAPI:
    app = FastAPI(title="mutualaid console", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=HERE / "templates")
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    metrics = ConsoleMetrics(ctx)

    def viewer_of(request: Request) -> Viewer:
        token, by_cookie = request_token(request)
        return viewer_for(ctx.engine, token, by_cookie=by_cookie)

    def wants_json(request: Request) -> bool:
        return request.url.path.startswith("/api/")

    def page(
        request: Request, viewer: Viewer, template: str, data: Mapping[str, Any], **extra: Any
    ) -> Response:
        if wants_json(request):
            return JSONResponse(dict(data))
        context = {
            "viewer": viewer,
            "may": lambda name: may(viewer.role, Page(name)),
            "data": data,
            "now": format_moment(ctx.now()),
            **extra,
        }
        return templates.TemplateResponse(request, template, context)

    def problem(request: Request, status: int, message: str) -> Response:
        if wants_json(request):
            return JSONResponse({"error": message}, status_code=status)
        try:
            viewer = viewer_of(request)
        except Exception:  # the database is what failed: show the error page to the public
            viewer = PUBLIC
        return templates.TemplateResponse(
            request,
            "error.html",
            {
                "viewer": viewer,
                "may": lambda name: may(viewer.role, Page(name)),
                "message": message,
                "status": status,
                "now": format_moment(ctx.now()),
            },
            status_code=status,
        )

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        field_name = str(first.get("loc", ("?",))[-1])
        return problem(request, 400, f"error: {field_name}: {first.get('msg', 'is malformed')}")

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        # Pages hold personal data for staff and members: never cached, never framed.
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; style-src 'self'; frame-ancestors 'none'; form-action 'self'"
        )
        route = request.scope.get("route")
        # The access log names the route, never the path: a claim id names its claimant.
        access.info(
            "%s %s %d %.1f ms",
            request.method,
            getattr(route, "path", "(no route)"),
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        return response

    @app.exception_handler(NotSignedInError)
    async def not_signed_in(request: Request, exc: NotSignedInError) -> Response:
        browser = "text/html" in request.headers.get("accept", "")
        if wants_json(request) or request.method != "GET" or not browser:
            return problem(request, 401, f"sign in to use {exc}")
        return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", status_code=303)

    @app.exception_handler(ForbiddenError)
    async def forbidden(request: Request, exc: ForbiddenError) -> Response:
        return problem(request, 403, str(exc))

    @app.exception_handler(CsrfError)
    async def csrf(request: Request, exc: CsrfError) -> Response:
        return problem(request, 403, str(exc))

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> Response:
        return problem(request, 400, f"error: {exc}")

    @app.exception_handler(RefusedError)
    async def refused(request: Request, exc: RefusedError) -> Response:
        return problem(request, 409, f"refused: {exc}")

    @app.exception_handler(ConflictError)
    async def conflict(request: Request, exc: ConflictError) -> Response:
        return problem(request, 409, f"refused: {exc}")

    @app.exception_handler(NotYetError)
    async def not_yet(request: Request, exc: NotYetError) -> Response:
        return problem(request, 503, f"not now: {exc}")

    # -- everyone ------------------------------------------------------------------------

    @app.api_route("/healthz", methods=["GET", "HEAD"])
    def healthz() -> JSONResponse:
        """Up, and SQL answers (Temporal's state is in /metrics: the pages work without it)."""
        try:
            with reading(ctx.engine) as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:  # the probe reports any failure, it does not raise
            log.warning("health: database unreachable: %s", type(exc).__name__)
            return JSONResponse({"ok": False, "database": "unreachable"}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        viewer = viewer_of(request)
        return page(request, viewer, "home.html", {})

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str | None = None) -> Response:
        return page(request, viewer_of(request), "login.html", {}, next=safe_next(next))

    @app.post("/login")
    def login(
        request: Request,
        token: Annotated[str, Form()] = "",
        next: Annotated[str, Form()] = "/",
    ) -> Response:
        check_form(request, PUBLIC, None, signing_in=True)
        viewer = viewer_for(ctx.engine, token.strip(), by_cookie=True)
        if viewer.role is ConsoleRole.PUBLIC:
            return problem(request, 401, "error: token: is not a current console token")
        response = RedirectResponse(safe_next(next), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token.strip(),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @app.post("/logout")
    def logout(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        check_form(request, viewer_of(request), csrf)
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/publicity", response_class=HTMLResponse)
    @app.get("/api/publicity")
    def publicity(request: Request) -> Response:
        viewer = require(viewer_of(request), Page.PUBLICITY)
        with reading(ctx.engine) as session:
            lists = publicity_lists(session, ctx.plans, now=ctx.now())
        return page(request, viewer, "publicity.html", {"lists": lists})

    @app.post("/publicity/{case}/objection")
    @app.post("/api/publicity/{case}/objection")
    async def object_to(
        request: Request,
        case: str,
        reason: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        """A member objects to a case of the public list, named by its number on the list
        (the claim's id holds the claimant's member id, so it is never public)."""
        viewer = await asyncio.to_thread(viewer_of, request)
        require(viewer, Page.OBJECT)
        check_form(request, viewer, csrf)
        if not case.isascii() or not case.isdigit() or len(case) > 18:
            raise InputError("case", case, "must be a case number from the publicity page")
        said = checked_text(reason, "reason", required=True)
        with reading(ctx.engine) as session:
            listed = publicity_case(session, int(case))
        if listed is None:
            return problem(request, 404, f"error: case={case!r}: no such case on a public list")
        claim_id, plan_id = listed
        assert viewer.member_id is not None  # the member role always names its member
        if plan_id != viewer.plan_id:
            raise ForbiddenError(
                f"a member of plan {viewer.plan_id} objects only to cases of that plan"
            )
        objection = msg.Objection(actor=people.member(viewer.member_id), reason=said)
        result = await update(claim_id, "object", msg.OBJECT, objection)
        return done(request, "/publicity", "objection", result)

    # -- members -------------------------------------------------------------------------

    @app.get("/me", response_class=HTMLResponse)
    @app.get("/api/me")
    def me(request: Request) -> Response:
        viewer = require(viewer_of(request), Page.OWN_MEMBER_PAGE)
        assert viewer.plan_id is not None and viewer.member_id is not None
        plan = ctx.plans.get(viewer.plan_id)
        if plan is None:
            raise InputError("plan", viewer.plan_id, "is not a known plan")
        with reading(ctx.engine) as session:
            data = member_page(
                session,
                ctx.settings.store_root,
                plan,
                viewer.member_id,
                today=program_date(ctx.now()),
            )
        if data is None:
            raise InputError("member", viewer.member_id, f"is not a member of plan {plan.id}")
        return page(request, viewer, "member.html", data)

    # -- staff ---------------------------------------------------------------------------

    @app.get("/claims", response_class=HTMLResponse)
    @app.get("/api/claims")
    def pipeline(request: Request) -> Response:
        viewer = require(viewer_of(request), Page.PIPELINE)
        wanted = claim_views.parse_filter(request.query_params, set(ctx.plans))
        with reading(ctx.engine) as session:
            counts = claim_views.pipeline_counts(session)
            listed = claim_views.claim_page(session, wanted)
        return page(
            request,
            viewer,
            "pipeline.html",
            {"counts": counts} | listed,
            filter=wanted,
            states=[s.value for s in ClaimState],
            plans=sorted(ctx.plans),
        )

    @app.get("/claims/{claim_id}", response_class=HTMLResponse)
    @app.get("/api/claims/{claim_id}")
    def claim(request: Request, claim_id: str) -> Response:
        viewer = require(viewer_of(request), Page.CLAIM)
        check_claim_id(claim_id)
        with reading(ctx.engine) as session:
            data = claim_views.claim_detail(session, claim_id)
        if data is None:
            return problem(request, 404, f"error: claim={claim_id!r}: no such claim")
        data["workflow_url"] = ctx.workflow_url(data["workflow"])
        return page(
            request,
            viewer,
            "claim.html",
            data,
            outcomes=[o.value for o in ReviewOutcome],
            documents=[d.value for d in DocumentKind],
        )

    @app.post("/claims/{claim_id}/review")
    @app.post("/api/claims/{claim_id}/review")
    async def review(
        request: Request,
        claim_id: str,
        outcome: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        resubmit: Annotated[list[str] | None, Form()] = None,
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        viewer = await may_act(request, Page.REVIEW, csrf, claim_id)
        request_ = msg.Review(
            actor=staff(viewer, Role.REVIEWER),
            outcome=choice(ReviewOutcome, outcome, "outcome"),
            resubmit=tuple(choice(DocumentKind, kind, "resubmit") for kind in resubmit or ()),
            reason=checked_text(reason, "reason"),
        )
        result = await update(claim_id, "review", msg.REVIEW, request_)
        return done(request, f"/claims/{claim_id}", "review", result)

    @app.post("/claims/{claim_id}/investigation")
    @app.post("/api/claims/{claim_id}/investigation")
    async def investigation(
        request: Request,
        claim_id: str,
        summary: Annotated[str, Form()] = "",
        diagnosis_confirmed: Annotated[str, Form()] = "",
        declaration_consistent: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        viewer = await may_act(request, Page.INVESTIGATION, csrf, claim_id)
        findings = Findings(
            diagnosis_confirmed=yes_no(diagnosis_confirmed, "diagnosis_confirmed"),
            declaration_consistent=yes_no(declaration_consistent, "declaration_consistent"),
            summary=checked_text(summary, "summary", required=True),
        )
        request_ = msg.RecordFindings(actor=staff(viewer, Role.INVESTIGATOR), findings=findings)
        result = await update(claim_id, "record findings", msg.RECORD_FINDINGS, request_)
        return done(request, f"/claims/{claim_id}", "findings", result)

    @app.post("/claims/{claim_id}/decision")
    @app.post("/api/claims/{claim_id}/decision")
    async def decision(
        request: Request,
        claim_id: str,
        approve: Annotated[str, Form()] = "",
        reason: Annotated[str, Form()] = "",
        csrf: Annotated[str, Form()] = "",
    ) -> Response:
        viewer = await may_act(request, Page.DECISION, csrf, claim_id)
        request_ = msg.Decide(
            actor=staff(viewer, Role.REVIEWER),
            approve=yes_no(approve, "approve"),
            reason=checked_text(reason, "reason"),
        )
        result = await update(claim_id, "decide", msg.DECIDE, request_)
        return done(request, f"/claims/{claim_id}", "decision", result)

    @app.get("/periods", response_class=HTMLResponse)
    @app.get("/api/periods")
    def periods(request: Request) -> Response:
        viewer = require(viewer_of(request), Page.PERIODS)
        with reading(ctx.engine) as session:
            rows = period_views.period_list(session)
        return page(
            request,
            viewer,
            "periods.html",
            {"periods": rows},
            chart=period_views.share_chart(rows),
        )

    @app.get("/periods/{plan_id}/{publicity_date}", response_class=HTMLResponse)
    @app.get("/api/periods/{plan_id}/{publicity_date}")
    def period(request: Request, plan_id: str, publicity_date: str) -> Response:
        viewer = require(viewer_of(request), Page.PERIODS)
        if plan_id not in ctx.plans:
            raise InputError("plan", plan_id, f"is not a known plan ({', '.join(ctx.plans)})")
        day = parse_date(publicity_date, field="publicity_date")
        with reading(ctx.engine) as session:
            found = period_views.find_period(session, plan_id, day)
            if found is None:
                return problem(request, 404, f"error: period={plan_id}/{day}: no such period")
            data = period_views.period_detail(session, found, ctx.settings.store_root, ctx.clock)
        data["workflow_url"] = ctx.workflow_url(data["period"])
        return page(request, viewer, "period.html", data)

    @app.get("/metrics")
    async def prometheus(request: Request) -> Response:
        require(await asyncio.to_thread(viewer_of, request), Page.METRICS)
        body = await metrics.render()
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    # -- helpers -------------------------------------------------------------------------

    async def may_act(request: Request, page: Page, csrf: str, claim_id: str) -> Viewer:
        """The viewer, when its role may take this step, its form is same-site with the
        session's CSRF token, and the claim id is well formed; else the refusal."""
        viewer = require(await asyncio.to_thread(viewer_of, request), page)
        check_form(request, viewer, csrf)
        check_claim_id(claim_id)
        return viewer

    async def update(claim_id: str, action: str, name: str, message: object) -> msg.StepResult:
        """Send the claim one Update through `infra.claim_steps`, as the command line does."""
        try:
            client = await ctx.client()
        except InputError as exc:
            raise NotYetError("temporal", ctx.settings.temporal_address, str(exc)) from None

        async def send(handle: WorkflowHandle[Any, Any], _: msg.ClaimStatus) -> msg.StepResult:
            result: msg.StepResult = await handle.execute_update(
                name, message, result_type=msg.StepResult
            )
            return result

        return await send_step(client, claim_id, action, send, task_queue=ctx.settings.task_queue)

    def done(request: Request, back: str, what: str, result: msg.StepResult) -> Response:
        # The claim's own history records who did what; the log says only that a step was
        # taken (a claim id names its claimant).
        log.info("%s recorded; the claim is %s", what, result.state.value)
        if wants_json(request):
            return JSONResponse({"state": result.state.value, "event": result.event_seq})
        return RedirectResponse(f"{back}?done={what}", status_code=303)

    return app


def staff(viewer: Viewer, role: Role) -> Actor:
    """The signed-in staff user as the claim's messages name them: the login is the one
    registered as an actor (`users add` does both), so the claim's validator and its check
    of the registry see the same name and role."""
    assert viewer.name is not None
    return Actor(role=role, name=viewer.name)


def checked_text(value: str, field_name: str, *, required: bool = False) -> str:
    cleaned = value.strip()
    if required and not cleaned:
        raise InputError(field_name, value, "must not be empty")
    if len(cleaned) > MAX_TEXT:
        raise InputError(field_name, f"{cleaned[:20]}...", f"is longer than {MAX_TEXT} characters")
    return cleaned


def yes_no(value: str, field_name: str) -> bool:
    if value not in ("yes", "no"):
        raise InputError(field_name, value, "must be yes or no")
    return value == "yes"


E = TypeVar("E", ReviewOutcome, DocumentKind)


def choice(kind: type[E], value: str, field_name: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise InputError(
            field_name, value, "must be one of " + ", ".join(k.value for k in kind)
        ) from None
