"""The retention console: server-rendered pages over the platform's scores, plans and models (``churn console``).

It runs as its own process (see docs/decisions/0007-retention-console.md): a
page that sorts a million scores must never take a core from the prediction
path, and the console can be restarted, scaled or firewalled apart from the
API. It calls the same code the API and the CLI do — :class:`serving.engine.Engine`
for live predictions, reasons and what-ifs, :func:`churn.decisions.finish` for
the plan at a budget, :mod:`operations.models` for promotion and rollback — so a
number on a page is the number the API or ``churn decide`` gives. No script
runs in the pages: forms and links only, charts drawn on the server as SVG.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from jinja2 import ChoiceLoader, Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from churn import audit
from churn.actions import load_catalogue
from churn.decisions import finish
from churn.errors import InputError
from churn.feature_values import FeatureValueError
from churn.io import csv_text
from churn.pages import money, num, pct
from churn.settings import Settings
from console import facts, svg
from console.access import COOKIE, Session, Sessions, csrf_ok, safe_next
from console.scores import SORTS, Query, ScoreBoard, ScoreCache
from operations.models import check_kind, promote_by_hand, roll_back
from serving.auth import KeyRing
from training.registry import RegistryError

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")  # fmt: skip
CAMPAIGNS_NOTE = (
    "No campaign has been recorded: the platform does not launch or read back campaigns yet. "
    "Plans hold out a control group, and their readouts will appear here once campaigns are recorded."
)
TREATMENTS_NOTE = "No treatments recorded: campaigns are not recorded by the platform yet."
ENGINE_RETRY_S = 10.0

_ENV = Environment(
    loader=ChoiceLoader([PackageLoader("console", "templates"), PackageLoader("churn", "templates")]),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters.update(num=num, pct=pct, money=money)


class LiveEngine:
    """The prediction engine, built on first use and rebuilt after a failure (no champion yet, store down at
    start); reloads the champion at the service's reload period, and at once after a promotion here."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Any = None
        self.problem: str | None = None
        self._next_try = 0.0
        self._reloaded = time.monotonic()
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self.engine is None and time.monotonic() >= self._next_try:
                from serving.engine import Engine

                try:
                    self.engine = Engine(self.settings)
                    self.engine.watch.start()
                    self.problem = None
                except Exception as err:  # no champion, no store, a broken artifact: the page says which
                    self.problem = f"{err.__class__.__name__}: {err}"
                    self._next_try = time.monotonic() + ENGINE_RETRY_S
            elif self.engine is not None and time.monotonic() - self._reloaded > self.settings.reload_seconds:
                self.reload()
            return self.engine

    def reload(self) -> None:
        if self.engine is not None:
            self.engine.reload()
            self._reloaded = time.monotonic()

    def close(self) -> None:
        if self.engine is not None:
            self.engine.watch.stop()


Handler = Callable[[Request, Session, FormData | None], Awaitable[Response]]


def create_app(settings: Settings, keys: KeyRing | None = None) -> Starlette:
    keys = keys or KeyRing.parse(settings.api_keys.get_secret_value() if settings.api_keys else None)
    if not keys.enabled:
        raise InputError("CHURN_API_KEYS: the console signs people in with API keys; set at least one "
                         "(`churn keys new` makes one; give it the admin scope to promote and roll back)")  # fmt: skip
    sessions = Sessions(keys)
    catalogue = load_catalogue()
    boards = ScoreCache(settings, catalogue)
    live = LiveEngine(settings)
    plan_summary = facts.PlanSummary()

    def render(request: Request, template: str, session: Session | None, status: int = 200, **ctx: Any) -> Response:
        ctx.setdefault("message", None)
        ctx.setdefault("done", None)
        ctx.setdefault("section", "/" + request.url.path.split("/")[1])  # the nav tab: /models/promote is /models
        html = _ENV.get_template(template).render(session=session, **ctx)
        return HTMLResponse(html, status_code=status)

    def problem(request: Request, session: Session, status: int, message: str) -> Response:
        return render(request, "error.html", session, status, title="Problem", message=message)

    def page(admin: bool = False) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
        """Sign-in, CSRF on every POST, the admin role where asked, and readable errors instead of a 500."""

        def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
            async def endpoint(request: Request) -> Response:
                session = sessions.get(request.cookies.get(COOKIE))
                if session is None:
                    if request.method == "GET":
                        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
                    return PlainTextResponse("sign in first", status_code=401)
                form = None
                if request.method == "POST":
                    form = await request.form()
                    if not csrf_ok(session, str(form.get("csrf") or "")):
                        stale = "This form is stale or was not sent from this console (CSRF token mismatch): "
                        return problem(request, session, 403, stale + "reload the page and try again.")
                if admin and not session.admin:
                    return problem(request, session, 403, "This needs a key with the admin scope.")
                try:
                    return await handler(request, session, form)
                except (InputError, RegistryError) as err:
                    return problem(request, session, 400, str(err))

            return endpoint

        return wrap

    # --- sign-in -----------------------------------------------------------------------------------------------

    async def login_form(request: Request) -> Response:
        return render(request, "login.html", None, next=safe_next(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        form = await request.form()
        session = sessions.sign_in(str(form.get("key") or ""))
        target = safe_next(str(form.get("next") or ""))
        if session is None:
            await asyncio.sleep(0.5)  # a wrong key costs the guesser time
            return render(request, "login.html", None, 401, next=target, message="That key is not accepted.")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, session.token, max_age=int(sessions.lifetime), httponly=True, samesite="strict",
                            secure=request.url.scheme == "https", path="/")  # fmt: skip
        return response

    @page()
    async def logout(request: Request, session: Session, form: FormData | None) -> Response:
        sessions.sign_out(session.token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # --- pages -------------------------------------------------------------------------------------------------

    @page()
    async def overview(request: Request, session: Session, form: FormData | None) -> Response:
        def gather() -> dict[str, Any]:
            board = boards.board()
            engine = live.get()
            store = None
            if engine is not None:
                store = engine.watch.to_dict()
                store["loaded_at"] = (engine.watch.marker or {}).get("written_at")
            return {
                "champions": {kind: facts.champion(settings, kind) for kind in ("churn", "clv")},
                "store": store,
                "store_problem": live.problem,
                "drift": facts.latest_drift(settings),
                "plan": plan_summary.of(settings),
                "histogram": svg.histogram(board.columns["probability"], label="churn probability") if board else "",
                "scored": len(board.ids) if board else 0,
                "scores_file": board.path.name if board else "",
                "reports": facts.reports(settings),
                "campaigns_note": CAMPAIGNS_NOTE,
            }

        return render(request, "overview.html", session, title="Overview", **await run_in_threadpool(gather))

    @page()
    async def customers(request: Request, session: Session, form: FormData | None) -> Response:
        params = request.query_params
        board = await run_in_threadpool(boards.board)
        ctx: dict[str, Any] = {"board": board, "page": None, "q": Query()}
        if board is not None:
            ctx.update(bands=board.filters["risk_band"][1], actions=board.filters["action"][1],
                       attributes=board.attributes, sorts=SORTS, scores_file=board.path.name,
                       snapshot_date=board.scores["snapshot_date"].iat[0] if len(board.ids) else "",
                       clv_source=board.clv_source)  # fmt: skip
            try:
                page_number = int(params.get("page") or 1)
            except ValueError:
                page_number = 0
            query = Query(band=params.get("band", ""), action=params.get("action", ""),
                          attribute=params.get("attribute", ""), value=params.get("value", ""),
                          sort=params.get("sort") or "probability", page=page_number)  # fmt: skip
            ctx["q"] = query
            try:
                ctx["page"] = board.page(query)
            except InputError as err:
                ctx["message"] = str(err)

            def link(n: int) -> str:
                keep = {k: v for k, v in params.items() if k != "page" and v}
                return "/customers?" + urlencode({**keep, "page": n})

            ctx["link"] = link
        status = 400 if ctx.get("message") else 200
        return render(request, "customers.html", session, status, title="Customers at risk", **ctx)

    def what_if_fields(engine: Any, current: dict[str, Any]) -> list[dict[str, Any]]:
        fields = []
        for name in engine.feature_names:
            feature = engine.live.features.by_name.get(name)  # the platform's features and the declared ones
            value = current.get(name)
            choices: list[str] = []
            if feature is not None and feature.dtype == "bool":
                choices = ["true", "false"]
                value = "" if value is None else str(bool(value)).lower()
            elif feature is not None and feature.categories:
                choices = list(engine.live.labels.of_feature(name) or feature.categories)  # the source's labels
            fields.append({"name": name, "value": "" if value is None else str(value), "choices": choices})
        return fields

    def parse_changes(engine: Any, current: dict[str, Any], form: FormData) -> dict[str, Any]:
        """The form's values that differ from the stored vector, typed; InputError names a field that is not."""
        changes: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for field in what_if_fields(engine, current):
            name, text = field["name"], str(form.get(field["name"]) or "").strip()
            if text == field["value"]:
                continue
            feature = engine.live.features.by_name.get(name)
            if text == "":
                changes[name] = None
            elif feature is None or feature.dtype == "string":
                changes[name] = text
            elif feature.dtype == "bool":
                if text not in ("true", "false"):
                    problems.append((name, f"must be true or false, got {text!r}"))
                changes[name] = text == "true"
            else:
                try:
                    number = float(text.replace(",", ""))
                except ValueError:
                    problems.append((name, f"must be a number, got {text!r}"))
                    continue
                changes[name] = int(number) if feature.dtype == "int" and number.is_integer() else number
        if problems:
            raise FeatureValueError(problems)
        return changes

    async def customer_page(request: Request, session: Session, customer_id: str, form: FormData | None) -> Response:
        from serving.engine import Query as Asked
        from serving.engine import StoreUnavailable

        def gather() -> dict[str, Any]:
            ctx: dict[str, Any] = {"customer_id": customer_id, "live": None, "live_problem": None,
                                   "form_fields": [], "what_if": None, "what_if_changes": {},
                                   "treatments_note": TREATMENTS_NOTE}  # fmt: skip
            engine = live.get()
            if engine is None:
                ctx["live_problem"] = live.problem
            else:
                try:
                    answer = engine.predict([Asked(customer_id, explain=True)])[0]
                    current = engine.features_of(customer_id) or {}
                except StoreUnavailable as err:
                    answer, current = {"error": "unavailable", "detail": str(err)}, {}
                if "error" in answer:
                    ctx["live_problem"] = answer["detail"]
                else:
                    ctx["live"] = answer
                ctx["form_fields"] = what_if_fields(engine, current)
                if form is not None and current:
                    try:
                        changes = parse_changes(engine, current, form)
                        ctx["what_if"] = engine.predict([Asked(customer_id, features=changes)])[0]
                        ctx["what_if_changes"] = changes or {"nothing": "the stored values"}
                        ctx["form_fields"] = what_if_fields(engine, {**current, **changes})
                    except FeatureValueError as err:
                        ctx["message"] = f"What-if not scored — {err}"
            history = facts.score_history(settings, customer_id, boards.board())
            ctx["scores"] = history
            ctx["chart"] = svg.line([(str(s["snapshot_date"]), float(s["probability"])) for s in history],
                                    label="churn probability by scoring date")  # fmt: skip
            ctx["snapshots"] = facts.snapshot_history(settings, customer_id)
            return ctx

        ctx = await run_in_threadpool(gather)
        if ctx["live"] is None and not ctx["scores"] and not ctx["snapshots"]:
            return problem(request, session, 404, f"No customer {customer_id!r}: not in the online store, the scores "
                                                  "or the snapshots.")  # fmt: skip
        status = 400 if ctx.get("message") else 200
        return render(request, "customer.html", session, status, title=f"Customer {customer_id}", **ctx)

    @page()
    async def customer(request: Request, session: Session, form: FormData | None) -> Response:
        return await customer_page(request, session, request.path_params["customer_id"], None)

    @page()
    async def what_if(request: Request, session: Session, form: FormData | None) -> Response:
        return await customer_page(request, session, request.path_params["customer_id"], form)

    def budget_of(text: str) -> float | None:
        text = text.strip().replace(",", "")
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise InputError(f"budget: must be an amount such as 25000, got {text!r}") from None

    def decided(budget_text: str) -> tuple[Any, ScoreBoard | None, float]:
        began = time.perf_counter()
        board = boards.board()
        if board is None:
            return None, None, 0.0
        plan = finish(board.prepared, budget_of(budget_text), 0.10)
        return plan, board, time.perf_counter() - began

    @page()
    async def plan(request: Request, session: Session, form: FormData | None) -> Response:
        text = request.query_params.get("budget", "")
        try:
            result, board, seconds = await run_in_threadpool(decided, text)
        except InputError as err:
            return render(request, "plan.html", session, 400, title="Plan", summary=None, budget_text=text,
                          message=str(err))  # fmt: skip
        return render(request, "plan.html", session, title="Plan", summary=result.summary if result else None,
                      budget_text=text, seconds=seconds, scores_file=board.path.name if board else "")  # fmt: skip

    @page()
    async def plan_csv(request: Request, session: Session, form: FormData | None) -> Response:
        result, board, _ = await run_in_threadpool(decided, request.query_params.get("budget", ""))
        if result is None:
            raise InputError("no batch scores yet: run `churn score`")
        body = await run_in_threadpool(csv_text, result.frame)
        name = f"action_plan_{board.path.stem.rsplit('_', 1)[-1] if board else 'latest'}.csv"
        return Response(body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'})

    @page()
    async def campaigns(request: Request, session: Session, form: FormData | None) -> Response:
        return render(request, "campaigns.html", session, title="Campaigns", campaigns_note=CAMPAIGNS_NOTE)

    async def models_page(request: Request, session: Session, status: int = 200, **ctx: Any) -> Response:
        models = await run_in_threadpool(facts.models, settings)
        return render(request, "models.html", session, status, title="Models", models=models, **ctx)

    @page()
    async def models(request: Request, session: Session, form: FormData | None) -> Response:
        return await models_page(request, session)

    @page(admin=True)
    async def promote(request: Request, session: Session, form: FormData | None) -> Response:
        assert form is not None
        version = str(form.get("version") or "")
        if form.get("confirm") != "yes":
            return await models_page(request, session, 400, message=f"Not promoted: tick “I confirm” to make "
                                                                      f"{version} the champion.")  # fmt: skip
        try:
            out = await run_in_threadpool(promote_by_hand, settings, version, form.get("force") == "yes")
        except (InputError, RegistryError) as err:
            return await models_page(request, session, 409, message=str(err))
        audit.append(settings.home_dir, session.key_id, f"promote {out['kind']}", out["previous"], out["champion"],
                     ("forced past the gate: " if out["forced"] else "") + "; ".join(out["gate"]))  # fmt: skip
        await run_in_threadpool(live.reload)
        return await models_page(request, session, done=f"{version} is the {out['kind']} champion (was "
                                                         f"{out['previous']}).")  # fmt: skip

    @page(admin=True)
    async def rollback(request: Request, session: Session, form: FormData | None) -> Response:
        assert form is not None
        kind = check_kind(str(form.get("kind") or ""), "kind")
        if form.get("confirm") != "yes":
            return await models_page(request, session, 400, message="Not rolled back: tick “I confirm” first.")
        try:
            out = await run_in_threadpool(roll_back, settings, kind)
        except RegistryError as err:
            return await models_page(request, session, 409, message=str(err))
        audit.append(settings.home_dir, session.key_id, f"rollback {kind}", out["rolled_back_from"], out["champion"])
        await run_in_threadpool(live.reload)
        return await models_page(request, session, done=f"Rolled back: {out['champion']} is the {kind} champion "
                                                         f"again (was {out['rolled_back_from']}).")  # fmt: skip

    @page()
    async def audit_page(request: Request, session: Session, form: FormData | None) -> Response:
        entries = await run_in_threadpool(audit.read, settings.home_dir, 500)
        broken = await run_in_threadpool(audit.verify, settings.home_dir)
        return render(request, "audit.html", session, title="Audit log", entries=entries, broken=broken)

    @page()
    async def report(request: Request, session: Session, form: FormData | None) -> Response:
        root = settings.reports_dir.resolve()
        path = (root / request.path_params["path"]).resolve()
        if not path.is_relative_to(root) or not path.is_file() or path.suffix not in (".html", ".png", ".json"):
            return problem(request, session, 404, "No such report.")
        return FileResponse(path)

    async def livez(request: Request) -> Response:
        return PlainTextResponse("ok")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # the first at-risk page or plan should not pay for the valuation, control draw, reasons and indexing
        await run_in_threadpool(boards.board)
        await run_in_threadpool(live.get)
        yield
        live.close()

    routes = [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", overview, methods=["GET"]),
        Route("/customers", customers, methods=["GET"]),
        Route("/customers/{customer_id}", customer, methods=["GET"]),
        Route("/customers/{customer_id}/what-if", what_if, methods=["POST"]),
        Route("/plan", plan, methods=["GET"]),
        Route("/plan.csv", plan_csv, methods=["GET"]),
        Route("/campaigns", campaigns, methods=["GET"]),
        Route("/models", models, methods=["GET"]),
        Route("/models/promote", promote, methods=["POST"]),
        Route("/models/rollback", rollback, methods=["POST"]),
        Route("/audit", audit_page, methods=["GET"]),
        Route("/reports/{path:path}", report, methods=["GET"]),
        Route("/livez", livez, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    app.state.boards = boards
    app.state.live = live
    return app


class SecurityHeaders:
    """No framing, no sniffing, no referrer; the console's own pages also get a script-free CSP (reports keep
    theirs: Evidently's pages need their scripts). ``Server-Timing`` says how long the page took to make (the
    benchmark's server time)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        own = not str(scope.get("path", "")).startswith("/reports/")
        began = time.perf_counter()

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                took = f"app;dur={(time.perf_counter() - began) * 1000:.1f}".encode()
                headers += [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                            (b"x-frame-options", b"DENY"), (b"cache-control", b"no-store"),
                            (b"server-timing", took)]  # fmt: skip
                if own:
                    headers.append((b"content-security-policy", CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
